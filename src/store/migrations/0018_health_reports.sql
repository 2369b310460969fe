-- 0018: the monthly health report mailed to a community's owners, one row
-- per community and month, written in the same transaction as the outbox
-- message, so each month is reported exactly once.
CREATE TABLE health_reports (
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    month         TEXT NOT NULL,          -- YYYY-MM, in the community's time zone
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (community_id, month)
);
