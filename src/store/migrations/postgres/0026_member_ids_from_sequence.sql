-- 0026: a member's id comes from the identity sequence, which never gives a
-- value twice, so member_id_high (kept since the baseline to match SQLite's
-- 0009) goes. Every insert rewrote its one row through a trigger, and within
-- one transaction each read of that row walked all its earlier versions:
-- adding 20,000 members at once took about two minutes.
--
-- The sequence starts above every id ever given, the removed members'
-- included, so an audience queued before a newcomer joined never reaches
-- them. Never edit a landed migration; add a file.
SELECT setval(pg_get_serial_sequence('members', 'id'),
              GREATEST((SELECT COALESCE(MAX(id), 0) FROM members),
                       (SELECT COALESCE(MAX(high), 0) FROM member_id_high)) + 1,
              false);
DROP TRIGGER members_id_high ON members;
DROP FUNCTION members_id_high();
DROP TABLE member_id_high;
