//! The notices delivery sends on its own: telling the owners a member was
//! disabled for bouncing, and the probe sent to a disabled member.

use tracing::warn;

use super::compose::{header_text, notice_message};
use super::verp::owner_address;
use crate::config::{CommunityConfig, Config};
use crate::store::{Member, Notice};

/// Renders the owners' notice for a member disabled at `score` after
/// `last_error` (the closure the store calls inside the disabling transaction).
pub fn disabled(config: &Config) -> impl Fn(&Member, f64, &str) -> Option<Notice> + '_ {
    move |member: &Member, score: f64, last_error: &str| {
        let cfg = config.community(&member.community).ok()?;
        let threshold = config.bounce.threshold;
        let text = format!(
            "Delivery to {email} in {name} has been disabled: mail to the address kept \
             bouncing (bounce score {score:.1}, threshold {threshold:.1}).\n\n\
             The last failure was:\n    {error}\n\n\
             praxis will send the address a probe in a few days and re-enable it if the \
             probe is delivered without bouncing. To re-enable it now:\n\n    \
             praxis members set {email} -c {slug} --status active\n",
            email = member.email,
            name = header_text(&cfg.name),
            error = header_text(last_error),
            slug = cfg.slug,
        );
        let subject = format!("delivery to {} disabled after bounces", member.email);
        match notice_message(cfg, &owner_address(&cfg.address), &subject, &text) {
            Ok(b) => Some(Notice {
                subject: b.subject,
                message: b.message,
            }),
            Err(e) => {
                warn!("cannot build the owners' notice for {}: {e}", member.email);
                None
            }
        }
    }
}

/// The probe sent to a disabled member: if it is delivered and does not
/// bounce, their delivery is turned back on.
pub fn probe(cfg: &CommunityConfig, member: &Member) -> Option<Notice> {
    let text = format!(
        "Hello,\n\nMail from {name} to {email} bounced several times, so deliveries to \
         you were paused. This message checks whether your address works again.\n\n\
         Nothing to do: if this message reaches you, deliveries start again by themselves.\n",
        name = header_text(&cfg.name),
        email = member.email,
    );
    let subject = format!("checking your address for {}", header_text(&cfg.name));
    match notice_message(cfg, &member.email, &subject, &text) {
        Ok(b) => Some(Notice {
            subject: b.subject,
            message: b.message,
        }),
        Err(e) => {
            warn!("cannot build a probe for {}: {e}", member.email);
            None
        }
    }
}
