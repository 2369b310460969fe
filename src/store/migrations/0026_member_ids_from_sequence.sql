-- 0026: on PostgreSQL a member's id comes from the identity sequence, which
-- never gives a value twice, instead of from member_id_high (0009), whose
-- one row every insert rewrote. Nothing changes on SQLite, where rowids can
-- be reused and member_id_high stays: the number is kept in step with
-- PostgreSQL's 0026. Never edit a landed migration; add a file.
SELECT 1;
