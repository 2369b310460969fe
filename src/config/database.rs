//! `[database]`: where the SQLite file is.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Problem;

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// The SQLite file, relative to the config file's folder.
    pub path: PathBuf,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: "praxis.db".into(),
        }
    }
}

/// The checks for `[database]`.
pub(super) fn validate(d: &DatabaseConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if d.path.as_os_str().is_empty() {
        p.push(Problem::new(
            "database.path",
            "is empty",
            "name the SQLite file, e.g. path = \"praxis.db\"",
        ));
    }
    p
}
