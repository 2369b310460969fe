-- 0006: a message to a community's members records its audience instead of
-- one delivery row per member at queue time, so queueing a post costs the
-- same at 1,000 members as at 100,000. The sender expands the audience into
-- delivery rows a batch at a time, in member id order: the rows and the
-- advanced cursor are written in one transaction, so a crash loses or
-- doubles no recipient (and UNIQUE (outbox_id, recipient) guards anyway).
CREATE TABLE outbox_audiences (
    outbox_id     INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    modes         TEXT NOT NULL,    -- JSON array of delivery modes ("each", "digest", ...)
    author        TEXT,             -- normalised author address, left out if they opted out of own posts
    digest_format TEXT,             -- only members reading their digest in this format
    cutoff        INTEGER NOT NULL, -- the highest member id at queue time: later members are not in it
    cursor        INTEGER NOT NULL DEFAULT 0 -- members with id <= cursor have their delivery rows
);
-- Audiences still being expanded, for the sender.
CREATE INDEX outbox_audiences_open ON outbox_audiences (outbox_id) WHERE cursor < cutoff;
-- Walking one community's members in id order, a batch at a time.
CREATE INDEX members_community ON members (community_id);
