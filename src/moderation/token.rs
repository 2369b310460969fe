//! Confirmation tokens for subscribe, unsubscribe and membership changes by
//! mail, and the moderators' tokens for deciding a held post by replying to
//! its notice (bound to the post too): HMAC-SHA256
//! signed, bound to the community, the address and the action, expiring
//! after 7 days. Pure: the caller supplies the secret, the clock and the
//! randomness; single use is the store's job (it records each token's
//! digest and marks it used).
//!
//! Format: `EXPIRES.NONCE.MAC`, lowercase hex, 38 characters (a 48-bit
//! nonce, a 64-bit MAC: enough for a code that is also single-use, expiring
//! and looked up in the database) — short enough for an address tag
//! (`list-confirm+TOKEN@`) within RFC 5321's 64-octet local part, and it
//! survives any mail client in a subject line.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the MAC kept in a token.
const MAC_BYTES: usize = 8;

/// Bytes of random nonce a caller should pass to [`issue`].
pub const NONCE_BYTES: usize = 6;

/// How long a token is good for.
pub const LIFETIME_SECS: i64 = 7 * 86_400;

/// What a token confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Joining.
    Subscribe,
    /// Leaving.
    Unsubscribe,
    /// Changing a membership (delivery, digest format, name, organisation,
    /// place): what changes is stored with the token, not signed in it.
    Change,
}

impl Purpose {
    /// The word signed and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Subscribe => "subscribe",
            Purpose::Unsubscribe => "unsubscribe",
            Purpose::Change => "change",
        }
    }

    /// Every purpose, for finding the one a token was made for.
    pub const ALL: [Purpose; 3] = [Purpose::Subscribe, Purpose::Unsubscribe, Purpose::Change];

    /// The purpose stored as `word`.
    pub fn from_word(word: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == word)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token praxis made (or altered).
    #[error("the confirmation code is not valid")]
    Forged,
    /// Made for another address, community or action.
    #[error("the confirmation code was made for another address or request")]
    WrongSubject,
    /// Past its lifetime.
    #[error("the confirmation code has expired; send the request again")]
    Expired,
}

fn mac(
    secret: &[u8],
    community: &str,
    email: &str,
    purpose: &str,
    expires: i64,
    nonce: &str,
) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    // Length-prefixed fields: no two different inputs sign the same bytes.
    for field in [
        community.as_bytes(),
        email.to_ascii_lowercase().as_bytes(),
        purpose.as_bytes(),
        expires.to_string().as_bytes(),
        nonce.as_bytes(),
    ] {
        m.update(&(field.len() as u32).to_be_bytes());
        m.update(field);
    }
    m
}

/// Makes a token. `nonce` must be fresh random bytes.
pub fn issue(
    secret: &[u8],
    community: &str,
    email: &str,
    purpose: Purpose,
    now: i64,
    nonce: &[u8],
) -> String {
    issue_for(secret, community, email, purpose.as_str(), now, nonce)
}

/// What a moderation token signs: deciding this one post.
fn moderation_purpose(post: i64) -> String {
    format!("moderate {post}")
}

/// Makes a token with which the moderator `email` decides held `post` by
/// replying to its notice (`LOCAL-request+mod-TOKEN@`).
pub fn issue_moderation(
    secret: &[u8],
    community: &str,
    email: &str,
    post: i64,
    now: i64,
    nonce: &[u8],
) -> String {
    issue_for(
        secret,
        community,
        email,
        &moderation_purpose(post),
        now,
        nonce,
    )
}

/// Checks a moderation token for this community, moderator and post.
pub fn verify_moderation(
    secret: &[u8],
    token: &str,
    community: &str,
    email: &str,
    post: i64,
    now: i64,
) -> Result<(), TokenError> {
    verify_for(
        secret,
        token,
        community,
        email,
        &moderation_purpose(post),
        now,
    )
}

fn issue_for(
    secret: &[u8],
    community: &str,
    email: &str,
    purpose: &str,
    now: i64,
    nonce: &[u8],
) -> String {
    let expires = now + LIFETIME_SECS;
    let nonce = hex::encode(nonce);
    let mac = mac(secret, community, email, purpose, expires, &nonce)
        .finalize()
        .into_bytes();
    format!("{expires:x}.{nonce}.{}", hex::encode(&mac[..MAC_BYTES]))
}

/// Checks a token for this community, address and action at `now`.
pub fn verify(
    secret: &[u8],
    token: &str,
    community: &str,
    email: &str,
    purpose: Purpose,
    now: i64,
) -> Result<(), TokenError> {
    verify_for(secret, token, community, email, purpose.as_str(), now)
}

fn verify_for(
    secret: &[u8],
    token: &str,
    community: &str,
    email: &str,
    purpose: &str,
    now: i64,
) -> Result<(), TokenError> {
    let token = token.trim().to_ascii_lowercase();
    let mut parts = token.split('.');
    let (Some(exp), Some(nonce), Some(mac_hex), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Forged);
    };
    let expires = i64::from_str_radix(exp, 16).map_err(|_| TokenError::Forged)?;
    let given = hex::decode(mac_hex).map_err(|_| TokenError::Forged)?;
    // verify_truncated_left compares in constant time.
    if mac(secret, community, email, purpose, expires, nonce)
        .verify_truncated_left(&given)
        .is_err()
        || given.len() != MAC_BYTES
    {
        // Tell a token for someone else from garbage, for a helpful reply.
        return Err(
            if given.len() == MAC_BYTES && nonce.len() == 2 * NONCE_BYTES {
                TokenError::WrongSubject
            } else {
                TokenError::Forged
            },
        );
    }
    if now > expires {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod moderation_tests {
    use super::*;

    #[test]
    fn a_moderation_token_decides_its_own_post_for_its_own_moderator() {
        let (key, t0) = (b"secret".as_slice(), 1_800_000_000);
        let t = issue_moderation(
            key,
            "health",
            "Meera@Example.org",
            12,
            t0,
            &[1u8; NONCE_BYTES],
        );
        assert!(t.len() <= 64 - "list-request+mod-".len(), "{t}");
        assert_eq!(
            verify_moderation(key, &t, "health", "meera@example.org", 12, t0),
            Ok(())
        );
        for (community, email, post) in [
            ("health", "eve@example.org", 12),
            ("health", "meera@example.org", 13),
            ("education", "meera@example.org", 12),
        ] {
            assert_eq!(
                verify_moderation(key, &t, community, email, post, t0),
                Err(TokenError::WrongSubject)
            );
        }
        assert_eq!(
            verify(
                key,
                &t,
                "health",
                "meera@example.org",
                Purpose::Subscribe,
                t0
            ),
            Err(TokenError::WrongSubject),
            "no confirmation code"
        );
        assert_eq!(
            verify_moderation(
                key,
                &t,
                "health",
                "meera@example.org",
                12,
                t0 + LIFETIME_SECS + 1
            ),
            Err(TokenError::Expired)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a secret only praxis knows";
    const NONCE: &[u8] = &[7u8; NONCE_BYTES];
    const T0: i64 = 1_800_000_000;

    #[test]
    fn a_token_confirms_its_own_request_only() {
        let t = issue(
            KEY,
            "health",
            "Alice@Example.org",
            Purpose::Subscribe,
            T0,
            NONCE,
        );
        assert_eq!(
            verify(
                KEY,
                &t,
                "health",
                "alice@example.org",
                Purpose::Subscribe,
                T0 + 60
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                KEY,
                &t.to_uppercase(),
                "health",
                "alice@example.org",
                Purpose::Subscribe,
                T0
            ),
            Ok(())
        );
        let wrong = [
            ("health", "mallory@example.org", Purpose::Subscribe),
            ("education", "alice@example.org", Purpose::Subscribe),
            ("health", "alice@example.org", Purpose::Unsubscribe),
        ];
        for (c, e, p) in wrong {
            assert_eq!(
                verify(KEY, &t, c, e, p, T0),
                Err(TokenError::WrongSubject),
                "{c} {e} {p:?}"
            );
        }
    }

    #[test]
    fn tokens_fit_an_address_tag() {
        let t = issue(
            KEY,
            "health",
            "alice@example.org",
            Purpose::Subscribe,
            T0,
            NONCE,
        );
        assert_eq!(t.len(), 38, "{t}");
        assert!(t.chars().all(|c| c.is_ascii_hexdigit() || c == '.'));
    }

    #[test]
    fn forged_altered_and_expired_tokens_are_refused() {
        let t = issue(
            KEY,
            "health",
            "alice@example.org",
            Purpose::Subscribe,
            T0,
            NONCE,
        );
        assert_eq!(
            verify(
                b"another key",
                &t,
                "health",
                "alice@example.org",
                Purpose::Subscribe,
                T0
            ),
            Err(TokenError::WrongSubject)
        );
        // Extending the expiry breaks the MAC.
        let (exp, rest) = t.split_once('.').unwrap();
        let later = format!(
            "{:x}.{rest}",
            i64::from_str_radix(exp, 16).unwrap() + 86_400
        );
        assert!(
            verify(
                KEY,
                &later,
                "health",
                "alice@example.org",
                Purpose::Subscribe,
                T0
            )
            .is_err()
        );
        for junk in ["", "abc", "1.2.3.4", "zz.zz.zz", "ffff.00.00"] {
            assert_eq!(
                verify(
                    KEY,
                    junk,
                    "health",
                    "alice@example.org",
                    Purpose::Subscribe,
                    T0
                ),
                Err(TokenError::Forged),
                "{junk}"
            );
        }
        assert_eq!(
            verify(
                KEY,
                &t,
                "health",
                "alice@example.org",
                Purpose::Subscribe,
                T0 + LIFETIME_SECS + 1
            ),
            Err(TokenError::Expired)
        );
    }
}
