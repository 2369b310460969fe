//! Signed per-member links: the https unsubscribe URL put in
//! List-Unsubscribe (RFC 8058 one-click) and in the footer, and the link to
//! a member's own page (`/c/SLUG/me/TOKEN`) in every footer and welcome.
//!
//! A token is an HMAC-SHA256 of its purpose, the community and the address
//! under the key from `delivery.link_secret_env`/`_file`, so a link cannot
//! be forged for someone else or reused for another purpose. The web checks
//! them ([`parse_unsubscribe`], [`parse_me`]). Pure.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the HMAC kept in a token (128 bits).
const TOKEN_BYTES: usize = 16;

/// The key that signs links.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

impl LinkKey {
    /// A key from the secret's text.
    pub fn new(secret: &str) -> LinkKey {
        LinkKey(secret.as_bytes().to_vec())
    }

    /// A key from the secret's bytes.
    pub fn from_bytes(secret: &[u8]) -> LinkKey {
        LinkKey(secret.to_vec())
    }

    /// The secret's bytes: confirmation tokens are signed with the same
    /// secret (`effects::token_secret` reads it when links are configured).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self, slug: &str, email: &str) -> Hmac<Sha256> {
        self.mac_for("unsubscribe", slug, email)
    }

    /// A tag (hex, 128 bits) binding `parts` to `purpose`: sessions, form
    /// tokens and single-use links are signed with it.
    pub fn sign(&self, purpose: &str, parts: &[&str]) -> String {
        hex::encode(&self.mac_parts(purpose, parts).finalize().into_bytes()[..TOKEN_BYTES])
    }

    /// Whether `tag` is [`LinkKey::sign`]'s for `purpose` and `parts`
    /// (constant time).
    pub fn verify(&self, purpose: &str, parts: &[&str], tag: &str) -> bool {
        match hex::decode(tag) {
            Ok(bytes) if bytes.len() == TOKEN_BYTES => self
                .mac_parts(purpose, parts)
                .verify_truncated_left(&bytes)
                .is_ok(),
            _ => false,
        }
    }

    fn mac_parts(&self, purpose: &str, parts: &[&str]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"part\0");
        mac.update(purpose.as_bytes());
        for p in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        mac
    }

    /// The HMAC of `purpose`, `slug` and the lower-cased `email`.
    fn mac_for(&self, purpose: &str, slug: &str, email: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(slug.as_bytes());
        mac.update(b"\0");
        mac.update(email.to_ascii_lowercase().as_bytes());
        mac
    }
}

/// The token for `email` in community `slug`.
pub fn unsubscribe_token(key: &LinkKey, slug: &str, email: &str) -> String {
    let tag = key.mac(slug, email).finalize().into_bytes();
    hex::encode(&tag[..TOKEN_BYTES])
}

/// Whether `token` is the one for `email` in `slug` (constant time).
pub fn verify_unsubscribe(key: &LinkKey, slug: &str, email: &str, token: &str) -> bool {
    match hex::decode(token) {
        Ok(bytes) if bytes.len() == TOKEN_BYTES => {
            key.mac(slug, email).verify_truncated_left(&bytes).is_ok()
        }
        _ => false,
    }
}

/// `BASE/u/TOKEN`: the one-click link (RFC 8058), TOKEN carrying the
/// community and the address with their HMAC ([`parse_unsubscribe`]).
pub fn unsubscribe_url(base_url: &str, key: &LinkKey, slug: &str, email: &str) -> String {
    let email = email.to_ascii_lowercase();
    format!(
        "{}/u/{}.{}",
        base_url.trim_end_matches('/'),
        B64.encode(format!("{slug}\n{email}")),
        unsubscribe_token(key, slug, &email)
    )
}

/// The links mailed before `/u/TOKEN`: `BASE/unsubscribe/SLUG/ADDRESS/TOKEN`,
/// still answered (a mailed link is permanent).
pub fn legacy_unsubscribe_url(base_url: &str, key: &LinkKey, slug: &str, email: &str) -> String {
    format!(
        "{}/unsubscribe/{}/{}/{}",
        base_url.trim_end_matches('/'),
        percent_encode(slug),
        percent_encode(&email.to_ascii_lowercase()),
        unsubscribe_token(key, slug, email)
    )
}

/// The (community slug, address) a `/u/TOKEN` token was signed for; None
/// when it is malformed or its HMAC does not verify.
pub fn parse_unsubscribe(key: &LinkKey, token: &str) -> Option<(String, String)> {
    let (payload, tag) = token.split_once('.')?;
    let text = String::from_utf8(B64.decode(payload).ok()?).ok()?;
    let (slug, email) = text.split_once('\n')?;
    verify_unsubscribe(key, slug, email, tag).then(|| (slug.to_string(), email.to_string()))
}

/// The token of a member's own page: the address and its HMAC for `slug`.
pub fn me_token(key: &LinkKey, slug: &str, email: &str) -> String {
    let email = email.to_ascii_lowercase();
    let tag = key.mac_for("me", slug, &email).finalize().into_bytes();
    format!(
        "{}.{}",
        B64.encode(&email),
        hex::encode(&tag[..TOKEN_BYTES])
    )
}

/// `BASE/c/SLUG/me/TOKEN`: a member's own page (delivery mode, profile,
/// leaving), linked from every footer, welcome and digest.
pub fn me_url(base_url: &str, key: &LinkKey, slug: &str, email: &str) -> String {
    format!(
        "{}/c/{}/me/{}",
        base_url.trim_end_matches('/'),
        slug,
        me_token(key, slug, email)
    )
}

/// The address a member-page token was signed for in `slug`.
pub fn parse_me(key: &LinkKey, slug: &str, token: &str) -> Option<String> {
    let (payload, tag) = token.split_once('.')?;
    let email = String::from_utf8(B64.decode(payload).ok()?).ok()?;
    let bytes = hex::decode(tag).ok().filter(|b| b.len() == TOKEN_BYTES)?;
    key.mac_for("me", slug, &email)
        .verify_truncated_left(&bytes)
        .ok()
        .map(|()| email)
}

/// URL-safe base64 without padding: tokens sit in paths.
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Percent-encodes everything but RFC 3986 unreserved characters and `@`
/// (a path segment: an address, a Message-ID in an archive link).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_member_and_key() {
        let key = LinkKey::new("s3cret");
        let t = unsubscribe_token(&key, "health", "Alice@Example.org");
        assert_eq!(t.len(), 32);
        assert!(verify_unsubscribe(&key, "health", "alice@example.org", &t));
        assert!(!verify_unsubscribe(&key, "health", "bob@example.org", &t));
        assert!(!verify_unsubscribe(
            &key,
            "education",
            "alice@example.org",
            &t
        ));
        assert!(!verify_unsubscribe(
            &LinkKey::new("other"),
            "health",
            "alice@example.org",
            &t
        ));
        assert!(!verify_unsubscribe(
            &key,
            "health",
            "alice@example.org",
            "zz"
        ));
    }

    #[test]
    fn the_url_is_safe_in_a_header() {
        let key = LinkKey::new("k");
        let url = legacy_unsubscribe_url(
            "https://lists.example.test/",
            &key,
            "health",
            "o'brien+x@example.org",
        );
        assert!(
            url.starts_with(
                "https://lists.example.test/unsubscribe/health/o%27brien%2Bx@example.org/"
            ),
            "{url}"
        );
        assert!(url.chars().all(|c| c.is_ascii_graphic()), "{url}");
    }

    #[test]
    fn one_click_and_member_page_tokens_carry_their_member_and_nothing_else() {
        let key = LinkKey::new("k");
        let url = unsubscribe_url("https://l.test", &key, "health", "O'Brien+x@Example.org");
        assert!(url.chars().all(|c| c.is_ascii_graphic()), "{url}");
        let token = url.strip_prefix("https://l.test/u/").unwrap();
        assert_eq!(
            parse_unsubscribe(&key, token),
            Some(("health".into(), "o'brien+x@example.org".into()))
        );
        assert_eq!(parse_unsubscribe(&LinkKey::new("other"), token), None);
        // A member-page token is not an unsubscribe token, nor valid elsewhere.
        let me = me_token(&key, "health", "a@example.org");
        assert_eq!(parse_me(&key, "health", &me), Some("a@example.org".into()));
        assert_eq!(parse_me(&key, "education", &me), None);
        assert_eq!(parse_unsubscribe(&key, &me), None);
        let (payload, tag) = me.split_once('.').unwrap();
        let forged = format!("{}.{tag}", B64.encode("b@example.org"));
        assert_eq!(parse_me(&key, "health", &forged), None);
        assert_eq!(parse_me(&key, "health", payload), None);
    }
}
