-- The audit log (table `decisions`, read by `praxis audit`) records every
-- moderator act, not only decisions on posts: consolidate, publish, cancel,
-- mark, digest sends, member changes. Each row now says how the act was done
-- and what it touched.
ALTER TABLE decisions ADD COLUMN how TEXT NOT NULL DEFAULT 'cli'
    CHECK (how IN ('cli', 'email', 'web', 'system'));
-- what the act touched: post, thread, query, member, reply, digest (with its id)
ALTER TABLE decisions ADD COLUMN object_kind TEXT;
ALTER TABLE decisions ADD COLUMN object_id INTEGER;
UPDATE decisions SET how = 'system' WHERE actor IN ('praxis', 'system');
UPDATE decisions SET how = 'email' WHERE actor = 'email';
UPDATE decisions SET object_kind = 'post', object_id = post_id WHERE post_id IS NOT NULL;
-- `praxis audit --since` across communities
CREATE INDEX decisions_at ON decisions (at);
