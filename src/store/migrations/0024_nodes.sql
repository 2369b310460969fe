-- 0024: the nodes of an install, what each holds, and which node is
-- sending a delivery. Several `praxis serve` processes share a PostgreSQL
-- database; on SQLite there is one (the sender's file lock sees to it), and
-- the same tables say so, so both engines keep one schema and `praxis
-- status` reads the same rows. Never edit a landed migration; add a file.

-- One row per running `praxis serve`, refreshed by its heartbeat.
CREATE TABLE nodes (
    name        TEXT PRIMARY KEY,    -- host:pid, as `status` shows it
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL     -- its last heartbeat
);

-- Work one node does at a time (a community's IMAP watch: `imap:<slug>`),
-- held until `expires_at` unless renewed; another node takes it after.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    node        TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- The node sending a delivery, until when: another node takes it only
-- after that (its sender died), so no copy goes out from two nodes at once.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_until INTEGER;
