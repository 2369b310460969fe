//! The list's own addresses and VERP (variable envelope return path): each
//! copy's envelope sender names its recipient, so a bounce names who bounced
//! even when its content does not.
//!
//! `list@example.org` sends alice@example.net's copy from
//! `list-bounces+alice=example.net@example.org`. Pure: no I/O.

use crate::config::split_address;

/// The part of the local part between the list's name and the recipient.
const BOUNCES: &str = "-bounces";

/// Characters allowed in a dot-atom local part (RFC 5322 atext and `.`).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

/// `LOCAL-request@DOMAIN`: commands (help, subscribe, unsubscribe).
pub fn request_address(list: &str) -> String {
    suffixed(list, "-request")
}

/// `LOCAL-owner@DOMAIN`: the people who run the list.
pub fn owner_address(list: &str) -> String {
    suffixed(list, "-owner")
}

/// `LOCAL-bounces@DOMAIN`: the return path when a recipient cannot be encoded.
pub fn bounces_address(list: &str) -> String {
    suffixed(list, BOUNCES)
}

fn suffixed(list: &str, suffix: &str) -> String {
    match list.rsplit_once('@') {
        Some((local, domain)) => format!("{local}{suffix}@{domain}"),
        None => format!("{list}{suffix}"),
    }
}

/// The envelope sender for `recipient`'s copy: `LOCAL-bounces+USER=HOST@DOMAIN`.
/// A recipient whose local part is not a plain dot-atom (a quoted local part)
/// cannot be encoded and gets the plain `LOCAL-bounces@DOMAIN`.
pub fn bounce_address(list: &str, recipient: &str) -> String {
    let (Some((local, domain)), Some((user, host))) =
        (split_address(list), split_address(recipient))
    else {
        return bounces_address(list);
    };
    if !user.chars().all(is_atext) {
        return bounces_address(list);
    }
    format!(
        "{local}{BOUNCES}+{}={}@{domain}",
        user,
        host.to_ascii_lowercase()
    )
}

/// The recipient a bounce was for, from the address it was sent to (the
/// envelope recipient, Delivered-To or X-Original-To; angle brackets and case
/// do not matter). `None` when `envelope_to` is not a VERP address of `list`.
pub fn recipient_from_verp(envelope_to: &str, list: &str) -> Option<String> {
    let to = envelope_to
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (to_local, to_domain) = to.rsplit_once('@')?;
    let (local, domain) = split_address(list)?;
    if !to_domain.eq_ignore_ascii_case(domain) {
        return None;
    }
    let prefix = format!("{local}{BOUNCES}+");
    let head = to_local.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(&prefix) {
        return None;
    }
    let encoded = &to_local[prefix.len()..];
    let (user, host) = encoded.rsplit_once('=')?;
    let addr = format!("{user}@{}", host.to_ascii_lowercase());
    split_address(&addr)?;
    Some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_path_names_the_recipient_and_decodes_back() {
        let list = "list@example.test";
        for rcpt in [
            "alice@example.org",
            "bob+news@mail.example.net",
            "a=b@x.org",
            "o'brien@x.org",
            "First.Last@Example.ORG",
        ] {
            let verp = bounce_address(list, rcpt);
            assert!(verp.starts_with("list-bounces+"), "{verp}");
            assert!(verp.ends_with("@example.test"), "{verp}");
            assert!(split_address(&verp).is_some(), "{verp} is an address");
            let back = recipient_from_verp(&verp, list).unwrap();
            let (u, h) = rcpt.rsplit_once('@').unwrap();
            assert_eq!(back, format!("{u}@{}", h.to_ascii_lowercase()));
        }
        assert_eq!(
            bounce_address(list, "alice@example.org"),
            "list-bounces+alice=example.org@example.test"
        );
    }

    #[test]
    fn only_this_list_s_bounce_addresses_decode() {
        let list = "list@example.test";
        assert_eq!(
            recipient_from_verp("<LIST-Bounces+bob=Example.org@EXAMPLE.test>", list).as_deref(),
            Some("bob@example.org")
        );
        for other in [
            "list@example.test",
            "list-request@example.test",
            "list-bounces@example.test",
            "list-bounces+bob=example.org@other.test",
            "other-bounces+bob=example.org@example.test",
            "list-bounces+bob@example.test",
            "list-bounces+=example.org@example.test",
            "",
        ] {
            assert_eq!(recipient_from_verp(other, list), None, "{other}");
        }
    }

    #[test]
    fn a_quoted_local_part_falls_back_to_the_plain_bounce_address() {
        assert_eq!(
            bounce_address("list@example.test", "not an address"),
            "list-bounces@example.test"
        );
        assert_eq!(
            request_address("list@example.test"),
            "list-request@example.test"
        );
        assert_eq!(
            owner_address("list@example.test"),
            "list-owner@example.test"
        );
    }
}
