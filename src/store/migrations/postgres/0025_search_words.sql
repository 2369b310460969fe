-- 0025 (PostgreSQL): words split at ASCII punctuation before the text-search
-- parser reads them, as SQLite's FTS5 (unicode61) splits them. PostgreSQL's
-- parser keeps file names, paths, URLs, addresses and hyphenated words whole
-- ("madvise.2", "man2/madvise", "MADV_DONTNEED"), so a search for a word in
-- them found it on SQLite and not here. Never edit a landed migration; add
-- a file.

-- Every ASCII punctuation mark becomes a space (32 marks, 32 spaces).
CREATE FUNCTION praxis_words(t TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(t, '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', '                                ');

ALTER TABLE posts DROP COLUMN search;
ALTER TABLE posts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('praxis', praxis_words(subject)), 'A')
    || setweight(to_tsvector('praxis', praxis_words(text)), 'B')) STORED;
CREATE INDEX posts_search ON posts USING GIN (search);

ALTER TABLE consolidated_search DROP COLUMN search;
ALTER TABLE consolidated_search ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('praxis', praxis_words(subject)), 'A')
    || setweight(to_tsvector('praxis', praxis_words(body)), 'B')) STORED;
CREATE INDEX consolidated_search_search ON consolidated_search USING GIN (search);
