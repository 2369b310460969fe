//! The communities table: kept in step with the config's `[[community]]` list.

use super::engine::{Queries, Row, params};
use super::{Result, Store, StoreError, now};
use crate::config::Config;
use crate::model::CommunityId;

/// A community as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityRow {
    /// Row id.
    pub id: CommunityId,
    /// Slug from the config.
    pub slug: String,
    /// Name from the config.
    pub name: String,
    /// Posting address from the config.
    pub address: String,
}

impl Store {
    /// Inserts or updates a row for every configured community. Communities
    /// removed from the config keep their rows (and history).
    pub fn sync_communities(&mut self, config: &Config) -> Result<()> {
        let tx = self.conn.transaction()?;
        let t = now();
        for c in &config.communities {
            tx.execute(
                "INSERT INTO communities (slug, name, address, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (slug) DO UPDATE SET name = excluded.name, address = excluded.address
                 WHERE communities.name <> excluded.name OR communities.address <> excluded.address",
                params![c.slug, c.name, c.address.to_ascii_lowercase(), t],
            )?;
        }
        tx.commit()
    }

    /// The stored community with this slug.
    pub fn community(&self, slug: &str) -> Result<CommunityRow> {
        self.conn
            .query_opt(
                "SELECT id, slug, name, address FROM communities WHERE slug = ?1",
                params![slug],
                community_row,
            )?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "community `{slug}` is not in the database; run `praxis init` after adding it to the config"
                ))
            })
    }

    /// Every stored community, by slug.
    pub fn communities(&self) -> Result<Vec<CommunityRow>> {
        self.conn.query_map(
            "SELECT id, slug, name, address FROM communities ORDER BY slug",
            params![],
            community_row,
        )
    }
}

/// A community from `id, slug, name, address`.
fn community_row(r: &Row<'_>) -> Result<CommunityRow> {
    Ok(CommunityRow {
        id: CommunityId(r.get(0)?),
        slug: r.get(1)?,
        name: r.get(2)?,
        address: r.get(3)?,
    })
}
