-- 0005: query reminders sent to moderators, one row per query and threshold,
-- so each threshold's reminder is queued exactly once (the row and the
-- outbox message are written in one transaction).
CREATE TABLE query_reminders (
    thread_id     INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    threshold     TEXT NOT NULL CHECK (threshold IN ('due_soon', 'overdue')),
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (thread_id, threshold)
);
