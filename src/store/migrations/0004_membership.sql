-- 0004: confirmations of subscribe and unsubscribe by mail.
-- Never edit a landed migration; add a new file.

-- One row per token sent. Only the token's SHA-256 is kept (a database leak
-- gives no usable token); used_at makes each token single-use.
CREATE TABLE confirmations (
    digest        BLOB PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    email         TEXT NOT NULL COLLATE NOCASE,
    action        TEXT NOT NULL CHECK (action IN ('subscribe', 'unsubscribe')),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX confirmations_email ON confirmations (community_id, email);
