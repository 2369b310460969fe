//! A community resolved once: its row id, its config with every value typed,
//! its working calendar, its list addresses and its compiled templates, built by
//! [`Communities::load`] when a process starts and passed by reference to
//! everything after.
//!
//! Invariants, stated as absences:
//! - Nothing below the entry points looks a community up by slug: a
//!   community enters as a command-line argument ([`Communities::by_slug`]),
//!   an envelope recipient ([`Communities::for_rcpt`]) or a stored row
//!   ([`Communities::by_id`]), and travels as `&Community` from there.
//! - A community's templates are compiled at most once per process: on first
//!   use (most commands and most accepted posts need none), then shared.

use std::sync::{Arc, OnceLock};

use crate::config::{CommunityConfig, Config, split_address};
use crate::consolidate::deadline::WorkingCalendar;
use crate::mail::classify::{Recipient, recipient_kind};
use crate::model::CommunityId;
use crate::render::Templates;
use crate::store::{Store, StoreError};

/// One community, resolved.
#[derive(Debug)]
pub struct Community {
    /// Its row id: deliveries, posts and members name it by this.
    pub id: CommunityId,
    /// Its configuration, checked and typed when the config was loaded.
    pub config: CommunityConfig,
    /// The local part of the posting address (`list` of `list@example.org`),
    /// from which the -request, -owner and -bounces addresses are made.
    pub local: String,
    /// The domain of the posting address.
    pub domain: String,
    /// Working days (weekend, holidays, time zone) for query deadlines,
    /// built once from the typed config.
    pub calendar: WorkingCalendar,
    /// The built-in templates with the community's overrides, compiled on
    /// first use and then shared: compiling them costs more than ingesting
    /// a post.
    templates: OnceLock<Templates>,
}

impl Community {
    /// Resolves one configured community against its stored row.
    pub fn new(id: CommunityId, config: CommunityConfig) -> Community {
        let (local, domain) = split_address(&config.address)
            .map(|(l, d)| (l.to_string(), d.to_string()))
            .unwrap_or_else(|| (config.address.clone(), "localhost".to_string()));
        Community {
            id,
            calendar: config.calendar(),
            config,
            local,
            domain,
            templates: OnceLock::new(),
        }
    }

    /// The slug, as on the command line and in the subject prefix.
    pub fn slug(&self) -> &str {
        &self.config.slug
    }

    /// The full name shown to people.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The posting address.
    pub fn address(&self) -> &str {
        &self.config.address
    }

    /// The templates its mail is written with, compiled once per process.
    /// An override folder that became invalid since `praxis check` falls
    /// back to the built-ins, with a warning (the config's rule).
    pub fn templates(&self) -> &Templates {
        self.templates.get_or_init(|| {
            let t = self.config.templates();
            tracing::info!(community = %self.config.slug, "templates compiled");
            t
        })
    }

    /// Whether the templates have been compiled in this process (tests).
    pub fn templates_compiled(&self) -> bool {
        self.templates.get().is_some()
    }
}

/// Every configured community, resolved: built once per process.
#[derive(Debug, Clone, Default)]
pub struct Communities {
    /// In config order, shared so long-running tasks can each hold them.
    list: Arc<Vec<Arc<Community>>>,
}

/// A community that is not there.
#[derive(Debug, thiserror::Error)]
pub enum CommunityError {
    /// Not in the config file.
    #[error("community `{slug}` is not in {config}; known: {known}")]
    NotConfigured {
        /// What was asked for.
        slug: String,
        /// The config file.
        config: String,
        /// The configured slugs.
        known: String,
    },
    /// A stored row names a community the config no longer has.
    #[error("community #{0} is in the database but no longer in the config; add it back")]
    NotConfiguredId(CommunityId),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Communities {
    /// Resolves every configured community against the database (which
    /// `Store::sync_communities` has brought in step with the config).
    pub fn load(config: &Config, store: &Store) -> Result<Communities, CommunityError> {
        let rows = store.communities()?;
        let mut list = Vec::with_capacity(config.communities.len());
        for c in &config.communities {
            let Some(row) = rows.iter().find(|r| r.slug == c.slug) else {
                return Err(StoreError::NotFound(format!(
                    "community `{}` is not in the database; run `praxis init` after adding it to the config",
                    c.slug
                ))
                .into());
            };
            list.push(Arc::new(Community::new(row.id, c.clone())));
        }
        Ok(Communities {
            list: Arc::new(list),
        })
    }

    /// Every community, in config order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Community>> {
        self.list.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The community named on the command line; the error names the known ones.
    pub fn by_slug(&self, slug: &str) -> Result<&Arc<Community>, CommunityError> {
        self.list
            .iter()
            .find(|c| c.config.slug == slug)
            .ok_or_else(|| CommunityError::NotConfigured {
                slug: slug.to_string(),
                config: "the config".to_string(),
                known: self
                    .list
                    .iter()
                    .map(|c| c.config.slug.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The community a stored row names.
    pub fn by_id(&self, id: CommunityId) -> Result<&Arc<Community>, CommunityError> {
        self.list
            .iter()
            .find(|c| c.id == id)
            .ok_or(CommunityError::NotConfiguredId(id))
    }

    /// The community an envelope recipient belongs to (its post, -request,
    /// -owner, -bounces or -confirm address), if any.
    pub fn for_rcpt(&self, rcpt: &str) -> Option<&Arc<Community>> {
        self.list
            .iter()
            .find(|c| recipient_kind(rcpt, &c.config.address) != Recipient::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn communities() -> (Store, Communities) {
        let (store, config) = Store::open_example();
        let c = Communities::load(&config, &store).unwrap();
        (store, c)
    }

    #[test]
    fn a_community_is_found_by_each_way_in() {
        let (_, all) = communities();
        let first = all.iter().next().unwrap().clone();
        assert_eq!(all.by_slug(first.slug()).unwrap().id, first.id);
        assert_eq!(all.by_id(first.id).unwrap().slug(), first.slug());
        let request = format!("{}-request@{}", first.local, first.domain);
        assert_eq!(all.for_rcpt(&request).unwrap().id, first.id);
        assert!(all.for_rcpt("someone@elsewhere.example").is_none());
        let err = all.by_slug("helth").unwrap_err().to_string();
        assert!(err.contains("helth") && err.contains(first.slug()), "{err}");
        assert!(all.by_id(CommunityId(9_999)).is_err());
    }

    #[test]
    fn templates_are_compiled_once_and_only_when_used() {
        let (_, all) = communities();
        let c = all.iter().next().unwrap();
        assert!(!c.templates_compiled());
        let a: *const Templates = c.templates();
        let b: *const Templates = c.templates();
        assert!(c.templates_compiled());
        assert_eq!(a, b, "the second use shares the first compilation");
    }
}
