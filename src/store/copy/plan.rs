//! The copy's plan: which tables, which columns, in which order, from
//! both schemas.

use std::collections::BTreeMap;

use super::super::engine::{Conn, Queries, params};
use super::super::{Result, StoreError};

/// The PostgreSQL table SQLite's `consolidated_fts` goes into: a published
/// Consolidated Reply's searchable text, keyed by the reply.
pub(super) const REPLY_SEARCH: &str = "consolidated_search";

/// How a column's values are carried: the PostgreSQL type's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// BIGINT, INTEGER, SMALLINT.
    Int,
    /// DOUBLE PRECISION, REAL.
    Real,
    /// TEXT, VARCHAR, CITEXT.
    Text,
    /// BYTEA (SQLite's BLOB).
    Bytes,
}

/// One column as the copy carries it.
#[derive(Debug, Clone)]
pub(super) struct Column {
    /// Its name on PostgreSQL.
    pub(super) name: String,
    /// How its values are carried.
    pub(super) kind: Kind,
    /// Its type as PostgreSQL writes it (`bigint`, `citext`), for casts.
    pub(super) sql_type: String,
    /// Whether PostgreSQL numbers it from an identity sequence.
    pub(super) identity: bool,
}

/// One table's plan.
#[derive(Debug, Clone)]
pub(super) struct Table {
    /// Its name on PostgreSQL.
    pub(super) name: String,
    /// Where SQLite keeps its rows (quoted): the same table, or
    /// `consolidated_fts` for `consolidated_search`.
    pub(super) from: String,
    /// What SQLite reads for each column (quoted names, or `rowid`).
    pub(super) exprs: Vec<String>,
    /// Its columns, in the order `exprs` reads them.
    pub(super) columns: Vec<Column>,
    /// The primary key's columns (indexes into `columns`).
    pub(super) key: Vec<usize>,
    /// Columns written NULL at first and set in the second pass, once
    /// every row they may point at is there (indexes into `columns`).
    pub(super) deferred: Vec<usize>,
}

impl Table {
    /// SQLite's statement reading these columns in primary-key order.
    pub(super) fn source(&self, which: &[usize]) -> String {
        let order: Vec<&str> = self.key.iter().map(|&i| self.exprs[i].as_str()).collect();
        let exprs: Vec<&str> = which.iter().map(|&i| self.exprs[i].as_str()).collect();
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            exprs.join(", "),
            self.from,
            order.join(", ")
        )
    }

    /// PostgreSQL's ORDER BY for the primary key, in SQLite's order: text
    /// compared byte by byte (SQLite's BINARY is PostgreSQL's "C"), and
    /// CITEXT as the text it holds.
    pub(super) fn target_order(&self) -> String {
        self.key
            .iter()
            .map(|&i| {
                let c = &self.columns[i];
                if c.kind == Kind::Text {
                    format!("{}::text COLLATE \"C\"", quote(&c.name))
                } else {
                    quote(&c.name)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every column's index.
    pub(super) fn all(&self) -> Vec<usize> {
        (0..self.columns.len()).collect()
    }

    /// The column names, quoted, comma-separated.
    pub(super) fn names(&self, which: impl Iterator<Item = usize>) -> String {
        which
            .map(|i| quote(&self.columns[i].name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Identifiers are quoted: several columns are SQL words (`by`, `at`,
/// `position`, `cursor`).
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQLite's high mark of member ids (migration 0009); PostgreSQL numbers
/// members from the identity sequence instead (its 0026), which the copy
/// sets past this mark.
pub(super) const MEMBER_ID_HIGH: &str = "member_id_high";

/// Whether a SQLite table is the engine's own, or its search index, which
/// PostgreSQL keeps its own way (`posts.search`, `consolidated_search`),
/// or the migrations' record (the target keeps its own), or the member
/// ids' high mark (the target's sequence keeps it).
pub(super) fn not_copied(table: &str) -> bool {
    table.starts_with("sqlite_")
        || table.contains("_fts")
        || table == "schema_migrations"
        || table == MEMBER_ID_HIGH
}

/// The kind of a PostgreSQL column's type, by its name in `pg_type`.
pub(super) fn kind_of(type_name: &str) -> Option<Kind> {
    Some(match type_name {
        "int8" | "int4" | "int2" => Kind::Int,
        "float8" | "float4" => Kind::Real,
        "text" | "varchar" | "bpchar" | "citext" => Kind::Text,
        "bytea" => Kind::Bytes,
        _ => return None,
    })
}

/// One column of PostgreSQL's schema.
pub(super) struct PgColumn {
    /// Its table.
    table: String,
    /// Its name, type and whether an identity sequence numbers it.
    column: Column,
    /// Its type's name in `pg_type`, for the message when it is unknown.
    type_name: String,
    /// Whether PostgreSQL computes it (a search document).
    generated: bool,
    /// Its place in the primary key (from 1), or 0.
    key: i64,
}

/// Every table to copy, from both schemas, in an order where each row's
/// references are there before it (except the deferred ones); an error
/// listing every difference between the schemas.
pub(super) fn plan(lite: &Conn, pg: &Conn) -> Result<Vec<Table>> {
    let pg_columns = pg.query_map(
        "SELECT c.relname::text, a.attname::text, t.typname::text,
                format_type(a.atttypid, a.atttypmod), a.attgenerated <> '',
                a.attidentity <> '', COALESCE(k.pos, 0)::bigint
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN LATERAL (
             -- int2vector counts from 0: the key's first column is 1 here.
             SELECT array_position(i.indkey::int2[], a.attnum)
                    - array_lower(i.indkey::int2[], 1) + 1 AS pos
             FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) k ON true
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
           AND c.relname <> 'schema_migrations'
         ORDER BY c.relname, a.attnum",
        params![],
        |r| {
            let type_name: String = r.get(2)?;
            Ok(PgColumn {
                table: r.get(0)?,
                column: Column {
                    name: r.get(1)?,
                    kind: kind_of(&type_name).unwrap_or(Kind::Text),
                    sql_type: r.get(3)?,
                    identity: r.get(5)?,
                },
                type_name,
                generated: r.get(4)?,
                key: r.get(6)?,
            })
        },
    )?;
    let mut pg_tables: BTreeMap<String, Vec<PgColumn>> = BTreeMap::new();
    for c in pg_columns {
        pg_tables.entry(c.table.clone()).or_default().push(c);
    }
    let mut lite_tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column) in lite.query_map(
        "SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c
         WHERE m.type = 'table' ORDER BY m.name, c.cid",
        params![],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )? {
        lite_tables.entry(table).or_default().push(column);
    }

    let mut problems = Vec::new();
    let mut tables = Vec::new();
    for (name, columns) in pg_tables {
        // SQLite keeps a published reply's search text in its FTS5 table,
        // keyed by rowid; PostgreSQL in consolidated_search, by reply_id.
        let (from, have) = if name == REPLY_SEARCH {
            let Some(fts) = lite_tables.get("consolidated_fts") else {
                problems.push(format!(
                    "the SQLite database has no consolidated_fts for {REPLY_SEARCH}"
                ));
                continue;
            };
            let mut have = vec!["reply_id".to_string()];
            have.extend(fts.iter().cloned());
            ("consolidated_fts".to_string(), have)
        } else {
            match lite_tables.remove(&name) {
                Some(have) => (name.clone(), have),
                None => {
                    problems.push(format!(
                        "table {name} is in PostgreSQL's schema but not in the SQLite database"
                    ));
                    continue;
                }
            }
        };
        let wanted: Vec<PgColumn> = columns.into_iter().filter(|c| !c.generated).collect();
        for h in &have {
            if !wanted.iter().any(|w| &w.column.name == h) {
                problems.push(format!(
                    "column {name}.{h} is in the SQLite database but not in PostgreSQL's schema"
                ));
            }
        }
        for w in &wanted {
            if !have.contains(&w.column.name) {
                problems.push(format!(
                    "column {name}.{} is in PostgreSQL's schema but not in the SQLite database",
                    w.column.name
                ));
            }
            if kind_of(&w.type_name).is_none() {
                problems.push(format!(
                    "column {name}.{} has the PostgreSQL type {}, which db copy does not carry",
                    w.column.name, w.type_name
                ));
            }
        }
        let mut key: Vec<(i64, usize)> = wanted
            .iter()
            .enumerate()
            .filter(|(_, c)| c.key > 0)
            .map(|(i, c)| (c.key, i))
            .collect();
        key.sort();
        if key.is_empty() {
            problems.push(format!("table {name} has no primary key on PostgreSQL"));
        }
        let exprs = wanted
            .iter()
            .map(|c| {
                if name == REPLY_SEARCH && c.column.name == "reply_id" {
                    "rowid".to_string()
                } else {
                    quote(&c.column.name)
                }
            })
            .collect();
        tables.push(Table {
            from: quote(&from),
            name,
            exprs,
            columns: wanted.into_iter().map(|c| c.column).collect(),
            key: key.into_iter().map(|(_, i)| i).collect(),
            deferred: Vec::new(),
        });
    }
    for name in lite_tables.keys().filter(|t| !not_copied(t)) {
        problems.push(format!(
            "table {name} is in the SQLite database but not in PostgreSQL's schema"
        ));
    }
    if !problems.is_empty() {
        return Err(StoreError::Conflict(format!(
            "the two schemas differ, so the copy would lose data: {}",
            problems.join("; ")
        )));
    }
    let mut keys = foreign_keys(pg)?;
    for fk in keys.iter_mut().filter(|k| k.nullable) {
        fk.set = lite.query_one(
            &format!(
                "SELECT count({}) FROM {}",
                quote(&fk.column),
                quote(&fk.table)
            ),
            params![],
            |r| r.get(0),
        )?;
    }
    order(tables, &keys)
}

/// A foreign key of PostgreSQL's schema: `table.column` refers to `refers`.
pub(super) struct ForeignKey {
    /// The referring table.
    table: String,
    /// Its column.
    column: String,
    /// The table referred to.
    refers: String,
    /// Whether the column may be NULL (so it can wait for a second pass).
    nullable: bool,
    /// How many of the source's rows set it (what a second pass updates).
    set: i64,
}

/// Every foreign key of the target's schema.
pub(super) fn foreign_keys(pg: &Conn) -> Result<Vec<ForeignKey>> {
    pg.query_map(
        "SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text,
                NOT a.attnotnull
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
         ORDER BY 1, 2",
        params![],
        |r| {
            Ok(ForeignKey {
                table: r.get(0)?,
                column: r.get(1)?,
                refers: r.get(2)?,
                nullable: r.get(3)?,
                set: 0,
            })
        },
    )
}

/// The tables in an order where every table comes after those it refers
/// to. A reference to its own table (`posts.parent_id`) waits for the
/// second pass; so does, in a cycle (`members.probe_delivery_id` and
/// `deliveries.member_id`), the nullable reference the source sets on the
/// fewest rows, so the second pass updates as few rows as it can.
pub(super) fn order(tables: Vec<Table>, keys: &[ForeignKey]) -> Result<Vec<Table>> {
    let mut left: BTreeMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let defer = |left: &mut BTreeMap<String, Table>, fk: &ForeignKey| {
        if let Some(t) = left.get_mut(&fk.table)
            && let Some(i) = t.columns.iter().position(|c| c.name == fk.column)
            && !t.deferred.contains(&i)
        {
            t.deferred.push(i);
        }
    };
    let mut edges: Vec<&ForeignKey> = Vec::new();
    for fk in keys {
        if fk.table == fk.refers {
            defer(&mut left, fk);
        } else {
            edges.push(fk);
        }
    }
    let mut done = Vec::new();
    while !left.is_empty() {
        let waits = |t: &str, left: &BTreeMap<String, Table>, edges: &[&ForeignKey]| {
            edges
                .iter()
                .any(|e| e.table == t && left.contains_key(&e.refers))
        };
        let ready: Vec<String> = left
            .keys()
            .filter(|t| !waits(t, &left, &edges))
            .cloned()
            .collect();
        if !ready.is_empty() {
            for t in ready {
                done.extend(left.remove(&t));
            }
            continue;
        }
        let breakable = edges
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.nullable && left.contains_key(&e.table) && left.contains_key(&e.refers)
            })
            .min_by_key(|(_, e)| (e.set, e.table.clone(), e.column.clone()));
        let Some((i, _)) = breakable else {
            return Err(StoreError::Conflict(format!(
                "the tables {} refer to each other through columns that cannot be NULL, so no order copies them",
                left.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        };
        let fk = edges.remove(i);
        defer(&mut left, fk);
    }
    for t in &mut done {
        t.deferred.sort();
    }
    Ok(done)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A table of `id` and the given reference columns.
    pub(in crate::store::copy) fn table(name: &str, refs: &[&str]) -> Table {
        let column = |name: &str| Column {
            name: name.to_string(),
            kind: Kind::Int,
            sql_type: "bigint".into(),
            identity: name == "id",
        };
        let mut columns = vec![column("id")];
        columns.extend(refs.iter().map(|r| column(r)));
        Table {
            name: name.to_string(),
            from: quote(name),
            exprs: columns.iter().map(|c| quote(&c.name)).collect(),
            columns,
            key: vec![0],
            deferred: Vec::new(),
        }
    }

    fn fk(table: &str, column: &str, refers: &str, nullable: bool, set: i64) -> ForeignKey {
        ForeignKey {
            table: table.into(),
            column: column.into(),
            refers: refers.into(),
            nullable,
            set,
        }
    }

    /// Referred tables come first; a self-reference and, in a cycle, the
    /// nullable reference the source sets least wait for the second pass.
    #[test]
    fn references_order_the_tables_and_cycles_wait_for_the_second_pass() {
        let tables = vec![
            table("deliveries", &["member_id"]),
            table("members", &["community_id", "probe_delivery_id"]),
            table("posts", &["community_id", "parent_id"]),
            table("communities", &[]),
        ];
        let keys = [
            fk("deliveries", "member_id", "members", true, 5000),
            fk("members", "community_id", "communities", false, 0),
            fk("members", "probe_delivery_id", "deliveries", true, 2),
            fk("posts", "community_id", "communities", false, 0),
            fk("posts", "parent_id", "posts", true, 900),
        ];
        let order = order(tables, &keys).unwrap();
        let names: Vec<&str> = order.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["communities", "posts", "members", "deliveries"]);
        let deferred = |name: &str| -> Vec<&str> {
            let t = order.iter().find(|t| t.name == name).unwrap();
            t.deferred
                .iter()
                .map(|&i| t.columns[i].name.as_str())
                .collect()
        };
        assert_eq!(deferred("members"), ["probe_delivery_id"]);
        assert_eq!(deferred("posts"), ["parent_id"]);
        assert!(deferred("deliveries").is_empty());

        // A cycle through columns that cannot be NULL has no order.
        let e = order_err(
            vec![table("a", &["b_id"]), table("b", &["a_id"])],
            &[
                fk("a", "b_id", "b", false, 1),
                fk("b", "a_id", "a", false, 1),
            ],
        );
        assert!(e.contains("the tables a, b refer to each other"), "{e}");
    }

    fn order_err(tables: Vec<Table>, keys: &[ForeignKey]) -> String {
        match order(tables, keys) {
            Ok(_) => panic!("ordered"),
            Err(e) => e.to_string(),
        }
    }
}
