//! `[community.web]`: who may read a community's archive on the web and see
//! its health figures, and the language its pages are marked with.

use serde::{Deserialize, Serialize};

use super::Problem;

/// Who may read a community's archive at `/c/SLUG/…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveAccess {
    /// Anyone: the repertoire is the community's public face (addresses
    /// still never shown).
    Public,
    /// Signed-in members (and moderators): the default, as a list's
    /// archive is its members' unless the owner says otherwise.
    #[default]
    Members,
    /// Only the community's moderators and owners.
    Moderators,
}

/// `[community.web]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Who may read the archive.
    pub archive: ArchiveAccess,
    /// Who may see the community's health figures at `/c/SLUG/health`
    /// (default: its moderators; `praxis stats` shows them to operators).
    pub health: ArchiveAccess,
    /// The BCP 47 language of the community's pages (`lang` on `<html>`),
    /// so screen readers and hyphenation follow it (e.g. `hi`, `ta`).
    pub lang: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            archive: ArchiveAccess::Members,
            health: ArchiveAccess::Moderators,
            lang: "en".into(),
        }
    }
}

/// Whether `lang` looks like a BCP 47 tag (letters, digits and dashes,
/// starting with 2–3 letters).
fn valid_lang(lang: &str) -> bool {
    let mut parts = lang.split('-');
    let first = parts.next().unwrap_or("");
    (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The checks for one community's `[community.web]`.
pub(super) fn validate(at: &str, web: &WebConfig, problems: &mut Vec<Problem>) {
    if !valid_lang(&web.lang) {
        problems.push(Problem::new(
            format!("{at}.web.lang"),
            format!("`{}` is not a language tag", web.lang),
            "use a BCP 47 tag such as \"en\", \"hi\" or \"ta-IN\"",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::valid_lang;

    #[test]
    fn language_tags() {
        for ok in ["en", "hi", "ta-IN", "zh-Hant-TW"] {
            assert!(valid_lang(ok), "{ok}");
        }
        for bad in ["", "e", "english", "en_US", "hi-", "<x>"] {
            assert!(!valid_lang(bad), "{bad}");
        }
    }
}
