//! Where secrets come from (`*_env` or `*_file`, never inline) and the rule
//! that a secret file is readable by its owner only.

use std::path::{Path, PathBuf};

use super::{Config, Problem};

/// Where a secret comes from: an environment variable or a file, never inline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secret {
    /// The name of the environment variable holding it.
    pub env: Option<String>,
    /// A file whose first line is it.
    pub file: Option<PathBuf>,
}

impl Secret {
    /// Whether a source is configured at all.
    pub fn is_configured(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }

    /// Reads the secret now. `key` names the config key in errors; the
    /// value never appears in an error.
    pub fn resolve(&self, key: &str) -> Result<Option<String>, String> {
        if let Some(var) = &self.env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(format!(
                    "{key}_env names the environment variable {var}, which is not set; export it before starting praxis"
                )),
            };
        }
        if let Some(path) = &self.file {
            check_private_file(path).map_err(|e| format!("{key}_file: {e}"))?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{key}_file: cannot read {}: {e}", path.display()))?;
            return Ok(Some(text.lines().next().unwrap_or("").to_string()));
        }
        Ok(None)
    }
}

/// Refuses a secret file that other users can read.
pub fn check_private_file(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

/// Every file-based secret: the daemon refuses to start, and `check`
/// fails, while another user can read one.
pub(super) fn validate(config: &Config) -> Vec<Problem> {
    let mut p = Vec::new();
    for (key, path) in config.key_files() {
        if path.exists()
            && let Err(e) = check_private_file(&path)
        {
            p.push(Problem::new(
                key,
                e,
                "make the file readable only by the user praxis runs as (chmod 600 FILE)",
            ));
        }
    }
    p
}
