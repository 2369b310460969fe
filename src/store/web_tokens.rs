//! Single-use web links: a sign-in link carries its own signature and
//! expiry; the store remembers which ones were used (by digest), so the
//! same link signs nobody in twice. Also reading a pending confirmation
//! without taking it, for the web's confirm page (a GET changes nothing).

use sha2::{Digest, Sha256};

use super::engine::{Queries, params};
use super::{Confirmation, Result, Store, StoreError};
use crate::model::CommunityId;

/// The digest a token is recorded under (never the token itself).
fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Store {
    /// Marks a single-use web token used. `Conflict` when it already was;
    /// rows past their expiry are cleared on the way.
    pub fn use_web_token(&mut self, token: &str, expires_at: i64, now: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM web_tokens WHERE expires_at < ?1", params![now])?;
        let n = tx.execute(
            "INSERT INTO web_tokens (digest, used_at, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (digest) DO NOTHING",
            params![digest(token), now, expires_at],
        )?;
        tx.commit()?;
        if n == 0 {
            return Err(StoreError::Conflict(
                "this link was already used; ask for a new one".into(),
            ));
        }
        Ok(())
    }

    /// Whether a single-use web token was used already.
    pub fn web_token_used(&self, token: &str) -> Result<bool> {
        self.conn.query_one(
            "SELECT EXISTS (SELECT 1 FROM web_tokens WHERE digest = ?1)",
            params![digest(token)],
            |r| r.get(0),
        )
    }

    /// A confirmation still waiting for its answer (not used, not expired),
    /// read without taking it; None otherwise.
    pub fn pending_confirmation(
        &self,
        community: CommunityId,
        token: &str,
        now: i64,
    ) -> Result<Option<Confirmation>> {
        self.conn.query_opt(
            "SELECT email, action, expires_at, commands FROM confirmations
             WHERE digest = ?1 AND community_id = ?2 AND used_at IS NULL AND expires_at > ?3",
            params![super::confirmations::digest(token), community.0, now],
            |r| {
                Ok(Confirmation {
                    community,
                    email: r.get(0)?,
                    action: r.get(1)?,
                    expires_at: r.get(2)?,
                    commands: r.get(3)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_web_token_is_used_once() {
        let mut s = Store::open_in_memory().unwrap();
        assert!(!s.web_token_used("t").unwrap());
        s.use_web_token("t", 200, 100).unwrap();
        assert!(s.web_token_used("t").unwrap());
        assert!(matches!(
            s.use_web_token("t", 200, 101),
            Err(StoreError::Conflict(_))
        ));
        s.use_web_token("u", 200, 100).unwrap();
    }
}
