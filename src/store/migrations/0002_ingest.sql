-- 0002: threading by every id a message carries, and flags for moderators.
-- Never edit a landed migration; add a new file.

-- Every Message-ID a thread is known by: its posts' own ids and every id they
-- reference, received or not, so replies to a missing parent still meet.
CREATE TABLE thread_refs (
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    message_id    TEXT NOT NULL,
    thread_id     INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    PRIMARY KEY (community_id, message_id)
) WITHOUT ROWID;
CREATE INDEX thread_refs_thread ON thread_refs (thread_id);

-- Something a moderator should look at, e.g. a digest reply whose thread
-- could not be told from its quoted text.
ALTER TABLE posts ADD COLUMN flag TEXT;
