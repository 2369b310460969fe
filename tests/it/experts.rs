//! Who knows what (issue 18): `praxis experts` on a fixture whose
//! responders are known (two threads on solar fridges answered by Arjun and
//! Fatima, one on zinc answered by Priya; Lakshmi only names an interest),
//! and on the demo community, whose Kangaroo Mother Care query credited
//! three members in its Consolidated Reply.

use serde_json::Value;

use crate::related::import;
use crate::support::Home;

/// A responder's address and words.
type Response = (&'static str, &'static str);

/// Threads: (id, subject, question, responses).
const THREADS: &[(&str, &str, &str, &[Response])] = &[
    (
        "solar1",
        "Solar refrigerators at sub-centres",
        "Has anyone run solar refrigerators for vaccines at sub-centres?",
        &[
            (
                "arjun@example.org",
                "We run twelve solar direct-drive refrigerators; ice-lined ones held vaccines at 2-8 C through cloudy days.",
            ),
            (
                "fatima@example.org",
                "Our solar refrigerators failed when panels were shaded; clean panels weekly.",
            ),
        ],
    ),
    (
        "solar2",
        "Vaccine refrigerators without grid power",
        "Which vaccine refrigerators work without grid power in hill districts?",
        &[(
            "arjun@example.org",
            "Solar direct-drive vaccine refrigerators with an ice lining, prequalified by WHO.",
        )],
    ),
    (
        "zinc",
        "Zinc with ORS for childhood diarrhoea",
        "How do you get mothers to give zinc for the full fourteen days with ORS?",
        &[(
            "priya@example.org",
            "Co-packaged zinc and ORS kits, and a calendar card for the fourteen days.",
        )],
    ),
];

fn mbox() -> Vec<u8> {
    let mut out = String::new();
    for (i, (id, subject, question, responses)) in THREADS.iter().enumerate() {
        let day = i + 1;
        out.push_str(&format!(
            "From asha@example.org Mon Nov  2 10:00:00 2026\nFrom: Asha <asha@example.org>\nSubject: {subject}\nMessage-ID: <{id}@example.org>\nDate: Mon, {day} Nov 2026 10:00:00 +0530\n\n{question}\n\n"
        ));
        for (n, (from, text)) in responses.iter().enumerate() {
            out.push_str(&format!(
                "From {from} Mon Nov  2 10:00:00 2026\nFrom: {from}\nSubject: Re: {subject}\nMessage-ID: <{id}-{n}@example.org>\nIn-Reply-To: <{id}@example.org>\nReferences: <{id}@example.org>\nDate: Tue, {day} Nov 2026 1{n}:00:00 +0530\n\n{text}\n\n"
            ));
        }
    }
    out.into_bytes()
}

/// The addresses `experts --json` ranks, in order.
fn ranked(home: &Home, args: &[&str]) -> Vec<String> {
    let mut all = vec!["experts", "--json"];
    all.extend_from_slice(args);
    home.json(&all)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["email"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn experts_are_the_responders_of_similar_threads_and_members_with_the_interest() {
    let home = Home::new();
    for (who, interests) in [
        ("arjun@example.org", ""),
        ("fatima@example.org", ""),
        ("priya@example.org", ""),
        ("lakshmi@example.org", "vaccine refrigerators, cold chain"),
    ] {
        home.praxis()
            .args([
                "members",
                "add",
                who,
                "-c",
                "health",
                "--interests",
                interests,
            ])
            .assert()
            .success();
    }
    import(&home, &mbox());
    let solar = ranked(
        &home,
        &[
            "-c",
            "health",
            "solar",
            "vaccine",
            "refrigerators",
            "for",
            "a",
            "hill",
            "district",
        ],
    );
    // Arjun answered both solar threads: first. Fatima answered one and
    // Lakshmi named the interest: both there. Priya answered only about
    // zinc: if the small archive's word weights let her in at all, she
    // ranks below Arjun and Lakshmi.
    let at = |who: &str| solar.iter().position(|e| e == who);
    assert_eq!(at("arjun@example.org"), Some(0), "{solar:?}");
    assert!(at("fatima@example.org").is_some(), "{solar:?}");
    let lakshmi = at("lakshmi@example.org").expect("the interest counts");
    assert!(
        at("priya@example.org").is_none_or(|p| p > lakshmi),
        "{solar:?}"
    );
    let json: Value = home.json(&["experts", "--json", "-c", "health", "zinc for diarrhoea"]);
    assert_eq!(json[0]["email"], "priya@example.org", "{json}");
    assert_eq!(
        json[0]["threads"][0]["subject"],
        "Zinc with ORS for childhood diarrhoea"
    );
    let text = home.stdout(&["experts", "-c", "health", "vaccine refrigerators, solar"]);
    assert!(text.contains("1. arjun@example.org"), "{text}");
    assert!(text.contains("interests: vaccine refrigerators"), "{text}");
    // Nothing known about knitting.
    let none = home.stdout(&["experts", "-c", "health", "knitting patterns"]);
    assert!(none.contains("no member has responded"), "{none}");
}

#[test]
fn on_the_demo_the_kmc_query_names_the_members_its_reply_credited() {
    let home = Home::demo();
    let json = home.json(&[
        "experts", "--json", "-c", "mch", "kangaroo", "mother", "care", "in", "a", "district",
        "hospital",
    ]);
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for credited in ["Fatima Shaikh", "Ravi Kumar", "Dr. Suresh Nair"] {
        assert!(names.contains(&credited), "{credited} in {names:?}");
    }
    assert!(
        json[0]["threads"][0]["credited"].as_bool().unwrap(),
        "{json}"
    );
}
