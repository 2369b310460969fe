-- 0022: one query, several communities (issue 18). A query cross-posted
-- to another community is copied there as that community's own approved
-- post and query thread (same Message-ID, so replies thread to it there);
-- its responses join the one query, whose Consolidated Reply is published
-- to every community involved, each copy pointing at the reply it shares.
CREATE TABLE crossposts (
    id            INTEGER PRIMARY KEY,
    query_id      INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE, -- the query, in its home community
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    thread_id     INTEGER NOT NULL UNIQUE REFERENCES threads(id) ON DELETE CASCADE, -- its copy there
    post_id       INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,   -- the question there
    by            TEXT NOT NULL,            -- the moderator, as the audit log names them
    at            INTEGER NOT NULL,
    UNIQUE (query_id, community_id)
);

-- Members who already have this message through another community: active
-- members of each listed community whose delivery mode is listed, as a JSON
-- array of {"community": id, "modes": [...]}; a member of several
-- communities gets each message once.
ALTER TABLE outbox_audiences ADD COLUMN exclude TEXT NOT NULL DEFAULT '[]';

-- A Consolidated Reply published in a community the query was cross-posted
-- to: the reply it is a copy of (shown there as shared).
ALTER TABLE consolidated_replies ADD COLUMN shared_from INTEGER REFERENCES consolidated_replies(id);
