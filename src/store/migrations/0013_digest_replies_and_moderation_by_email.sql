-- 0013: which Message-IDs are praxis's own digests (a reply to one follows
-- the digest-reply rule), and single-use tokens for deciding a held post by
-- replying to its notice (how each act was done is 0015's).
-- Never edit a landed migration; add a new file.

-- One row per rendered digest message (one per format), by its Message-ID
-- as posts store ids (no angle brackets): a reply whose References name one
-- is a reply to that issue, recognised by id, not by the id's shape.
CREATE TABLE digest_messages (
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    message_id    TEXT NOT NULL,
    digest_id     INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
    PRIMARY KEY (community_id, message_id)
) WITHOUT ROWID;

-- One row per moderator per held post told of by mail. Only the token's
-- SHA-256 is kept (a database leak gives no usable token); used_at makes
-- each token single-use.
CREATE TABLE moderation_tokens (
    digest        BLOB PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    post_id       INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    email         TEXT NOT NULL COLLATE NOCASE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX moderation_tokens_post ON moderation_tokens (post_id);
