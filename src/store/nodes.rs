//! The nodes of an install and the leases they hold: each `praxis serve`
//! registers itself and beats a heartbeat; work one node does at a time (a
//! community's IMAP watch) is held by a lease that lapses unless renewed,
//! so another node takes it over within a bounded time when the holder
//! dies. On SQLite there is one node; the same rows serve `praxis status`.

use std::sync::OnceLock;

use super::engine::{Queries, params};
use super::{Result, Store};

/// This process's name among the nodes: `host:pid`.
pub fn this_node() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| format!("{}:{}", host_name(), std::process::id()))
}

/// The machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf, which
    // this function owns; the name is read up to its NUL below.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match (rc, std::str::from_utf8(&buf[..end])) {
        (0, Ok(name)) if !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// A node the others took as dead, and what it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadNode {
    /// `host:pid`.
    pub name: String,
    /// Its last heartbeat, Unix seconds.
    pub seen_at: i64,
    /// Deliveries it had claimed, let go.
    pub claims: usize,
    /// Leases it held (`imap:<slug>`), let go.
    pub leases: Vec<String>,
}

/// A node as `praxis status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeRow {
    /// `host:pid`.
    pub name: String,
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// When it started, Unix seconds.
    pub started_at: i64,
    /// Its last heartbeat, Unix seconds.
    pub seen_at: i64,
    /// The leases it holds now (`imap:<slug>`), by name.
    pub holds: Vec<String>,
}

impl Store {
    /// Records this node as running (again, after a restart under the same
    /// name).
    pub fn register_node(&mut self, name: &str, host: &str, pid: i64, now: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO nodes (name, host, pid, started_at, seen_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                 started_at = excluded.started_at, seen_at = excluded.seen_at",
            params![name, host, pid, now],
        )?;
        Ok(())
    }

    /// The node's heartbeat: false when its row is gone (another node
    /// took it as dead), which the caller answers by registering again.
    pub fn node_seen(&mut self, name: &str, now: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE nodes SET seen_at = ?2 WHERE name = ?1",
            params![name, now],
        )?;
        Ok(n == 1)
    }

    /// A node stopping cleanly: its row, its leases and its claims on
    /// deliveries go, so the others take its work at once rather than when
    /// the leases lapse.
    pub fn unregister_node(&mut self, name: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM leases WHERE node = ?1", params![name])?;
        tx.execute(
            "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?1",
            params![name],
        )?;
        tx.execute("DELETE FROM nodes WHERE name = ?1", params![name])?;
        tx.commit()
    }

    /// Takes every node but `by` whose last heartbeat is older than
    /// `seen_before` as dead (killed, its machine lost, cut off from the
    /// database): its rows, leases and delivery claims go in one
    /// transaction, so the live nodes take its work over at once rather
    /// than when its claims lapse ([`super::CLAIM_TTL`]). Returns who was
    /// taken and what they held.
    pub fn take_dead_nodes(&mut self, seen_before: i64, by: &str) -> Result<Vec<DeadNode>> {
        let tx = self.conn.transaction()?;
        let dead = tx.query_map(
            "SELECT name, seen_at FROM nodes WHERE seen_at < ?1 AND name <> ?2 ORDER BY name",
            params![seen_before, by],
            |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
        )?;
        let mut out = Vec::with_capacity(dead.len());
        for (name, seen_at) in dead {
            let leases = tx.query_map(
                "SELECT name FROM leases WHERE node = ?1 ORDER BY name",
                params![name],
                |r| r.get::<String>(0),
            )?;
            tx.execute("DELETE FROM leases WHERE node = ?1", params![name])?;
            let claims = tx.execute(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?1",
                params![name],
            )?;
            tx.execute("DELETE FROM nodes WHERE name = ?1", params![name])?;
            out.push(DeadNode {
                name,
                seen_at,
                claims,
                leases,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// Every node seen since `since` (Unix seconds), with what it holds,
    /// by name.
    pub fn nodes(&self, since: i64, now: i64) -> Result<Vec<NodeRow>> {
        let mut nodes = self.conn.query_map(
            "SELECT name, host, pid, started_at, seen_at FROM nodes WHERE seen_at >= ?1
             ORDER BY name",
            params![since],
            |r| {
                Ok(NodeRow {
                    name: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    started_at: r.get(3)?,
                    seen_at: r.get(4)?,
                    holds: Vec::new(),
                })
            },
        )?;
        let leases = self.conn.query_map(
            "SELECT node, name FROM leases WHERE expires_at > ?1 ORDER BY name",
            params![now],
            |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
        )?;
        for (node, lease) in leases {
            if let Some(n) = nodes.iter_mut().find(|n| n.name == node) {
                n.holds.push(lease);
            }
        }
        Ok(nodes)
    }

    /// Takes or renews the lease `name` for `node` until `now + ttl`
    /// (seconds): true when this node holds it now, false when another
    /// node's lease has not lapsed yet.
    pub fn take_lease(&mut self, name: &str, node: &str, now: i64, ttl: i64) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT INTO leases (name, node, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at
             WHERE leases.node = excluded.node OR leases.expires_at <= ?4",
            params![name, node, now + ttl, now],
        )?;
        Ok(n == 1)
    }

    /// Lets the lease `name` go, if `node` holds it.
    pub fn release_lease(&mut self, name: &str, node: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM leases WHERE name = ?1 AND node = ?2",
            params![name, node],
        )?;
        Ok(())
    }

    /// Who holds the lease `name` now, if anyone.
    pub fn lease_holder(&self, name: &str, now: i64) -> Result<Option<String>> {
        self.conn.query_opt(
            "SELECT node FROM leases WHERE name = ?1 AND expires_at > ?2",
            params![name, now],
            |r| r.get(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_held_by_one_node_until_it_lapses() {
        Store::each_engine(|mut s| {
            s.register_node("a:1", "a", 1, 100).unwrap();
            s.register_node("b:2", "b", 2, 100).unwrap();
            assert!(s.take_lease("imap:health", "a:1", 100, 30).unwrap());
            assert!(
                !s.take_lease("imap:health", "b:2", 110, 30).unwrap(),
                "a holds it"
            );
            assert!(
                s.take_lease("imap:health", "a:1", 120, 30).unwrap(),
                "renewed"
            );
            assert!(
                !s.take_lease("imap:health", "b:2", 149, 30).unwrap(),
                "until 150"
            );
            assert_eq!(
                s.lease_holder("imap:health", 149).unwrap().as_deref(),
                Some("a:1")
            );
            assert!(
                s.take_lease("imap:health", "b:2", 150, 30).unwrap(),
                "lapsed: b takes it"
            );
            assert!(!s.take_lease("imap:health", "a:1", 151, 30).unwrap());
            let nodes = s.nodes(0, 151).unwrap();
            assert_eq!(nodes.len(), 2);
            assert!(nodes[0].holds.is_empty());
            assert_eq!(nodes[1].holds, ["imap:health"]);
            assert!(s.node_seen("a:1", 200).unwrap());
            assert_eq!(s.nodes(150, 151).unwrap().len(), 1, "b not seen since 100");
            s.unregister_node("b:2").unwrap();
            assert_eq!(s.lease_holder("imap:health", 152).unwrap(), None);
            assert!(s.take_lease("imap:health", "a:1", 152, 30).unwrap());
            s.release_lease("imap:health", "b:2").unwrap();
            assert_eq!(
                s.lease_holder("imap:health", 152).unwrap().as_deref(),
                Some("a:1")
            );
            s.release_lease("imap:health", "a:1").unwrap();
            assert_eq!(s.lease_holder("imap:health", 152).unwrap(), None);
        });
    }

    /// A node silent past the bound is taken as dead by a live one: its
    /// row, leases and delivery claims go together; the live node's own
    /// and a recent node's stay.
    #[test]
    fn a_silent_node_is_taken_as_dead_with_its_claims_and_leases() {
        Store::each_engine(|mut s| {
            s.register_node("gone:1", "gone", 1, 100).unwrap();
            s.register_node("live:2", "live", 2, 100).unwrap();
            s.register_node("slow:3", "slow", 3, 100).unwrap();
            assert!(s.take_lease("imap:health", "gone:1", 100, 60).unwrap());
            assert!(s.take_lease("imap:other", "live:2", 100, 60).unwrap());
            let to = ["a@x.org", "b@x.org", "c@x.org"].map(|a| super::super::NewRecipient {
                member: None,
                address: a.into(),
            });
            let n = super::super::NewOutbox::new(None, crate::model::OutboxKind::Notice, "n", b"m");
            s.queue_to(&n, to, 100).unwrap();
            s.conn
                .execute(
                    "UPDATE deliveries SET claimed_by = CASE WHEN id = (SELECT MAX(id) FROM deliveries)
                         THEN 'live:2' ELSE 'gone:1' END, claimed_until = 700",
                    params![],
                )
                .unwrap();
            assert!(s.node_seen("live:2", 130).unwrap());
            assert!(s.node_seen("slow:3", 125).unwrap());
            // At 130, with a 25-second bound: gone:1 (seen at 100) is dead;
            // slow:3 (125) is not, nor is the node looking.
            let dead = s.take_dead_nodes(130 - 25, "live:2").unwrap();
            assert_eq!(
                dead,
                [DeadNode {
                    name: "gone:1".into(),
                    seen_at: 100,
                    claims: 2,
                    leases: vec!["imap:health".into()],
                }]
            );
            assert_eq!(s.lease_holder("imap:health", 131).unwrap(), None);
            assert_eq!(
                s.lease_holder("imap:other", 131).unwrap().as_deref(),
                Some("live:2")
            );
            let claimed: Vec<Option<String>> = s
                .conn
                .query_map(
                    "SELECT claimed_by FROM deliveries ORDER BY id",
                    params![],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(claimed, [None, None, Some("live:2".into())]);
            let names: Vec<String> = s
                .nodes(0, 131)
                .unwrap()
                .into_iter()
                .map(|n| n.name)
                .collect();
            assert_eq!(names, ["live:2", "slow:3"]);
            // The dead node, alive after all, finds its row gone.
            assert!(!s.node_seen("gone:1", 140).unwrap());
            assert!(s.take_dead_nodes(100, "live:2").unwrap().is_empty());
        });
    }
}
