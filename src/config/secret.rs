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

/// Every secret the config names by environment variable: (key, variable).
pub fn secret_envs(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(v) = &config.smtp.password_env {
        out.push(("smtp.password_env".to_string(), v.clone()));
    }
    if let Some(v) = &config.delivery.link_secret_env {
        out.push(("delivery.link_secret_env".to_string(), v.clone()));
    }
    for c in &config.communities {
        if let Some(v) = c.imap.as_ref().and_then(|i| i.password_env.as_ref()) {
            out.push((
                format!("community[{}].imap.password_env", c.slug),
                v.clone(),
            ));
        }
    }
    out
}

/// The `*_env` keys whose variable is unset or empty where `praxis check`
/// runs (`env` reads the environment; a test passes its own). Not part of
/// loading: a moderator's shell need not hold the daemon's secrets, but
/// `check` is run before starting the daemon, in its environment.
pub fn unset_envs(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<Problem> {
    secret_envs(config)
        .into_iter()
        .filter(|(_, var)| env(var).is_none_or(|v| v.is_empty()))
        .map(|(key, var)| {
            Problem::new(
                key,
                format!("names the environment variable {var}, which is not set here"),
                format!(
                    "export {var} in the environment praxis runs in (systemd: Environment= or EnvironmentFile=), or use the matching *_file key"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_password_env_is_a_problem_with_its_key() {
        let (config, problems) = Config::parse(
            concat!(
                "[smtp]\nusername = \"praxis\"\npassword_env = \"PX_SMTP_PW\"\n",
                "[[community]]\nslug = \"wash\"\nname = \"Water\"\naddress = \"wash@example.test\"\n",
            ),
            Path::new("praxis.toml"),
            &|_| None,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let unset = unset_envs(&config, &|_| None);
        assert_eq!(unset.len(), 1);
        assert_eq!(unset[0].key, "smtp.password_env");
        assert!(
            unset[0].message.contains("PX_SMTP_PW"),
            "{}",
            unset[0].message
        );
        let empty = unset_envs(&config, &|_| Some(String::new()));
        assert_eq!(empty.len(), 1, "an empty variable is as good as unset");
        assert!(unset_envs(&config, &|_| Some("s3cret".into())).is_empty());
    }
}
