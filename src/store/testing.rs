//! Helpers for the store's unit tests: each test run on both engines, and
//! fixtures written once in SQL for both.

use super::engine::Queries;
use super::{Dialect, Store};

impl Store {
    /// Runs `test` on a fresh store of each engine: SQLite in memory, then
    /// PostgreSQL in a scratch database when PRAXIS_TEST_POSTGRES names a
    /// server (see `scripts/postgres`).
    pub(crate) fn each_engine(test: impl Fn(Store)) {
        test(Store::open_in_memory().unwrap());
        if let Some(db) = super::engine::postgres::Scratch::create() {
            test(Store::connect(&db.url, None).unwrap());
        }
    }

    /// Runs a test fixture's statements; blob literals are written
    /// SQLite's way (`x'01'`) and rewritten for PostgreSQL (`'\\x01'`).
    /// Rows inserted with explicit ids move PostgreSQL's id sequences on,
    /// so later inserts do not collide with them.
    pub(crate) fn fixture(&self, sql: &str) {
        match self.dialect() {
            Dialect::Sqlite => self.conn.execute_batch(sql).unwrap(),
            Dialect::Postgres => {
                let re = regex::Regex::new(r"([\s(,])x'").unwrap();
                self.conn
                    .execute_batch(&re.replace_all(sql, "$1'\\x"))
                    .unwrap();
                self.conn
                    .execute_batch(
                        "DO $$ DECLARE t record; BEGIN
                           FOR t IN SELECT c.table_name FROM information_schema.columns c
                                    WHERE c.table_schema = current_schema()
                                      AND c.column_name = 'id' AND c.is_identity = 'YES' LOOP
                             EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''),
                                               COALESCE((SELECT max(id) FROM %I), 0) + 1, false)',
                                            t.table_name, t.table_name);
                           END LOOP; END $$",
                    )
                    .unwrap();
            }
        }
    }
}
