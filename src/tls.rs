//! Whom a TLS client trusts: the system's roots plus the certificates of an
//! operator's `ca_file` (a private CA, an internal relay's own certificate).
//!
//! One place for both clients that speak TLS — the SMTP sender
//! (`smtp.ca_file`) and the IMAP watcher (`[community.imap] ca_file`) — and
//! for `praxis check`, which reads the same file the same way, so a file
//! that passes the check is the file the connection uses. The handshake
//! itself stays with each client (`deliver::smtp`, `ingest::imap`);
//! [`explain`] turns a refused certificate into a sentence naming the key
//! that fixes it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The certificates in a PEM file, each checked to be usable as a trust
/// anchor. An error says what is wrong with the file, naming it; the
/// caller adds the config key and the fix.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| format!("{} is not valid PEM: {e}", path.display()))?;
        // A trust anchor is parsed out of the certificate: a block that is
        // not one fails here, not at the first handshake.
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| {
                format!(
                    "{} holds a certificate that cannot be used: {e}",
                    path.display()
                )
            })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (no -----BEGIN CERTIFICATE----- block)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The system's roots, read once per process at the first TLS client
/// made: reading and parsing /etc/ssl/certs (about 140 files) took tens of
/// milliseconds, once per IMAP reconnect and before a sender's first copy.
fn system_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        // A system store with a broken certificate still yields the others.
        for cert in rustls_native_certs::load_native_certs().certs {
            roots.add(cert).ok();
        }
        roots
    })
}

/// A client configuration trusting the system's roots and, with
/// `ca_file`, the certificates in it too.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let extra = match ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    client_config_trusting(&extra)
}

/// A client configuration trusting the system's roots and `extra`
/// (certificates already read with [`read_ca_file`], which checked each).
pub fn client_config_trusting(
    extra: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = system_roots().clone();
    for cert in extra {
        roots.add(cert.clone()).map_err(|e| format!("TLS: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a handshake failed, as an operator reads it. A certificate refused
/// because nobody it trusts signed it names `key` (e.g. `smtp.ca_file`)
/// as the fix; a certificate for another name says to connect by a name
/// it holds.
pub fn explain(e: &std::io::Error, host: &str, key: &str) -> String {
    use rustls::{CertificateError, Error};
    let Some(Error::InvalidCertificate(cert)) = e.get_ref().and_then(|i| i.downcast_ref::<Error>())
    else {
        return e.to_string();
    };
    match cert {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
            "the certificate of {host} is not trusted ({e}); \
             if it is signed by a private CA, set {key} to that CA's certificate (a PEM file)"
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the certificate of {host} is not valid for that name ({e}); \
                 use a host name the certificate lists"
            )
        }
        _ => format!("the certificate of {host} was refused ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just some text\n").unwrap();
        let err = read_ca_file(&empty).unwrap_err();
        assert!(err.contains("no certificate"), "{err}");
        let missing = dir.path().join("missing.pem");
        let err = read_ca_file(&missing).unwrap_err();
        assert!(
            err.contains("cannot read") && err.contains("missing.pem"),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(read_ca_file(&junk).is_err());
    }

    #[test]
    fn an_unknown_issuer_names_the_key() {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let text = explain(&e, "relay.example:25", "smtp.ca_file");
        assert!(
            text.contains("not trusted") && text.contains("set smtp.ca_file"),
            "{text}"
        );
        let other = std::io::Error::other("connection reset");
        assert!(!explain(&other, "h", "smtp.ca_file").contains("ca_file"));
    }
}
