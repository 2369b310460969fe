//! DNS answers for mail-auth: a cache in front of the system resolver in
//! production, or an in-memory zone that answers every question itself, so
//! tests (DMARC policies, DKIM public keys) never touch the network.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::resolver::ToFqdn;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::Dmarc;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::{DnsError, DnssecStatus, MessageAuthenticator, RecordSet, ResolverCache, Txt};

/// TXT answers by fully qualified name, with when they expire (never, in a zone).
type Answers = HashMap<Box<str>, (Txt, Option<Instant>)>;

/// TXT answers (and, in a zone, name existence) for mail-auth lookups.
pub struct Zone {
    /// The answers.
    txt: Mutex<Answers>,
    /// True: this zone is the whole DNS (tests). False: a cache (production).
    authoritative: bool,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Zone(authoritative: {})", self.authoritative)
    }
}

impl Zone {
    /// A zone that answers every question itself: a name not added does not exist.
    pub fn authoritative() -> Arc<Zone> {
        Arc::new(Zone {
            txt: Mutex::new(HashMap::new()),
            authoritative: true,
        })
    }

    /// A cache in front of the real resolver, keeping answers for their TTL.
    pub fn cache() -> Arc<Zone> {
        Arc::new(Zone {
            txt: Mutex::new(HashMap::new()),
            authoritative: false,
        })
    }

    /// Adds a DKIM key (`v=DKIM1; ...`) or DMARC policy (`v=DMARC1; ...`) at `name`.
    pub fn add_txt(&self, name: &str, record: &str) -> Result<(), String> {
        let value: Txt = if record.trim_start().starts_with("v=DMARC1") {
            Dmarc::parse(record.as_bytes())
                .map_err(|e| format!("bad DMARC record: {e}"))?
                .into()
        } else {
            DomainKey::parse(record.as_bytes())
                .map_err(|e| format!("bad DKIM record: {e}"))?
                .into()
        };
        let key = name.to_fqdn().into_owned().into_boxed_str();
        self.txt
            .lock()
            .expect("zone lock")
            .insert(key, (value, None));
        Ok(())
    }

    /// A mail-auth authenticator for this zone: the system's resolver for a
    /// cache, none at all (every miss is an error) for an authoritative zone.
    pub fn authenticator(&self) -> Result<MessageAuthenticator, String> {
        if self.authoritative {
            MessageAuthenticator::new(
                ResolverConfig::from_parts(None, vec![], vec![]),
                ResolverOpts::default(),
            )
            .map_err(|e| e.to_string())
        } else {
            MessageAuthenticator::new_system_conf().map_err(|e| {
                format!("cannot read the system's DNS configuration (/etc/resolv.conf): {e}")
            })
        }
    }
}

impl ResolverCache<Box<str>, Txt> for Zone {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.txt.lock().expect("zone lock");
        match map.get(name) {
            Some((value, None)) => Some(value.clone()),
            Some((value, Some(until))) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                map.remove(name);
                None
            }
            None if self.authoritative => Some(Txt::Error(mail_auth::Error::Dns(
                DnsError::RecordNotFound(ResponseCode::NXDomain),
            ))),
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.txt
            .lock()
            .expect("zone lock")
            .remove(name)
            .map(|(v, _)| v)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: Instant) {
        if !self.authoritative {
            let mut map = self.txt.lock().expect("zone lock");
            // Bounded: a cache, not a store.
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(key, (value, Some(valid_until)));
        }
    }
}

/// In a zone every name exists (without addresses), so a DMARC lookup
/// never falls back to asking the network whether a domain exists.
impl ResolverCache<Box<str>, RecordSet<Ipv4Addr>> for Zone {
    fn get<Q>(&self, _: &Q) -> Option<RecordSet<Ipv4Addr>>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.authoritative.then(|| RecordSet {
            rrset: Arc::from(Vec::new().into_boxed_slice()),
            dnssec_status: DnssecStatus::Indeterminate,
        })
    }

    fn remove<Q>(&self, _: &Q) -> Option<RecordSet<Ipv4Addr>>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: Box<str>, _: RecordSet<Ipv4Addr>, _: Instant) {}
}
