-- 0024 (PostgreSQL): the nodes of an install, what each holds, and which
-- node is sending a delivery; SQLite's 0024 in PostgreSQL's types. Never
-- edit a landed migration; add a file.

CREATE TABLE nodes (
    name        TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    node        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_until BIGINT;
