//! The statements that write the copy: the batch upsert that leaves an
//! equal row alone, and the second pass's update of forward references.

use super::plan::{Column, Table, quote};

/// A column compared for "has it changed": CITEXT compares without case,
/// so it is compared as the text it holds.
pub(super) fn compared(expr: &str, c: &Column) -> String {
    if c.sql_type == "citext" {
        format!("{expr}::text")
    } else {
        expr.to_string()
    }
}

/// The statement upserting `rows` rows into `t`: a row already there
/// with other values is updated, one equal to the source's is left alone
/// (so a re-run writes nothing); deferred columns are left to the second
/// pass.
pub(super) fn insert_sql(t: &Table, rows: usize) -> String {
    let n = t.columns.len();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let row: Vec<String> = (0..n).map(|c| format!("?{}", r * n + c + 1)).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    let updated: Vec<&Column> = (0..n)
        .filter(|i| !t.key.contains(i) && !t.deferred.contains(i))
        .map(|i| &t.columns[i])
        .collect();
    let conflict = if updated.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let set: Vec<String> = updated
            .iter()
            .map(|c| format!("{0} = EXCLUDED.{0}", quote(&c.name)))
            .collect();
        let old: Vec<String> = updated
            .iter()
            .map(|c| compared(&format!("x.{}", quote(&c.name)), c))
            .collect();
        let new: Vec<String> = updated
            .iter()
            .map(|c| compared(&format!("EXCLUDED.{}", quote(&c.name)), c))
            .collect();
        format!(
            "DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
            set.join(", "),
            old.join(", "),
            new.join(", ")
        )
    };
    format!(
        "INSERT INTO {} AS x ({}) VALUES {} ON CONFLICT ({}) {conflict}",
        quote(&t.name),
        t.names(t.all().into_iter()),
        values.join(", "),
        t.names(t.key.iter().copied()),
    )
}

/// The statement setting `t`'s deferred columns on `rows` rows, by key,
/// where they differ.
pub(super) fn link_sql(t: &Table, rows: usize) -> String {
    let cols: Vec<&Column> = t
        .key
        .iter()
        .chain(t.deferred.iter())
        .map(|&i| &t.columns[i])
        .collect();
    let n = cols.len();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let row: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(c, col)| format!("?{}::{}", r * n + c + 1, col.sql_type))
                .collect();
            format!("({})", row.join(", "))
        })
        .collect();
    let names: Vec<String> = cols.iter().map(|c| quote(&c.name)).collect();
    let keys: Vec<String> = t
        .key
        .iter()
        .map(|&i| format!("x.{0} = v.{0}", quote(&t.columns[i].name)))
        .collect();
    let deferred: Vec<String> = t
        .deferred
        .iter()
        .map(|&i| quote(&t.columns[i].name))
        .collect();
    format!(
        "UPDATE {} AS x SET {} FROM (VALUES {}) AS v ({}) WHERE {} AND ({}) IS DISTINCT FROM ({})",
        quote(&t.name),
        deferred
            .iter()
            .map(|c| format!("{c} = v.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        values.join(", "),
        names.join(", "),
        keys.join(" AND "),
        deferred
            .iter()
            .map(|c| format!("x.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        deferred
            .iter()
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::copy::plan::Kind;
    use crate::store::copy::plan::tests::table;

    /// The upsert leaves an equal row alone and compares CITEXT as text;
    /// a deferred column is neither compared nor updated.
    #[test]
    fn the_upsert_skips_equal_rows_and_the_deferred_columns() {
        let mut t = table("members", &["probe_delivery_id"]);
        t.columns.push(Column {
            name: "email".into(),
            kind: Kind::Text,
            sql_type: "citext".into(),
            identity: false,
        });
        t.exprs.push(quote("email"));
        t.deferred = vec![1];
        assert_eq!(
            insert_sql(&t, 2),
            "INSERT INTO \"members\" AS x (\"id\", \"probe_delivery_id\", \"email\") \
             VALUES (?1, ?2, ?3), (?4, ?5, ?6) ON CONFLICT (\"id\") \
             DO UPDATE SET \"email\" = EXCLUDED.\"email\" \
             WHERE (x.\"email\"::text) IS DISTINCT FROM (EXCLUDED.\"email\"::text)"
        );
        assert_eq!(
            link_sql(&t, 1),
            "UPDATE \"members\" AS x SET \"probe_delivery_id\" = v.\"probe_delivery_id\" \
             FROM (VALUES (?1::bigint, ?2::bigint)) AS v (\"id\", \"probe_delivery_id\") \
             WHERE x.\"id\" = v.\"id\" AND (x.\"probe_delivery_id\") IS DISTINCT FROM (v.\"probe_delivery_id\")"
        );
    }
}
