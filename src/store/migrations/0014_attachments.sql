-- Kept attachments (issue 15): every distinct file once, by the SHA-256 of
-- its decoded bytes, so digest and Consolidated-Reply-only readers can
-- fetch what a post carried; and which post carried which file under
-- which name. A file over `keep_attachments_kb` is listed (kept = 0) but
-- its bytes are not stored.
CREATE TABLE attachments (
    sha256        TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    bytes         BLOB NOT NULL,
    first_seen    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE post_attachments (
    post_id   INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    name      TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    size      INTEGER NOT NULL,
    kept      INTEGER NOT NULL,
    PRIMARY KEY (post_id, position)
) WITHOUT ROWID;

CREATE INDEX post_attachments_by_sha256 ON post_attachments (sha256);
