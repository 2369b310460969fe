-- 0019: "related" suggestions (`praxis related`, `praxis show`) weigh a
-- post's words by how rare they are in the archive: this read-only view of
-- posts_fts's index gives, per term (as the tokenizer folded it), the number
-- of posts that hold it (`doc`). It stores nothing of its own.
CREATE VIRTUAL TABLE posts_fts_vocab USING fts5vocab (posts_fts, 'row');
