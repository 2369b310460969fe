//! `[[community]]`: one list's keys, its time zone and working calendar
//! (typed as they are read, so an invalid one is a problem at its key, never
//! a silent fallback) and its template overrides.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    CommunityDelivery, DigestConfig, DkimConfig, ImapConfig, PolicyConfig, Problem, WebConfig,
    digest, imap, invalid, policy, split_address, web,
};
use crate::consolidate::deadline::WorkingCalendar;
use crate::digest::schedule::parse_weekday;

/// `[[community]]`: one list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CommunityConfig {
    /// Short name used on the command line and in the subject prefix.
    pub slug: String,
    /// Full name shown to people.
    pub name: String,
    /// The list's posting address.
    pub address: String,
    /// IANA time zone for deadlines and schedules, e.g. `Asia/Kolkata`:
    /// "Tuesday" and "07:00" are the community's, not the server's.
    #[serde(with = "tz_name")]
    pub timezone: Tz,
    /// Working days a query has before its Consolidated Reply is due.
    pub reply_within_working_days: u32,
    /// Moderators are reminded when a query has this many working days left
    /// (0: only when overdue), and again once it is overdue.
    pub remind_working_days_before: u32,
    /// Days of the week that are not working days (`sat`, `sunday`, ...),
    /// so a deadline counts only the days people answer.
    #[serde(with = "weekday_names")]
    pub weekend: Vec<Weekday>,
    /// Dates (YYYY-MM-DD) that are not working days: public holidays and
    /// closures, skipped like the weekend.
    #[serde(with = "date_list")]
    pub holidays: Vec<NaiveDate>,
    /// The IMAP mailbox, when the community is fed over IMAP.
    pub imap: Option<ImapConfig>,
    /// The posting policy.
    pub policy: PolicyConfig,
    /// The digest schedule.
    pub digest: DigestConfig,
    /// A folder whose files replace built-in templates at the same path
    /// (`notices/reject.hbs`, `digest/digest.html.hbs`, ...), relative to the
    /// config file's folder.
    pub templates: Option<PathBuf>,
    /// How outgoing mail looks: prefix, Reply-To, DMARC, footer, links, rate.
    pub delivery: CommunityDelivery,
    /// DKIM signing, when a key is configured.
    pub dkim: Option<DkimConfig>,
    /// `[community.web]`: who may read the archive, the pages' language.
    pub web: WebConfig,
}

impl Default for CommunityConfig {
    fn default() -> Self {
        Self {
            slug: String::new(),
            name: String::new(),
            address: String::new(),
            timezone: chrono_tz::UTC,
            reply_within_working_days: 10,
            remind_working_days_before: 2,
            weekend: vec![Weekday::Sat, Weekday::Sun],
            holidays: Vec::new(),
            imap: None,
            policy: PolicyConfig::default(),
            digest: DigestConfig::default(),
            templates: None,
            delivery: CommunityDelivery::default(),
            dkim: None,
            web: WebConfig::default(),
        }
    }
}

impl CommunityConfig {
    /// The community's working calendar: its time zone, weekend and
    /// holidays, already typed, so building it parses nothing.
    pub fn calendar(&self) -> WorkingCalendar {
        WorkingCalendar::new(
            self.timezone,
            self.weekend.clone(),
            self.holidays.iter().copied(),
        )
    }

    /// The local part and domain of the list address.
    pub fn address_parts(&self) -> Option<(&str, &str)> {
        split_address(&self.address)
    }

    /// A community's template overrides: (template name, text) for every file
    /// in its `templates` folder, or the problems found (unknown files,
    /// unreadable files, templates that do not compile).
    pub fn template_overrides(&self) -> Result<Vec<(String, String)>, Vec<Problem>> {
        let c = self;
        let Some(dir) = c.templates.clone() else {
            return Ok(Vec::new());
        };
        let key = format!("community[{}].templates", c.slug);
        let problem = |message: String, fix: &str| Problem {
            key: key.clone(),
            message,
            fix: fix.to_string(),
        };
        if !dir.is_dir() {
            return Err(vec![problem(
                format!("{} is not a folder", dir.display()),
                "create it, or remove the key to use the built-in templates",
            )]);
        }
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| {
                vec![problem(
                    format!("cannot read {}: {e}", d.display()),
                    "check its permissions",
                )]
            })?;
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "hbs") {
                    files.push(p);
                }
            }
        }
        files.sort();
        let known: Vec<&str> = crate::render::BUILT_IN.iter().map(|(_, f)| *f).collect();
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for f in files {
            let rel = f
                .strip_prefix(&dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .replace('\\', "/");
            let Some(name) = crate::render::name_for_file(&rel) else {
                problems.push(problem(
                    format!("{rel} does not replace any template"),
                    &format!("name it as one of: {}", known.join(", ")),
                ));
                continue;
            };
            match std::fs::read_to_string(&f) {
                Ok(text) => match crate::render::validate(name, &text) {
                    Ok(()) => out.push((name.to_string(), text)),
                    Err(e) => problems.push(problem(
                        format!("{rel}: {}", e.detail),
                        "correct the handlebars syntax",
                    )),
                },
                Err(e) => problems.push(problem(
                    format!("cannot read {rel}: {e}"),
                    "check its permissions",
                )),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// The templates a community's mail is written with: the built-ins with
    /// its overrides. A folder that became invalid since `check` falls back
    /// to the built-ins, with a warning.
    pub fn templates(&self) -> crate::render::Templates {
        let c = self;
        match self
            .template_overrides()
            .map(|o| crate::render::Templates::with_overrides(&o))
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::warn!("community {}: {e}; using the built-in templates", c.slug);
                crate::render::Templates::new()
            }
            Err(problems) => {
                for p in problems {
                    tracing::warn!("{p}; using the built-in templates");
                }
                crate::render::Templates::new()
            }
        }
    }

    /// A community's override of one template, if it has a valid one.
    pub fn template_override(&self, name: &str) -> Option<String> {
        self.template_overrides()
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }
}

/// A time zone as its IANA name in the file.
mod tz_name {
    use super::*;

    pub fn serialize<S: Serializer>(tz: &Tz, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(de)?;
        name.parse::<Tz>().map_err(|_| {
            let example = nearest_zone(&name).unwrap_or("Asia/Kolkata, Europe/Paris or UTC");
            invalid(
                format!("`{name}` is not an IANA time zone"),
                &format!("write an IANA name, e.g. {example}"),
            )
        })
    }
}

/// The IANA zone whose name is closest to `name` (a typo, a wrong case),
/// when one is close enough to be what was meant.
fn nearest_zone(name: &str) -> Option<&'static str> {
    let want = name.to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                edit_distance(&want, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|(d, _)| *d <= 3.min(want.len() / 3 + 1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance over bytes (zone names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Weekdays as their names in the file (`sat`, `sunday`, ...), written back
/// as three lowercase letters.
mod weekday_names {
    use super::*;

    pub fn serialize<S: Serializer>(days: &[Weekday], ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(days.iter().map(|d| d.to_string().to_ascii_lowercase()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<Weekday>, D::Error> {
        let names = Vec::<String>::deserialize(de)?;
        let bad: Vec<String> = names
            .iter()
            .filter(|n| parse_weekday(n).is_none())
            .map(|n| format!("`{n}`"))
            .collect();
        if !bad.is_empty() {
            return Err(invalid(
                format!(
                    "{} {} not a day of the week",
                    bad.join(", "),
                    if bad.len() == 1 { "is" } else { "are" }
                ),
                "use mon, tue, wed, thu, fri, sat or sun",
            ));
        }
        Ok(names.iter().filter_map(|n| parse_weekday(n)).collect())
    }
}

/// Dates as `YYYY-MM-DD` in the file.
mod date_list {
    use super::*;

    pub fn serialize<S: Serializer>(dates: &[NaiveDate], ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(dates.iter().map(|d| d.format("%Y-%m-%d").to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<NaiveDate>, D::Error> {
        let texts = Vec::<String>::deserialize(de)?;
        let mut dates = Vec::new();
        let mut bad = Vec::new();
        for t in &texts {
            match NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d") {
                Ok(d) => dates.push(d),
                Err(_) => bad.push(format!("`{t}`")),
            }
        }
        if !bad.is_empty() {
            return Err(invalid(
                format!(
                    "{} {} not a date",
                    bad.join(", "),
                    if bad.len() == 1 { "is" } else { "are" }
                ),
                "write dates as YYYY-MM-DD, e.g. 2026-12-25",
            ));
        }
        Ok(dates)
    }
}

/// Whether a slug is usable on the command line and in a subject prefix.
fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The checks for every `[[community]]` and the sections inside each.
pub(super) fn validate(communities: &[CommunityConfig]) -> Vec<Problem> {
    let mut p = Vec::new();
    if communities.is_empty() {
        p.push(Problem::new(
            "community",
            "no community is configured",
            "add a [[community]] section with slug, name and address",
        ));
    }
    let mut slugs = HashSet::new();
    let mut addresses = HashSet::new();
    for (i, c) in communities.iter().enumerate() {
        let mut push =
            |key: String, message: String, fix: &str| p.push(Problem::new(key, message, fix));
        let at = if c.slug.is_empty() {
            format!("community[{i}]")
        } else {
            format!("community[{}]", c.slug)
        };
        if !valid_slug(&c.slug) {
            push(
                format!("{at}.slug"),
                format!("`{}` is not a valid slug", c.slug),
                "use lowercase letters, digits and dashes, starting with a letter or digit",
            );
        } else if !slugs.insert(c.slug.clone()) {
            push(
                format!("{at}.slug"),
                format!("`{}` is used by two communities", c.slug),
                "give each community its own slug",
            );
        }
        if c.name.trim().is_empty() {
            push(
                format!("{at}.name"),
                "is empty".into(),
                "give the community a name people recognise",
            );
        }
        match split_address(&c.address) {
            None => push(
                format!("{at}.address"),
                format!("`{}` is not an email address", c.address),
                "write it as local@domain, e.g. list@example.org",
            ),
            Some(_) => {
                if !addresses.insert(c.address.to_ascii_lowercase()) {
                    push(
                        format!("{at}.address"),
                        format!("`{}` is used by two communities", c.address),
                        "give each community its own address",
                    );
                }
            }
        }
        if !(1..=365).contains(&c.reply_within_working_days) {
            push(
                format!("{at}.reply_within_working_days"),
                format!("{} is out of range", c.reply_within_working_days),
                "use 1 to 365 (10 is usual)",
            );
        }
        if c.weekend.iter().collect::<HashSet<_>>().len() == 7 {
            push(
                format!("{at}.weekend"),
                "every day is a weekend day".into(),
                "leave at least one working day",
            );
        }
        if let Some(imap) = &c.imap {
            p.extend(imap::validate(imap, &at));
        }
        p.extend(policy::validate(&c.policy, &at));
        if let Err(problems) = c.template_overrides() {
            p.extend(problems);
        }
        p.extend(digest::validate(&c.digest, &at));
        web::validate(&at, &c.web, &mut p);
    }
    p
}
