//! The search grammar `praxis search` shares with the web's
//! `/c/SLUG/search` (issue 16), against a real database: each operator
//! (`from:`, `subject:`, `kind:`, `after:`/`before:` in the community's
//! zone), Consolidated Replies above posts, what a hit carries for a page
//! (and no address), pages without overlap, and index use (no scan of posts).

use serde_json::Value;

use crate::search::ingest;
use crate::support::Home;

/// One message of an mbox: `from` is the From field, `date` RFC 5322.
fn mbox_message(id: &str, from: &str, subject: &str, date: &str, body: &str) -> String {
    format!(
        "From sender@example.org Mon Nov  2 10:00:00 2026\nFrom: {from}\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}@example.org>\nDate: {date}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n\n"
    )
}

/// Imports `messages` (an mbox's text) into health.
fn import(home: &Home, messages: &str) {
    let mbox = home.path().join(format!("import-{}.mbox", messages.len()));
    std::fs::write(&mbox, messages).unwrap();
    home.stdout(&["import", "-c", "health", mbox.to_str().unwrap()]);
}

/// An archive for the operators: Asha, Ravi (who names Asha in his text),
/// Meera, and a Hindi-named sender, over October and November 2026 (health's
/// zone is Asia/Kolkata).
fn archive_for_operators(home: &Home) {
    import(
        home,
        &[
            mbox_message(
                "a",
                "Asha Rao <asha@example.org>",
                "Boat clinics in floods",
                "Mon, 5 Oct 2026 10:00:00 +0530",
                "We ran boat clinics during the floods in Assam.",
            ),
            // 00:10 in Kolkata on 2 November is still 1 November in UTC.
            mbox_message(
                "b",
                "Ravi Kumar <ravi@example.net>",
                "Re: Boat clinics in floods",
                "Mon, 2 Nov 2026 00:10:00 +0530",
                "Boat clinics need fuel budgets; Asha knows the river route.",
            ),
            mbox_message(
                "c",
                "Meera <meera@example.com>",
                "Fluoride in hand pumps",
                "Fri, 20 Nov 2026 09:00:00 +0530",
                "Too much fluoride in the pumps near the clinics.",
            ),
            mbox_message(
                "d",
                "=?UTF-8?B?4KSG4KS24KS+?= <aasha@example.in>",
                "=?UTF-8?B?4KS44KWN4KS14KS+4KS44KWN4KSl4KWN4KSvIOCktuCkv+CkteCkv+CksA==?=",
                "Sat, 21 Nov 2026 09:00:00 +0530",
                "हमने बाढ़ वाले इलाकों में स्वास्थ्य शिविर लगाए।",
            ),
        ]
        .concat(),
    );
}

/// `praxis search QUERY -c health --json`, the subjects in rank order.
fn subjects(home: &Home, query: &str) -> Vec<String> {
    home.json(&["search", query, "-c", "health", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["subject"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// These subjects, sorted (to compare with [`sorted`]).
fn set(subjects: &[&str]) -> Vec<String> {
    sorted(subjects.iter().map(|s| s.to_string()).collect())
}

const A: &str = "Boat clinics in floods";
const B: &str = "Re: Boat clinics in floods";
const C: &str = "Fluoride in hand pumps";
const D: &str = "स्वास्थ्य शिविर";

#[test]
fn from_matches_the_senders_name_or_address_and_nothing_else() {
    let home = Home::new();
    archive_for_operators(&home);
    assert_eq!(sorted(subjects(&home, "clinics")), set(&[A, B, C]));
    // Ravi's text names Asha: from: reads the sender, not the text.
    assert_eq!(subjects(&home, "clinics from:asha"), [A]);
    assert_eq!(subjects(&home, "from:asha clinics"), [A]);
    assert_eq!(subjects(&home, "clinics from:ravi@example.net"), [B]);
    assert_eq!(subjects(&home, "clinics from:\"Ravi Kumar\""), [B]);
    assert_eq!(subjects(&home, "clinics from:RAVI"), [B]);
    assert_eq!(subjects(&home, "clinics from:example.com"), [C]);
    // Several from: match any of them.
    assert_eq!(
        sorted(subjects(&home, "clinics from:ravi from:meera")),
        set(&[B, C])
    );
    // Names and addresses nobody has find nothing, LIKE wildcards included.
    assert!(subjects(&home, "clinics from:nobody").is_empty());
    assert!(subjects(&home, "clinics from:\"Asha Kumar\"").is_empty());
    assert!(subjects(&home, "from:%").is_empty());
    assert!(subjects(&home, "from:_").is_empty());
    assert!(subjects(&home, "from:river").is_empty());
    // A Hindi name (an encoded word in From).
    assert_eq!(subjects(&home, "from:आशा"), [D]);
    assert_eq!(subjects(&home, "शिविर from:आशा"), [D]);
    // Filters alone list the newest first.
    assert_eq!(subjects(&home, "from:example"), [D, C, B, A]);
    assert_eq!(subjects(&home, "from:asha"), [D, A], "aasha@ holds asha");
    // Any case, beyond ASCII too.
    import(
        &home,
        &mbox_message(
            "e",
            "=?UTF-8?Q?=C3=89lise_Martin?= <elise@example.fr>",
            "Mobile clinics",
            "Sun, 22 Nov 2026 09:00:00 +0530",
            "Clinics on bicycles.",
        ),
    );
    assert_eq!(subjects(&home, "clinics from:élise"), ["Mobile clinics"]);
    assert_eq!(subjects(&home, "from:ÉLISE"), ["Mobile clinics"]);
    assert_eq!(subjects(&home, "from:\"élise martin\""), ["Mobile clinics"]);
}

#[test]
fn subject_kind_and_dates_filter_within_the_match() {
    let home = Home::new();
    archive_for_operators(&home);
    // subject: reads the subject only: C says "clinics" in its text.
    assert_eq!(sorted(subjects(&home, "subject:clinics")), set(&[A, B]));
    assert_eq!(
        sorted(subjects(&home, "subject:\"boat clinics\"")),
        set(&[A, B])
    );
    assert!(subjects(&home, "subject:\"clinics boat\"").is_empty());
    assert_eq!(subjects(&home, "subject:fluor*"), [C]);
    assert_eq!(subjects(&home, "clinics subject:pumps"), [C]);
    assert!(
        subjects(&home, "subject:assam").is_empty(),
        "assam is in A's text"
    );
    assert_eq!(subjects(&home, "subject:शिविर"), [D]);
    // The brief's injection attempt: a subject filter, then FTS5 syntax as words.
    assert!(subjects(&home, "subject:\"a\" OR x:*").is_empty());
    assert_eq!(
        subjects(&home, "subject:\"fluoride\" OR"),
        Vec::<String>::new()
    );
    // kind:
    assert_eq!(
        sorted(subjects(&home, "clinics kind:post")),
        set(&[A, B, C])
    );
    assert!(subjects(&home, "clinics kind:reply").is_empty());
    // Dates are days in Asia/Kolkata: B (00:10 on 2 November there) is on the 2nd.
    assert_eq!(
        sorted(subjects(&home, "clinics after:2026-11-02")),
        set(&[B, C])
    );
    assert_eq!(subjects(&home, "clinics before:2026-11-02"), [A]);
    assert_eq!(
        subjects(&home, "clinics after:2026-11-02 before:2026-11-03"),
        [B]
    );
    assert_eq!(subjects(&home, "after:2026-11-20 before:2026-11-21"), [C]);
    assert_eq!(subjects(&home, "before:2026-10-06"), [A]);
    assert!(subjects(&home, "after:2027-01-01").is_empty());
    // A bad date or kind is a usage error naming it and the fix.
    for (query, msg) in [
        (
            "clinics after:2025-13-01",
            "after:2025-13-01 is not a date; write after:YYYY-MM-DD",
        ),
        (
            "kind:thread",
            "kind:thread is not a kind; write kind:reply or kind:post",
        ),
    ] {
        let out = home
            .praxis()
            .args(["search", query, "-c", "health"])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{query}: {err}");
    }
}

/// Publishes a Consolidated Reply mentioning clinics once, in a long text,
/// to a query about radios; returns the query's id.
fn publish_clinics_reply(home: &Home) -> String {
    home.praxis()
        .args(["members", "add", "asha@example.org", "-c", "health"])
        .args(["--name", "Asha Rao", "--moderation", "accept"])
        .assert()
        .success();
    ingest(
        home,
        "From: Asha Rao <asha@example.org>\nTo: list@example.test\nSubject: Radios for health workers?\nMessage-ID: <radios@example.org>\nDate: Tue, 3 Nov 2026 11:00:00 +0530\n\nHas anyone given radios to health workers?\n",
    );
    let id = home.query_id("Radios for health workers");
    let file = home.path().join("draft.md");
    std::fs::write(
        &file,
        "Members found community radio useful for reaching villages, schools, \
         markets and homes, and said the radio slots worked best in the evening \
         when families listen together; one member paired them with clinics.\n",
    )
    .unwrap();
    home.praxis()
        .args(["consolidate", &id, "--from", file.to_str().unwrap()])
        .args(["--as", "Meera Nair"])
        .assert()
        .success();
    home.stdout(&["publish", &id]);
    id
}

#[test]
fn consolidated_replies_come_before_posts_and_hits_carry_their_links() {
    let home = Home::new();
    archive_for_operators(&home);
    let query = publish_clinics_reply(&home);
    let hits = home.json(&["search", "clinics", "-c", "health", "--json"]);
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 4, "{hits:?}");
    // The reply says "clinics" once in a long text: posts rank better by
    // bm25, and still the reply comes first.
    assert_eq!(hits[0]["kind"], "consolidated_reply", "{hits:?}");
    assert!(hits[1..].iter().all(|h| h["kind"] == "post"), "{hits:?}");
    assert!(
        hits[1]["score"].as_f64().unwrap() > hits[0]["score"].as_f64().unwrap(),
        "the test needs a reply that bm25 ranks below the posts: {hits:?}"
    );
    // What a page needs to link and show a reply: its query, the compiler.
    assert_eq!(hits[0]["thread"].to_string(), query);
    assert_eq!(hits[0]["message_id"], Value::Null);
    assert_eq!(hits[0]["author"], "Meera Nair");
    assert!(hits[0]["date"].as_i64().unwrap() > 1_790_000_000);
    let parts = hits[0]["parts"].as_array().unwrap();
    assert!(
        parts
            .iter()
            .any(|p| p["matched"] == true && p["text"] == "clinics"),
        "{parts:?}"
    );
    // A post: its Message-ID (no angle brackets), thread and sender's name.
    let a = hits.iter().find(|h| h["subject"] == A).unwrap();
    assert_eq!(a["message_id"], "a@example.org");
    assert!(a["thread"].as_i64().is_some(), "{a}");
    assert_eq!(a["author"], "Asha Rao");
    // The snippet marks the word for the CLI; the parts mark it for the web.
    assert!(
        a["snippet"]
            .as_str()
            .unwrap()
            .contains("boat [clinics] during")
    );
    // No address anywhere in a hit: the web shows them on public pages.
    let text = serde_json::to_string(&hits).unwrap();
    for addr in ["asha@", "ravi@", "meera@", "aasha@", "example.net"] {
        assert!(!text.contains(addr), "{addr} in {text}");
    }
    // kind: picks one side; from: on a reply is who compiled it.
    let only = home.json(&["search", "clinics kind:reply", "--json"]);
    assert_eq!(only.as_array().unwrap().len(), 1, "{only}");
    assert_eq!(
        subjects(&home, "from:\"meera nair\"")[0],
        only[0]["subject"].as_str().unwrap()
    );
    assert_eq!(
        subjects(&home, "kind:reply"),
        [only[0]["subject"].as_str().unwrap()]
    );
    assert_eq!(subjects(&home, "clinics kind:post").len(), 3);
    // The table keeps its shape.
    let out = home.stdout(&["search", "clinics", "-c", "health"]);
    assert!(out.contains("consolidated_reply"), "{out}");
    assert!(out.contains("4 results"), "{out}");
}

#[test]
fn pages_follow_each_other_without_overlap() {
    let home = Home::new();
    let posts: Vec<String> = (1..=7)
        .map(|i| {
            mbox_message(
                &format!("camp{i}"),
                "Asha Rao <asha@example.org>",
                &format!("Camp report {i}"),
                &format!("Mon, {i} Nov 2026 10:00:00 +0530"),
                &"camp ".repeat(i),
            )
        })
        .collect();
    import(&home, &posts.concat());
    let page = |q: &str, n: &str| -> Vec<String> {
        home.json(&["search", q, "--limit", "3", "--page", n, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["subject"].as_str().unwrap().to_string())
            .collect()
    };
    for q in ["camp", "from:asha"] {
        let (p1, p2, p3, p4) = (page(q, "1"), page(q, "2"), page(q, "3"), page(q, "4"));
        assert_eq!(
            (p1.len(), p2.len(), p3.len(), p4.len()),
            (3, 3, 1, 0),
            "{q}"
        );
        let mut all: Vec<String> = [p1, p2, p3].concat();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "{q}: no hit on two pages");
        assert_eq!(n, 7, "{q}");
    }
    // Filters alone: newest first across pages.
    assert_eq!(
        page("from:asha", "1"),
        ["Camp report 7", "Camp report 6", "Camp report 5"]
    );
    assert_eq!(page("from:asha", "3"), ["Camp report 1"]);
    // The table says where more is.
    let out = home.stdout(&["search", "camp", "--limit", "3"]);
    assert!(out.contains("3 results; more with --page 2"), "{out}");
    let out = home.stdout(&["search", "camp", "--limit", "3", "--page", "3"]);
    assert!(out.contains("1 result on page 3"), "{out}");
    assert!(!out.contains("more with"), "{out}");
}

/// Replies fill the first pages, then posts follow on, with no gap.
#[test]
fn paging_runs_from_replies_into_posts() {
    let home = Home::new();
    archive_for_operators(&home);
    publish_clinics_reply(&home);
    let page = |n: &str| -> Vec<(String, String)> {
        home.json(&["search", "clinics", "--limit", "2", "--page", n, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["kind"].as_str().unwrap().to_string(),
                    h["subject"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (p1, p2, p3) = (page("1"), page("2"), page("3"));
    assert_eq!(p1[0].0, "consolidated_reply");
    assert_eq!(p1[1].0, "post");
    assert_eq!(p2.len(), 2);
    assert!(p3.is_empty());
    let mut posts: Vec<String> = [&p1[1..], &p2[..]]
        .concat()
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    posts.sort();
    assert_eq!(posts, set(&[A, B, C]));
}

/// Word queries read the FTS index; filters alone walk
/// posts_approved_date; neither scans every post.
#[test]
fn searches_use_an_index_not_a_scan_of_posts() {
    use praxis::search_query::SearchQuery;
    use praxis::store::SearchScope;
    let home = Home::new();
    archive_for_operators(&home);
    if crate::support::on_postgres() {
        // PostgreSQL plans from statistics: a handful of posts is read
        // whole whatever the indexes. An archive of some size, vacuumed
        // and analysed, is planned as production's would be.
        home.sql(
            "INSERT INTO posts (community_id, message_id, sha256, raw, size, source, received_at, \
                                class, state, from_addr, subject, text, date, approved_at) \
             SELECT c.id, 'filler-' || g || '@example.org', '\\x00'::bytea, '\\x00'::bytea, 1, \
                    'import', 0, 'post', 'approved', 'filler' || (g % 50) || '@example.org', \
                    'filler ' || g, 'word' || g || ' ' || md5(g::text), 1700000000 + g, 1700000000 + g \
             FROM communities c, generate_series(1, 20000) g WHERE c.slug = 'health'",
        );
        // As `praxis import` ends (Store::settle_after_import).
        home.sql("VACUUM (ANALYZE) posts");
    }
    let store = home.store();
    let community = store.community("health").unwrap().id;
    let scope = SearchScope {
        community: Some(community),
        zone: chrono_tz::Asia::Kolkata,
        now: 1_800_000_000,
    };
    let plan = |q: &str| {
        store
            .search_plan(&SearchQuery::parse(q).unwrap(), &scope)
            .unwrap()
    };
    for q in [
        "clinics",
        "clinics from:asha after:2026-11-01",
        "subject:boat",
    ] {
        let p = plan(q);
        // FTS5's table; or PostgreSQL's GIN index on posts.search, unless
        // a date bound is narrower still (its planner weighs both).
        let index = |s: &String| match crate::support::on_postgres() {
            true => {
                s.contains("Bitmap Index Scan on posts_search")
                    || q.contains("after:") && s.contains("using posts_approved_date")
            }
            false => s.contains("posts_fts VIRTUAL TABLE INDEX"),
        };
        assert!(p.iter().any(index), "{q}: {p:?}");
        let scans_posts = |s: &String| {
            s == "SCAN p" || s.starts_with("SCAN p ") || s.contains("Seq Scan on posts")
        };
        assert!(!p.iter().any(scans_posts), "{q}: {p:?}");
    }
    // A sort of every match (PostgreSQL's Incremental Sort, of posts of
    // the same date by id as the index hands them over, is not one).
    let (by_date, sorts): (&str, fn(&String) -> bool) = match crate::support::on_postgres() {
        true => ("using posts_approved_date", |s| {
            s.trim_start()
                .trim_start_matches("->")
                .trim_start()
                .starts_with("Sort  (")
        }),
        false => ("SEARCH p USING INDEX posts_approved_date", |s| {
            s.contains("TEMP B-TREE")
        }),
    };
    for q in [
        "from:asha",
        "after:2026-11-01 before:2026-12-01",
        "kind:post",
    ] {
        let p = plan(q);
        assert!(p.iter().any(|s| s.contains(by_date)), "{q}: {p:?}");
        assert!(!p.iter().any(sorts), "{q}: no sort: {p:?}");
    }
}
