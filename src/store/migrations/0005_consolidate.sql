-- 0005: query reminders sent to moderators, one row per query and threshold,
-- so each threshold's reminder is queued exactly once (the row and the
-- outbox message are written in one transaction).
CREATE TABLE query_reminders (
    thread_id     INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    threshold     TEXT NOT NULL CHECK (threshold IN ('due_soon', 'overdue')),
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (thread_id, threshold)
);

-- Responses a moderator received outside the list (by phone, in person, by
-- direct mail) and added with `praxis consolidate QUERY --add-response FILE
-- --from-member EMAIL`; credited like list responses, marked as offline.
CREATE TABLE offline_responses (
    id            INTEGER PRIMARY KEY,
    thread_id     INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    member_id     INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    text          TEXT NOT NULL,
    added_by      TEXT NOT NULL,
    added_at      INTEGER NOT NULL
);
CREATE INDEX offline_responses_thread ON offline_responses (thread_id);
