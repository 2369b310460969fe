-- 0025: words split at punctuation in PostgreSQL's search column, as FTS5's
-- unicode61 tokenizer splits them here. Nothing changes on SQLite: the
-- number is kept in step with PostgreSQL's 0025. Never edit a landed
-- migration; add a file.
SELECT 1;
