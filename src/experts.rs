//! Who knows what: members ranked by the evidence that they can answer a
//! text — their responses in the threads most like it (more when a
//! Consolidated Reply credited them, less as they age) and the interests
//! they gave — each with the reasons. Pure: the store gathers the facts.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One earlier thread like the text, as the related search scored it.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    /// The thread's id.
    pub thread: i64,
    /// Its subject.
    pub subject: String,
    /// How like the text it is (any positive scale; only ratios matter).
    pub score: f64,
}

/// A member's response in one of the similar threads.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The thread.
    pub thread: i64,
    /// The member's address.
    pub email: String,
    /// When they responded, Unix seconds.
    pub at: i64,
    /// Whether a published Consolidated Reply of the thread credits it.
    pub credited: bool,
}

/// A member as the ranking names them, with the interests they gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Their address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their organisation.
    pub organisation: String,
    /// What they said they know about (comma-separated).
    pub interests: String,
}

/// One thread that counts for a member.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Because {
    /// The thread's id.
    pub thread: i64,
    /// Its subject.
    pub subject: String,
    /// Whether a Consolidated Reply credited them in it.
    pub credited: bool,
}

/// A member ranked, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expert {
    /// Their address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their organisation.
    pub organisation: String,
    /// The evidence summed; higher is stronger, comparable within one list.
    pub score: f64,
    /// The similar threads they responded in, most alike first.
    pub threads: Vec<Because>,
    /// The interests they gave that the text mentions.
    pub interests: Vec<String>,
}

/// What a response in the most alike thread is worth; others in proportion.
const RESPONSE: f64 = 1.0;
/// The factor when a Consolidated Reply credited the response.
const CREDITED: f64 = 1.5;
/// Years after which a response counts half.
const HALF_LIFE_YEARS: f64 = 2.0;
/// The least an old response still counts, as a share.
const OLDEST_SHARE: f64 = 0.25;
/// What each interest the text mentions is worth.
const INTEREST: f64 = 0.8;
/// At most this many interests count.
const INTERESTS_COUNTED: usize = 2;

/// The words of `text` as interests are matched: lowercased, letters and
/// digits only, three characters or more.
pub fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect()
}

/// The interests in `given` (comma- or semicolon-separated) whose every
/// word of three letters or more is among `words`.
fn matching(given: &str, words: &BTreeSet<String>) -> Vec<String> {
    given
        .split([',', ';'])
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .filter(|i| {
            let need = self::words(i);
            !need.is_empty() && need.iter().all(|w| words.contains(w))
        })
        .map(str::to_string)
        .collect()
}

/// Ranks `candidates` for a text with these `words`, from the threads
/// like it and the responses in them, at `now`; members with no evidence
/// are left out, at most `limit` returned, strongest first.
pub fn rank(
    similar: &[Similar],
    contributions: &[Contribution],
    candidates: &[Candidate],
    words: &BTreeSet<String>,
    now: i64,
    limit: usize,
) -> Vec<Expert> {
    let best = similar.iter().map(|s| s.score).fold(0.0, f64::max);
    let like: BTreeMap<i64, &Similar> = similar.iter().map(|s| (s.thread, s)).collect();
    // Each member's best response per thread.
    let mut per: BTreeMap<&str, BTreeMap<i64, (f64, bool)>> = BTreeMap::new();
    for c in contributions {
        let Some(s) = like.get(&c.thread).filter(|_| best > 0.0) else {
            continue;
        };
        let years = (now - c.at).max(0) as f64 / (365.25 * 86_400.0);
        let recency = 0.5f64.powf(years / HALF_LIFE_YEARS).max(OLDEST_SHARE);
        let worth = RESPONSE * (s.score / best) * recency * if c.credited { CREDITED } else { 1.0 };
        let slot = per
            .entry(c.email.as_str())
            .or_default()
            .entry(c.thread)
            .or_insert((0.0, false));
        slot.0 = slot.0.max(worth);
        slot.1 |= c.credited;
    }
    let mut ranked: Vec<Expert> = candidates
        .iter()
        .filter_map(|m| {
            let threads = per.get(m.email.as_str());
            let interests = matching(&m.interests, words);
            let from_threads: f64 = threads.map_or(0.0, |t| t.values().map(|(w, _)| w).sum());
            let from_interests = INTEREST * interests.len().min(INTERESTS_COUNTED) as f64;
            let score = from_threads + from_interests;
            if score <= 0.0 {
                return None;
            }
            let mut because: Vec<(f64, Because)> = threads
                .into_iter()
                .flatten()
                .map(|(t, (_, credited))| {
                    let s = like[t];
                    (
                        s.score,
                        Because {
                            thread: *t,
                            subject: s.subject.clone(),
                            credited: *credited,
                        },
                    )
                })
                .collect();
            because.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.thread.cmp(&b.1.thread)));
            Some(Expert {
                email: m.email.clone(),
                name: m.name.clone(),
                organisation: m.organisation.clone(),
                score: (score * 1000.0).round() / 1000.0,
                threads: because.into_iter().map(|(_, b)| b).collect(),
                interests,
            })
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.email.cmp(&b.email)));
    ranked.truncate(limit);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    const YEAR: i64 = 31_557_600;

    fn member(email: &str, interests: &str) -> Candidate {
        Candidate {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            organisation: String::new(),
            interests: interests.into(),
        }
    }

    fn said(thread: i64, email: &str, at: i64, credited: bool) -> Contribution {
        Contribution {
            thread,
            email: email.into(),
            at,
            credited,
        }
    }

    #[test]
    fn responses_in_alike_threads_credits_recency_and_interests_rank_members() {
        let now = 10 * YEAR;
        let similar = [
            Similar {
                thread: 1,
                subject: "Solar fridges".into(),
                score: 10.0,
            },
            Similar {
                thread: 2,
                subject: "Cold boxes".into(),
                score: 5.0,
            },
        ];
        let contributions = [
            // arjun: credited in the most alike thread, recently.
            said(1, "arjun@x", now - YEAR / 12, true),
            // fatima: the same thread, not credited, four years ago.
            said(1, "fatima@x", now - 4 * YEAR, false),
            // ravi: the less alike thread, twice (counts once), recent.
            said(2, "ravi@x", now - YEAR / 12, false),
            said(2, "ravi@x", now - YEAR / 6, false),
            // A thread not like the text counts nothing.
            said(9, "nobody@x", now, true),
        ];
        let members = [
            member("arjun@x", ""),
            member("fatima@x", ""),
            member("ravi@x", ""),
            member("nobody@x", "knitting"),
            member("lakshmi@x", "cold chain, solar fridges, vaccines"),
        ];
        let words = words("Which solar fridges keep vaccines cold in the chain?");
        let ranked = rank(&similar, &contributions, &members, &words, now, 10);
        let order: Vec<(&str, f64)> = ranked.iter().map(|e| (e.email.as_str(), e.score)).collect();
        // arjun 1.0 × 1.5 × 0.5^(1/24) = 1.457; lakshmi: three interests
        // match, two count: 1.6; fatima 1.0 × 0.25 (4 years: 0.5^2) = 0.25;
        // ravi 0.5 × 0.971 = 0.486.
        assert_eq!(
            order,
            [
                ("lakshmi@x", 1.6),
                ("arjun@x", 1.457),
                ("ravi@x", 0.486),
                ("fatima@x", 0.25),
            ]
        );
        assert_eq!(
            ranked[1].threads,
            [Because {
                thread: 1,
                subject: "Solar fridges".into(),
                credited: true
            }]
        );
        assert_eq!(
            ranked[0].interests,
            ["cold chain", "solar fridges", "vaccines"]
        );
        assert_eq!(
            rank(&similar, &contributions, &members, &words, now, 1).len(),
            1
        );
    }
}
