//! What the members' forms share: checking what was typed (each message
//! names the field and the fix), the choices of delivery mode and digest
//! format, and the limits on mail the join and sign-in forms may cause.

use std::time::Duration;

use serde::Serialize;

use crate::model::{Delivery, DigestFormat};
use crate::moderation::commands::{Field, profile_value};

use super::AppState;
use super::page::WebError;

/// Mails one address may be sent from these forms in an hour.
const PER_ADDRESS_HOUR: usize = 3;
/// Requests for mail one client may make in an hour.
const PER_CLIENT_HOUR: usize = 10;
/// No second mail to one address within this long.
const QUIET: Duration = Duration::from_secs(600);
/// An hour.
const HOUR: Duration = Duration::from_secs(3600);

/// Checks an email address typed in a form: lower-cased and trimmed, or a
/// message naming the field and the fix.
pub fn email(raw: &str) -> Result<String, String> {
    let v = raw.trim().to_ascii_lowercase();
    if v.is_empty() {
        return Err("Email address: it is empty; type the address you receive mail at, e.g. asha@example.org.".into());
    }
    let ok = v.len() <= 254
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && v.chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c));
    if !ok {
        return Err(format!(
            "Email address: \u{201c}{}\u{201d} is not an address; type it as name@example.org.",
            raw.trim()
        ));
    }
    Ok(v)
}

/// Checks a name, organisation, place or interests (optional: empty stays
/// empty).
pub fn profile(field: Field, raw: &str) -> Result<String, String> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let label = match field {
        Field::Name => "Name",
        Field::Organisation => "Organisation",
        Field::Place => "Place",
        Field::Interests => "Interests",
    };
    let n = v.chars().count();
    if n > field.max_chars() {
        return Err(format!(
            "{label}: it is {n} characters long; shorten it to at most {}.",
            field.max_chars()
        ));
    }
    profile_value(field, v).map_err(|_| {
        format!("{label}: it contains control or direction-changing characters; type plain text.")
    })
}

/// One choice of a radio group or select.
#[derive(Serialize)]
pub struct Choice {
    /// The value sent.
    pub value: &'static str,
    /// What the person reads.
    pub label: &'static str,
    /// Whether it is the one chosen.
    pub checked: bool,
}

/// The delivery modes a member may choose (`none` only on their own page).
pub fn deliveries(chosen: &str, with_none: bool) -> Vec<Choice> {
    let mut all = vec![
        ("each", "Each post, as it is approved"),
        ("digest", "A periodic digest of the posts"),
        ("consolidated", "Only the Consolidated Replies to queries"),
    ];
    if with_none {
        all.push(("none", "Nothing (you can still post)"));
    }
    all.into_iter()
        .map(|(value, label)| Choice {
            value,
            label,
            checked: value == chosen,
        })
        .collect()
}

/// The digest formats.
pub fn formats(chosen: &str) -> Vec<Choice> {
    [
        ("mime", "MIME digest (each post as a message)"),
        ("plain", "Plain text (RFC 1153)"),
        ("html", "HTML"),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value,
        label,
        checked: value == chosen,
    })
    .collect()
}

/// A delivery mode typed in a form.
pub fn delivery(raw: &str, with_none: bool) -> Result<Delivery, String> {
    match raw.parse::<Delivery>() {
        Ok(Delivery::None) if !with_none => Err(delivery_error(raw)),
        Ok(d) => Ok(d),
        Err(_) => Err(delivery_error(raw)),
    }
}

fn delivery_error(raw: &str) -> String {
    format!(
        "How mail reaches you: \u{201c}{raw}\u{201d} is not a choice; pick one of the listed modes."
    )
}

/// A digest format typed in a form.
pub fn digest_format(raw: &str) -> Result<DigestFormat, String> {
    raw.parse::<DigestFormat>().map_err(|_| {
        format!("Digest format: \u{201c}{raw}\u{201d} is not a choice; pick mime, plain or html.")
    })
}

/// Whether these forms may mail `address` now for this client: Err when
/// the client asked too often (the page says so, naming no address);
/// Ok(false) when this address had a mail lately or too many this hour
/// (the caller answers the same page and sends nothing); Ok(true) to send.
pub fn may_mail(state: &AppState, client: &str, address: &str) -> Result<bool, WebError> {
    if !state
        .limits
        .allow(&format!("client {client}"), PER_CLIENT_HOUR, HOUR)
    {
        return Err(WebError::TooMany(
            "Too many requests from your network in the last hour; please try again later.".into(),
        ));
    }
    if !state.limits.allow(&format!("quiet {address}"), 1, QUIET) {
        return Ok(false);
    }
    Ok(state
        .limits
        .allow(&format!("hour {address}"), PER_ADDRESS_HOUR, HOUR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_profiles_are_checked_with_a_message_naming_the_field() {
        assert_eq!(email(" Asha@Example.org ").unwrap(), "asha@example.org");
        for bad in [
            "",
            "asha",
            "a@b",
            "a b@example.org",
            "<a@example.org>",
            "a@@x.org",
        ] {
            let e = email(bad).unwrap_err();
            assert!(e.starts_with("Email address:"), "{bad}: {e}");
        }
        assert_eq!(profile(Field::Name, "  ").unwrap(), "");
        assert_eq!(profile(Field::Place, " Delhi ").unwrap(), "Delhi");
        assert!(
            profile(Field::Name, "a\u{202e}b")
                .unwrap_err()
                .starts_with("Name:")
        );
        assert!(
            profile(Field::Organisation, &"x".repeat(500))
                .unwrap_err()
                .starts_with("Organisation:")
        );
        assert!(delivery("none", false).is_err());
        assert_eq!(delivery("none", true).unwrap(), Delivery::None);
        assert!(
            digest_format("pdf")
                .unwrap_err()
                .starts_with("Digest format:")
        );
    }
}
