-- Single-use web links (issue 16): a sign-in link is signed and expiring by
-- itself; this table records the ones already used, by digest, so following
-- the same link twice signs nobody in. Rows past their expiry can go.
CREATE TABLE web_tokens (
    digest      BLOB PRIMARY KEY,
    used_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
