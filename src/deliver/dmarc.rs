//! Whether an author's domain publishes an enforcing DMARC policy
//! (p=reject or p=quarantine, RFC 7489 / RFC 9989 tree walk), decided by
//! mail-auth's DMARC evaluation. Behind a trait so the sender can be given
//! another answer source; tests use mail-auth with an in-memory [`Zone`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::{
    AuthenticatedMessage, DmarcResult, MessageAuthenticator, Parameters, SpfOutput, SpfResult,
};

use super::dns::Zone;

/// A boxed future, for the object-safe trait below.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

/// Answers: does mail from this domain fail DMARC hard when a list relays it?
pub trait DmarcPolicy: Send + Sync {
    /// True when `domain` publishes p=reject or p=quarantine (after t=y and
    /// subdomain rules); an error when DNS could not say.
    fn enforces<'a>(&'a self, domain: &'a str) -> Lookup<'a>;
}

/// mail-auth's DMARC evaluation over a [`Zone`].
pub struct MailAuthDmarc {
    /// The resolver, made at the first lookup. Making the system's resolver
    /// reads resolv.conf and every certificate in /etc/ssl/certs (for
    /// hickory's DNS-over-TLS client): tens of milliseconds that delayed
    /// the sender's first copy at every start, for a resolver that a list
    /// whose posts all come from its own domain never uses. A failure is
    /// kept and returned by every lookup, so each post it concerns says why
    /// its From was rewritten.
    auth: OnceLock<Result<MessageAuthenticator, String>>,
    /// Cached (production) or all (tests) answers.
    zone: Arc<Zone>,
}

impl MailAuthDmarc {
    /// Lookups through `zone`; its authenticator is made at the first.
    pub fn new(zone: Arc<Zone>) -> MailAuthDmarc {
        MailAuthDmarc {
            auth: OnceLock::new(),
            zone,
        }
    }
}

impl DmarcPolicy for MailAuthDmarc {
    fn enforces<'a>(&'a self, domain: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let probe = format!("From: <postmaster@{domain}>\r\n\r\n");
            let message = AuthenticatedMessage::parse(probe.as_bytes())
                .ok_or_else(|| format!("`{domain}` is not a domain"))?;
            let spf = SpfOutput::new(domain.to_string()).with_result(SpfResult::None);
            let params = DmarcParameters::new(&message, &[], domain, &spf);
            let auth = self
                .auth
                .get_or_init(|| self.zone.authenticator())
                .as_ref()
                .map_err(|e| format!("DMARC lookup for {domain} failed: {e}"))?;
            let out = auth
                .verify_dmarc(
                    Parameters::new(params)
                        .with_txt_cache(&*self.zone)
                        .with_ipv4_cache(&*self.zone),
                )
                .await;
            if let DmarcResult::TempError(e) = out.dkim_result() {
                return Err(format!("DMARC lookup for {domain} failed: {e}"));
            }
            Ok(matches!(out.policy(), Policy::Reject | Policy::Quarantine))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn enforcing_policies_are_found_through_the_tree_walk() {
        let zone = Zone::authoritative();
        zone.add_txt("_dmarc.reject.test", "v=DMARC1; p=reject")
            .unwrap();
        zone.add_txt(
            "_dmarc.quarantine.test",
            "v=DMARC1; p=quarantine; rua=mailto:r@quarantine.test",
        )
        .unwrap();
        zone.add_txt("_dmarc.none.test", "v=DMARC1; p=none")
            .unwrap();
        zone.add_txt("_dmarc.testing.test", "v=DMARC1; p=quarantine; t=y")
            .unwrap();
        zone.add_txt("_dmarc.org.test", "v=DMARC1; p=none; sp=reject")
            .unwrap();
        let d = MailAuthDmarc::new(zone);
        for (domain, want) in [
            ("reject.test", true),
            ("quarantine.test", true),
            ("none.test", false),
            ("nothing.test", false),
            ("testing.test", false),
            ("mail.org.test", true),
            ("org.test", false),
        ] {
            assert_eq!(d.enforces(domain).await, Ok(want), "{domain}");
        }
    }
}
