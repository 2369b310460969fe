-- 0016: search filters without words (`from:asha`, `after:2026-11-01`) list a
-- community's approved posts newest first by their date; this index walks
-- them in that order (and serves after:/before: as a range) instead of
-- scanning and sorting every post.
CREATE INDEX posts_approved_date ON posts (community_id, date) WHERE state = 'approved';
