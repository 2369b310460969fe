-- Posts a moderator split off into a thread of their own (`praxis mark
-- --post`): a message whose References pass through one of these ignores
-- the ids before it, so the next reply does not merge the threads again.
CREATE TABLE thread_splits (
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    message_id    TEXT NOT NULL,
    PRIMARY KEY (community_id, message_id)
) WITHOUT ROWID;
