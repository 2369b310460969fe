//! Signed per-member links: the https unsubscribe URL put in
//! List-Unsubscribe (RFC 8058 one-click) and in the footer.
//!
//! The token is an HMAC-SHA256 of the community and address under the key
//! from `delivery.link_secret_env`/`_file`, so a link cannot be forged for
//! someone else; [`verify_unsubscribe`] is what the web front end checks. Pure.

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

    fn mac(&self, slug: &str, email: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"unsubscribe\0");
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

/// `BASE/unsubscribe/SLUG/ADDRESS/TOKEN`, the address percent-encoded.
pub fn unsubscribe_url(base_url: &str, key: &LinkKey, slug: &str, email: &str) -> String {
    format!(
        "{}/unsubscribe/{}/{}/{}",
        base_url.trim_end_matches('/'),
        percent_encode(slug),
        percent_encode(&email.to_ascii_lowercase()),
        unsubscribe_token(key, slug, email)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `@`.
fn percent_encode(s: &str) -> String {
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
        let url = unsubscribe_url(
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
}
