//! Earlier answers at intake (issue 18), measured: replies of real lists
//! left out of the archive and re-asked in their own words must find their
//! thread among the first three related threads, and queries of a fixture
//! community re-asked in other words must find theirs. Each case set prints
//! precision at 1 and at 3 for praxis's method beside plain BM25 (every word
//! OR'd, no term selection; `RelatedMethod::BASELINE`) on the same cases,
//! and fails below the bar (top 3 for 70% of cases). Also `praxis related`
//! and the "Related:" lines of `praxis show` on the command line.
//!
//! How corpus cases are chosen (nothing here was picked by looking at
//! results): a message is a case when it is a reply (In-Reply-To or
//! References), its Message-ID occurs once in the corpus, its own words
//! (`mail::quote::strip`: no quoted lines, no "X wrote:", no signature)
//! number at least 30, and its text holds no patch (`diff --git`, `+++ `).
//! Within a thread (keyed by its first reference) only every other such
//! reply is taken, so a thread keeps part of what was said; on linux-man
//! every 25th of those, to keep the run short (plain BM25 over every word
//! of a reply reads most of the index: a quarter of a second a case in a
//! debug build). Cases are left out of the
//! imported archive; each is then re-asked with its own words only, the
//! subject "Question" and no references. Its thread is the one the archive
//! placed its nearest referenced message in (In-Reply-To first, then
//! References newest first); a case none of whose references was imported
//! is dropped and counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use praxis::ingest::archive::{Input, read_messages};
use praxis::model::{CommunityId, ThreadId};
use praxis::store::{RelatedMethod, Store};

use crate::support::Home;

/// The retrieval bar: the case's thread among the first three.
const BAR_AT_3: f64 = 0.70;

fn corpora() -> PathBuf {
    crate::support::repo().join("../shared/corpora")
}

/// One re-asked message and where its answer is.
struct Case {
    /// The neutral subject it is asked with.
    subject: String,
    /// Its own words.
    text: String,
    /// The thread that answers it.
    thread: ThreadId,
}

/// A case before import: its own words and the ids it referred to, nearest first.
struct Pending {
    text: String,
    refs: Vec<String>,
}

/// Whether a message's own words are a patch rather than prose.
fn is_patch(text: &str) -> bool {
    text.contains("diff --git") || text.contains("\n+++ ") || text.starts_with("+++ ")
}

/// Reads an mbox; returns the messages to import as one mbox, and the
/// cases left out of it (see the module's doc for the choice). `stride`
/// keeps every `stride`-th chosen case (1 keeps all).
fn split_corpus(path: &Path, stride: usize) -> (Vec<u8>, Vec<Pending>) {
    let mut raws: Vec<Vec<u8>> = Vec::new();
    read_messages::<praxis::ingest::archive::ArchiveError>(
        &Input::Mbox(path.to_path_buf()),
        |raw| {
            raws.push(raw);
            Ok(())
        },
    )
    .unwrap();
    let parsed: Vec<Option<praxis::mail::parse::Parsed>> = raws
        .iter()
        .map(|r| praxis::mail::parse::parse(r).ok())
        .collect();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for p in parsed.iter().flatten() {
        *ids.entry(p.message_id.as_str()).or_default() += 1;
    }
    let mut per_thread: HashMap<String, usize> = HashMap::new();
    let mut chosen = 0usize;
    let mut mbox = Vec::new();
    let mut cases = Vec::new();
    for (raw, p) in raws.iter().zip(&parsed) {
        let case = p.as_ref().and_then(|p| {
            let mut refs: Vec<String> = p.in_reply_to.iter().cloned().collect();
            refs.extend(p.references.iter().rev().cloned());
            let root = p.references.first().or(p.in_reply_to.as_ref())?.clone();
            let own = praxis::mail::quote::strip(&p.text);
            let words = praxis::search_query::words(&own).count();
            let eligible = !p.synthetic_id
                && ids[p.message_id.as_str()] == 1
                && words >= 30
                && !is_patch(&p.text);
            if !eligible {
                return None;
            }
            let n = per_thread.entry(root).or_default();
            *n += 1;
            if n.is_multiple_of(2) {
                return None;
            }
            chosen += 1;
            if !(chosen - 1).is_multiple_of(stride) {
                return None;
            }
            Some(Pending { text: own, refs })
        });
        match case {
            Some(c) => cases.push(c),
            None => {
                mbox.extend_from_slice(b"From praxis@example.test Thu Jan  1 00:00:00 2010\n");
                for line in raw.split_inclusive(|&b| b == b'\n') {
                    // mboxrd: a line that reads as a postmark gains a '>'.
                    if line.iter().skip_while(|&&b| b == b'>').take(5).eq(b"From ") {
                        mbox.push(b'>');
                    }
                    mbox.extend_from_slice(line);
                }
                if !raw.ends_with(b"\n") {
                    mbox.push(b'\n');
                }
                mbox.push(b'\n');
            }
        }
    }
    (mbox, cases)
}

/// Imports `mbox` into community `health` of a fresh home.
pub(crate) fn import(home: &Home, mbox: &[u8]) {
    let file = home.path().join("archive.mbox");
    std::fs::write(&file, mbox).unwrap();
    home.praxis()
        .args(["import", "-c", "health", "--json"])
        .arg(&file)
        .assert()
        .success();
}

fn open(home: &Home) -> (Store, CommunityId) {
    let store = home.store();
    let community = store.community("health").unwrap().id;
    (store, community)
}

/// The pending cases whose thread the archive knows; and how many it did not.
fn placed(store: &Store, community: CommunityId, pending: Vec<Pending>) -> (Vec<Case>, usize) {
    let total = pending.len();
    let cases: Vec<Case> = pending
        .into_iter()
        .filter_map(|p| {
            let thread = p.refs.iter().find_map(|id| {
                store
                    .archive_post(community, id)
                    .unwrap()
                    .map(|post| post.thread)
            })?;
            Some(Case {
                subject: "Question".into(),
                text: p.text,
                thread,
            })
        })
        .collect();
    let dropped = total - cases.len();
    (cases, dropped)
}

/// Precision at 1 and at 3 of `method` on `cases`, and the mean time per query.
fn measure(
    store: &Store,
    community: CommunityId,
    cases: &[Case],
    method: &RelatedMethod,
) -> (f64, f64, std::time::Duration) {
    let (mut at1, mut at3) = (0usize, 0usize);
    let start = std::time::Instant::now();
    for c in cases {
        let found: Vec<ThreadId> = store
            .related_threads(community, &c.subject, &c.text, None, None, 3, method)
            .unwrap()
            .into_iter()
            .map(|t| t.thread_id)
            .collect();
        if found.first() == Some(&c.thread) {
            at1 += 1;
        }
        if found.contains(&c.thread) {
            at3 += 1;
        }
    }
    let n = cases.len().max(1) as f64;
    (
        at1 as f64 / n,
        at3 as f64 / n,
        start.elapsed() / cases.len().max(1) as u32,
    )
}

/// Prints both methods' figures for a case set; fails when praxis's
/// precision at 3 is under the bar.
fn report(name: &str, store: &Store, community: CommunityId, cases: &[Case], note: &str) {
    assert!(cases.len() >= 10, "{name}: only {} cases", cases.len());
    let (p1, p3, t) = measure(store, community, cases, &RelatedMethod::PRAXIS);
    let (b1, b3, bt) = measure(store, community, cases, &RelatedMethod::BASELINE);
    println!(
        "related {name}: {} cases{note}\n  praxis   P@1 {:.3}  P@3 {:.3}  ({:?} per query, debug build)\n  baseline P@1 {:.3}  P@3 {:.3}  ({:?} per query)",
        cases.len(),
        p1,
        p3,
        t,
        b1,
        b3,
        bt
    );
    assert!(
        p3 >= BAR_AT_3,
        "{name}: praxis found the thread in the top 3 for {:.1}% of cases, under {:.0}%",
        p3 * 100.0,
        BAR_AT_3 * 100.0
    );
}

#[test]
fn fedora_devel_replies_find_their_thread() {
    let (mbox, pending) = split_corpus(&corpora().join("fedora-devel-2010-01/2010-January.txt"), 1);
    let home = Home::new();
    import(&home, &mbox);
    let (store, community) = open(&home);
    let (cases, dropped) = placed(&store, community, pending);
    report(
        "fedora-devel-2010-01",
        &store,
        community,
        &cases,
        &format!(" ({dropped} dropped: no referenced message imported)"),
    );
}

#[test]
fn linux_man_replies_find_their_thread() {
    let (mbox, pending) = split_corpus(
        &corpora().join("linux-man-public-inbox/linux-man.mboxrd.gz"),
        25,
    );
    let home = Home::new();
    import(&home, &mbox);
    let (store, community) = open(&home);
    let (cases, dropped) = placed(&store, community, pending);
    report(
        "linux-man",
        &store,
        community,
        &cases,
        &format!(" ({dropped} dropped: no referenced message imported)"),
    );
}

/// A small community of practice: (Message-ID, subject, query, response).
/// Written for this test; each topic has one thread.
const THREADS: &[(&str, &str, &str, &str)] = &[
    (
        "boats",
        "Mobile clinics in flood areas?",
        "Has anyone run mobile clinics in flood-affected districts? Villages are cut off by water for weeks every monsoon.",
        "In Dhemaji we ran boat clinics on the Brahmaputra: each boat carries a doctor, an ANM, a pharmacist and a lab technician, and stops at the same river islands every fortnight.",
    ),
    (
        "coldchain",
        "Vaccine cold chain without electricity",
        "Our sub-centres have power for four hours a day. How do others keep vaccines at the right temperature?",
        "Solar direct-drive refrigerators worked for us; ice-lined refrigerators hold for two days, and vaccine carriers with conditioned ice packs for outreach sessions.",
    ),
    (
        "kangaroo",
        "Kangaroo mother care for low birth weight babies",
        "We want to start kangaroo mother care in the district hospital for low birth weight and preterm babies. Where do we begin?",
        "Start with a KMC ward with reclining chairs, train nurses to coach mothers, and let fathers and grandmothers take turns so the baby stays in skin contact for long hours.",
    ),
    (
        "anaemia",
        "Anaemia among adolescent girls",
        "Half the adolescent girls screened in our block have moderate anaemia. What has worked to bring haemoglobin up?",
        "Weekly iron and folic acid supplementation through schools, with deworming twice a year and a teacher who keeps the register, raised haemoglobin within a year.",
    ),
    (
        "asha",
        "ASHA payments delayed",
        "Our ASHAs wait three or four months for their incentives and some have stopped working. How have other districts handled it?",
        "We moved ASHA incentives to direct bank transfer with a monthly cut-off date, and the block accounts manager publishes the payment status at the sector meeting.",
    ),
    (
        "mdr",
        "Maternal death review in the block",
        "How do we set up maternal death reviews? Families are reluctant to talk to officials after a death.",
        "Community based maternal death review uses verbal autopsy by a trained facilitator who is not from the health department, followed by a facility review with no blame.",
    ),
    (
        "breastfeeding",
        "Exclusive breastfeeding for six months",
        "Mothers here give water, honey and formula from the first weeks. How can we promote exclusive breastfeeding?",
        "Mothers' support groups led by women who breastfed exclusively, counselling at the first immunisation visit, and talking to mothers-in-law made the difference.",
    ),
    (
        "tele",
        "Telemedicine for antenatal care",
        "Has anyone used telemedicine so that pregnant women in remote villages can consult an obstetrician?",
        "Our ANMs use a tablet with a video link to the district obstetrician for high-risk pregnancies; blood pressure and haemoglobin readings are sent before the call.",
    ),
    (
        "diarrhoea",
        "ORS and zinc for childhood diarrhoea",
        "Diarrhoea is still killing young children here. How do we get families to use ORS and zinc?",
        "An ORS-zinc corner at every anganwadi, free co-packaged ORS and zinc distributed by ASHAs before the rains, and demonstrations for mothers during village health days.",
    ),
    (
        "transport",
        "Transport for women in labour",
        "Women in labour in our hill villages cannot reach a facility at night. Which referral transport schemes work?",
        "The 108 ambulance plus a village transport fund: jeep owners are paid a fixed fare per trip to the delivery point, and the ASHA keeps their phone numbers.",
    ),
    (
        "sam",
        "Severe acute malnutrition: NRC or community care?",
        "Should children with severe acute malnutrition go to a nutrition rehabilitation centre or be treated in the community?",
        "Children with complications need the NRC; uncomplicated severe wasting can be treated at home with ready-to-use therapeutic food and weekly weighing by the anganwadi worker.",
    ),
    (
        "pads",
        "Menstrual hygiene and sanitary pads",
        "Girls miss school during their periods. Has anyone organised low-cost sanitary pads?",
        "Self-help groups in our district make low-cost sanitary napkins on a small machine and sell them through schools, with sessions on menstrual hygiene for girls.",
    ),
    (
        "hindi",
        "बाढ़ में स्वास्थ्य शिविर",
        "बाढ़ वाले इलाकों में स्वास्थ्य शिविर कैसे लगाएँ? गाँव हफ़्तों तक पानी से घिरे रहते हैं।",
        "हमने नाव पर स्वास्थ्य शिविर लगाए, दवाइयाँ और डॉक्टर नाव से गाँव तक पहुँचे।",
    ),
    (
        "minutes",
        "Minutes of the quarterly meeting",
        "The minutes of the quarterly meeting of the community are attached. Please send corrections.",
        "Thank you for the minutes; one correction: the next meeting is in Ranchi, not Patna.",
    ),
];

/// Queries re-asked in other words: (subject, text, the thread's query's Message-ID).
const PARAPHRASES: &[(&str, &str, &str)] = &[
    (
        "Reaching submerged hamlets",
        "Every July our district is waterlogged and health workers cannot get to the remote habitations. Has anyone taken care to people by boat, like a floating dispensary?",
        "boats",
    ),
    (
        "Power cuts at the PHC",
        "The power keeps failing at our primary health centre and we worry about the immunisation stock. What equipment keeps the doses safe? Is a solar fridge worth it?",
        "coldchain",
    ),
    (
        "Premature newborns",
        "How did you convince mothers and nursing staff to keep premature newborns skin-to-skin on the mother's chest instead of in the warmer?",
        "kangaroo",
    ),
    (
        "Teenage girls with low haemoglobin",
        "Many teenage girls in our schools have low haemoglobin. Has anyone given weekly iron tablets through the school?",
        "anaemia",
    ),
    (
        "Volunteers paid late",
        "Our village health volunteers get their honorarium months late and many are quitting. How did others fix the delays in their incentives?",
        "asha",
    ),
    (
        "Why do mothers die in childbirth here?",
        "We want to understand why women die during pregnancy and childbirth in our area. How do you run a verbal autopsy with the family?",
        "mdr",
    ),
    (
        "Water and formula at two months",
        "Infants here get water and formula milk by two months. Ideas to keep babies on breast milk alone until six months?",
        "breastfeeding",
    ),
    (
        "Check-ups over video",
        "Can expectant mothers in far-off villages be seen by a gynaecologist over a video call? Who has tried this for high-risk pregnancies?",
        "tele",
    ),
    (
        "Loose motions in children",
        "How do we persuade caregivers to use oral rehydration salts and zinc tablets when children have loose motions?",
        "diarrhoea",
    ),
    (
        "Getting to hospital at night",
        "Pregnant women going into labour at night in the hills have no vehicle to reach the hospital. What ambulance or transport arrangements worked?",
        "transport",
    ),
    (
        "Wasted children under five",
        "For very thin children under five, is home treatment with therapeutic food as good as admitting them?",
        "sam",
    ),
    (
        "Cheap napkins made by women's groups",
        "Has any women's group produced cheap sanitary napkins so that schoolgirls do not stay home during menstruation?",
        "pads",
    ),
    (
        "बाढ़ के गाँवों तक इलाज",
        "पानी से घिरे गाँवों तक डॉक्टर और दवाइयाँ कैसे पहुँचाएँ? क्या किसी ने नाव से शिविर लगाया है?",
        "hindi",
    ),
];

/// The fixture community as one mbox: each query and its response.
fn fixture_mbox() -> Vec<u8> {
    let mut out = String::new();
    for (i, (id, subject, query, response)) in THREADS.iter().enumerate() {
        let day = i + 1;
        out.push_str(&format!(
            "From asha@example.org Mon Nov  2 10:00:00 2026\nFrom: Asha <asha@example.org>\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}@example.org>\nDate: Mon, {day} Nov 2025 10:00:00 +0530\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{query}\n\n"
        ));
        out.push_str(&format!(
            "From ravi@example.org Mon Nov  2 10:00:00 2026\nFrom: Ravi <ravi@example.org>\nTo: list@example.test\nSubject: Re: {subject}\nMessage-ID: <{id}-re@example.org>\nIn-Reply-To: <{id}@example.org>\nReferences: <{id}@example.org>\nDate: Tue, {day} Nov 2025 10:00:00 +0530\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{response}\n\nAsha wrote:\n> {query}\n\n"
        ));
    }
    out.into_bytes()
}

fn fixture_home() -> Home {
    let home = Home::new();
    import(&home, &fixture_mbox());
    home
}

#[test]
fn paraphrased_queries_find_their_thread() {
    let home = fixture_home();
    let (store, community) = open(&home);
    let cases: Vec<Case> = PARAPHRASES
        .iter()
        .map(|(subject, text, id)| Case {
            subject: subject.to_string(),
            text: text.to_string(),
            thread: store
                .archive_post(community, &format!("{id}@example.org"))
                .unwrap()
                .unwrap()
                .thread,
        })
        .collect();
    report(
        "fixture paraphrases",
        &store,
        community,
        &cases,
        " (hand-written, other words)",
    );
}

#[test]
fn related_and_show_on_the_command_line() {
    let home = fixture_home();
    // A new query, asked by mail: it starts a thread.
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(
            "From: Meena <meena@example.org>\nTo: list@example.test\nSubject: Solar fridges for vaccines?\nMessage-ID: <new@example.org>\nDate: Mon, 2 Nov 2026 10:00:00 +0530\n\nDo solar refrigerators keep vaccines cold enough in summer?\n",
        )
        .assert()
        .success();
    let queue = home.json(&["queue", "--json"]);
    let post = queue[0]["id"]
        .as_i64()
        .expect("the new query is held")
        .to_string();
    let (store, community) = open(&home);
    let coldchain = store
        .archive_post(community, "coldchain@example.org")
        .unwrap()
        .unwrap()
        .thread;

    let json = home.json(&["related", &post, "--json"]);
    let first = &json.as_array().unwrap()[0];
    assert_eq!(first["thread_id"], coldchain.0, "{json}");
    assert_eq!(first["link"], format!("/c/health/t/{}", coldchain.0));
    assert_eq!(first["consolidated_reply"], serde_json::Value::Null);
    assert!(first["score"].as_f64().unwrap() > 0.0);
    assert!(first["subject"].as_str().unwrap().contains("cold chain"));

    let table = home.stdout(&["related", &post, "--limit", "1"]);
    assert!(table.contains("Vaccine cold chain"), "{table}");
    assert!(table.contains("1 related thread"), "{table}");

    let show = home.stdout(&["show", &post]);
    let related = show
        .lines()
        .find(|l| l.starts_with("Related:"))
        .unwrap_or_else(|| panic!("no Related: line in {show}"));
    assert!(
        related.contains(&format!("thread {} ", coldchain.0))
            && related.contains("score ")
            && related.contains(&format!("/c/health/t/{}", coldchain.0)),
        "{related}"
    );
    // A response does not start a thread: no Related: lines.
    let response = store
        .archive_post(community, "coldchain-re@example.org")
        .unwrap()
        .unwrap()
        .id;
    let show = home.stdout(&["show", &response.0.to_string()]);
    assert!(!show.contains("Related:"), "{show}");

    let err = home.stderr_of_failure(&["related", "9999"]);
    assert!(
        err.contains("post 9999 does not exist") && err.contains("praxis queue"),
        "{err}"
    );
}
