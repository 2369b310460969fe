-- Every membership change by mail is confirmed (issue 15): besides subscribe
-- and unsubscribe, a confirmation may be for a 'change' (delivery, digest
-- format, name, organisation, place). What it changes, or the profile given
-- with subscribe, is kept in `commands`: one command line each, in the
-- grammar of moderation/commands.rs, applied when the token is answered.
-- SQLite cannot alter a CHECK, so the table is rebuilt (it has no dependants).
CREATE TABLE confirmations_new (
    digest        BLOB PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    email         TEXT NOT NULL COLLATE NOCASE,
    action        TEXT NOT NULL CHECK (action IN ('subscribe', 'unsubscribe', 'change')),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    commands      TEXT NOT NULL DEFAULT ''
);
INSERT INTO confirmations_new (digest, community_id, email, action, created_at, expires_at, used_at)
    SELECT digest, community_id, email, action, created_at, expires_at, used_at FROM confirmations;
DROP TABLE confirmations;
ALTER TABLE confirmations_new RENAME TO confirmations;
CREATE INDEX confirmations_email ON confirmations (community_id, email);
