-- Live approved posts by community, for the digest scheduler: it looks for
-- posts not yet in an issue every minute, and without this index it read
-- every approved post of the community, imported archives included (2.5 s
-- a sweep at 1,000,000 posts; 5 ms with it).
CREATE INDEX posts_live_approved ON posts (community_id, approved_at)
    WHERE state = 'approved' AND class = 'post' AND source <> 'import';
