-- A member id is never given twice. An audience (0006) ends at the highest
-- member id when its message was queued, and SQLite gives a new row the
-- highest rowid plus one, so once the newest member was removed, a newcomer
-- took their id and received mail queued before they joined. The highest id
-- ever used is kept here, and a new member is numbered above it.
CREATE TABLE member_id_high (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    high INTEGER NOT NULL
);
INSERT INTO member_id_high (id, high) SELECT 1, COALESCE(MAX(id), 0) FROM members;
CREATE TRIGGER members_id_high AFTER INSERT ON members BEGIN
    UPDATE member_id_high SET high = MAX(high, NEW.id) WHERE id = 1;
END;
