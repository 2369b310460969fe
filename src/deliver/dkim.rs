//! DKIM signing of each copy (RFC 6376) with mail-auth, when a community
//! configures `[community.dkim]`. relaxed/relaxed canonicalisation, so the
//! headers a relay adds or refolds do not break the signature.

use std::path::{Path, PathBuf};

use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

use super::compose::SIGNED_HEADERS;
use crate::config::{DkimConfig, check_private_file};

/// Why a DKIM key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// The key file is readable by others, or cannot be read.
    #[error("DKIM key for community `{community}`: {detail}")]
    File {
        /// The community's slug.
        community: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// The file is not a usable key.
    #[error(
        "DKIM key {path} for community `{community}` is not an RSA or Ed25519 private key in PEM ({detail}); \
         generate one with `openssl genrsa -out KEY 2048` and `chmod 600 KEY`"
    )]
    Key {
        /// The community's slug.
        community: String,
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        detail: String,
    },
    /// Signing failed.
    #[error("DKIM signing failed: {0}")]
    Sign(String),
}

/// A community's DKIM signer.
pub struct Signer {
    /// mail-auth's signer, configured once.
    inner: DkimSigner<DkimKey, Done>,
    /// d=, for logs.
    domain: String,
    /// s=, for logs.
    selector: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer(d={}, s={})", self.domain, self.selector)
    }
}

impl Signer {
    /// Loads the key at `path` (refused unless mode 0600) for `cfg`, signing
    /// as `cfg.domain` or else `list_domain`.
    pub fn load(
        community: &str,
        cfg: &DkimConfig,
        path: &Path,
        list_domain: &str,
    ) -> Result<Signer, DkimError> {
        check_private_file(path).map_err(|detail| DkimError::File {
            community: community.to_string(),
            detail,
        })?;
        let pem = std::fs::read(path).map_err(|e| DkimError::File {
            community: community.to_string(),
            detail: format!("cannot read {}: {e}", path.display()),
        })?;
        let key_err = |detail: String| DkimError::Key {
            community: community.to_string(),
            path: path.to_path_buf(),
            detail,
        };
        let der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| key_err(e.to_string()))?;
        let key: DkimKey = match der {
            PrivateKeyDer::Pkcs1(_) => RsaKey::<Sha256>::from_key_der(der)
                .map_err(|e| key_err(e.to_string()))?
                .into(),
            PrivateKeyDer::Pkcs8(p8) => {
                let bytes = p8.secret_pkcs8_der().to_vec();
                match RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(p8)) {
                    Ok(k) => k.into(),
                    Err(_) => Ed25519Key::from_pkcs8_maybe_unchecked_der(&bytes)
                        .map_err(|e| key_err(e.to_string()))?
                        .into(),
                }
            }
            _ => return Err(key_err("unsupported key type".into())),
        };
        let domain = cfg
            .domain
            .clone()
            .unwrap_or_else(|| list_domain.to_string())
            .to_ascii_lowercase();
        let inner = DkimSigner::from_key(key)
            .domain(domain.clone())
            .selector(cfg.selector.clone())
            .headers(SIGNED_HEADERS.iter().copied())
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed);
        Ok(Signer {
            inner,
            domain,
            selector: cfg.selector.clone(),
        })
    }

    /// The message with a DKIM-Signature header in front.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DkimError> {
        let sig = self
            .inner
            .sign(message)
            .map_err(|e| DkimError::Sign(e.to_string()))?;
        let header = sig.to_header();
        let mut out = Vec::with_capacity(header.len() + message.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }

    /// The signing domain (d=).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The selector (s=).
    pub fn selector(&self) -> &str {
        &self.selector
    }
}
