-- 0021: "related" suggestions (`praxis related`, `praxis show`) read the
-- thread of each of a hundred or so full-text hits. Read from posts, each
-- such row is walked past its raw message's overflow pages (50 us a hit on
-- linux-man); this index holds what the suggestions need, so a hit costs one
-- index seek. Only approved posts are suggested.
CREATE INDEX posts_related ON posts (id, community_id, thread_id) WHERE state = 'approved';
