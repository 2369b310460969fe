//! The key that signs confirmation tokens: `[delivery]`'s link secret when
//! configured, else a file beside the database (`<db>.secret`, mode 0600,
//! made on first use). Never stored in the database.

use std::path::PathBuf;

use crate::config::Config;

/// The token key could not be had; the text names the file or key and why.
#[derive(Debug, thiserror::Error)]
#[error("token secret: {0}")]
pub struct SecretError(String);

/// The key that signs confirmation tokens.
pub fn token_secret(config: &Config) -> Result<Vec<u8>, SecretError> {
    if config.delivery.link_secret().is_configured() {
        return config
            .delivery
            .link_secret()
            .resolve("delivery.link_secret")
            .map_err(SecretError)?
            .map(|s| s.into_bytes())
            .ok_or_else(|| SecretError("delivery.link_secret is empty".into()));
    }
    let mut path = config.database_path().into_os_string();
    path.push(".secret");
    let path = PathBuf::from(path);
    if !path.exists() {
        let key = hex::encode(rand::random::<[u8; 32]>());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(key.as_bytes())
                    .map_err(|e| SecretError(format!("cannot write {}: {e}", path.display())))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(SecretError(format!(
                    "cannot create {}: {e}",
                    path.display()
                )));
            }
        }
    }
    crate::config::check_private_file(&path).map_err(SecretError)?;
    std::fs::read_to_string(&path)
        .map(|s| s.trim().as_bytes().to_vec())
        .map_err(|e| SecretError(format!("cannot read {}: {e}", path.display())))
}
