-- Words in Indic scripts (and other scripts with combining marks) are whole
-- tokens: the default unicode61 categories leave out Mn and Mc, so vowel
-- signs, viramas and nuktas split "फ़िल्म" into fragments that match words in
-- no message. Both FTS tables are recreated with the marks kept inside
-- tokens and filled again from what they index.

DROP TRIGGER posts_fts_insert;
DROP TRIGGER posts_fts_delete;
DROP TRIGGER posts_fts_update;
DROP TABLE posts_fts;

CREATE VIRTUAL TABLE posts_fts USING fts5 (
    subject, text, content = 'posts', content_rowid = 'id',
    tokenize = "unicode61 remove_diacritics 2 categories 'L* N* Co Mn Mc'"
);
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF subject, text ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
    INSERT INTO posts_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
END;
INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');

-- consolidated_fts keeps its own copy of the text (rowid = consolidated_replies.id)
CREATE TEMP TABLE consolidated_fts_rows AS SELECT rowid AS id, subject, body FROM consolidated_fts;
DROP TABLE consolidated_fts;
CREATE VIRTUAL TABLE consolidated_fts USING fts5 (
    subject, body,
    tokenize = "unicode61 remove_diacritics 2 categories 'L* N* Co Mn Mc'"
);
INSERT INTO consolidated_fts (rowid, subject, body) SELECT id, subject, body FROM consolidated_fts_rows;
DROP TABLE consolidated_fts_rows;
