//! Issue 18's cross-posting: one query, several communities. A query of
//! the demo's community is sent from the query board to a second
//! community; a member of both gets each message once; a response through
//! the second joins the query, credited with it; the one Consolidated
//! Reply goes to both and shows in both libraries as shared. The refusals
//! say what to do instead. (The real mail stack's run is in
//! `crosspost::a_cross_posted_query_and_its_reply_reach_both_communities_once`.)

use std::time::Duration;

use crate::site::Site;
use crate::support::{Daemon, Home, PrivateStack, health_config};
use crate::web_members::{mails_to, submit, wait_mail};
use crate::web_mod_queries::{SOLAR_PARENT, solar_query};
use crate::web_moderate::{MEERA, sign_in};

/// The second community, appended to the demo's config.
const DRM: &str = r#"
[[community]]
slug = "drm"
name = "Disaster Management"
address = "drm@lists.example.org"
timezone = "Asia/Kolkata"

[community.web]
archive = "public"

[community.delivery]
subject_prefix = "[drm]"
dmarc = "never"
"#;

const ARJUN: &str = "arjun.rao@phfi.example.org";
const KIRAN: &str = "kiran.shah@ndma.example.org";
const LATA: &str = "lata.pillai@sphere.example.org";

/// The subjects of the mails `to` received that contain `needle`.
fn subjects(site: &Site, to: &str, needle: &str) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(1500));
    mails_to(site, to)
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| s.contains(needle))
        .collect()
}

#[test]
fn a_query_cross_posted_from_the_board_gathers_both_communities_into_one_reply() {
    let site = Site::demo_edited("archive = \"public\"\n", DRM, &|c| c);
    // Arjun reads each post in both communities; Kiran and Lata only in
    // Disaster Management, Lata only its Consolidated Replies.
    for (email, name, delivery) in [
        (ARJUN, "Arjun Rao", "each"),
        (KIRAN, "Kiran Shah", "each"),
        (LATA, "Lata Pillai", "consolidated"),
    ] {
        site.home
            .praxis()
            .args(["members", "add", email, "-c", "drm", "--name", name])
            .args(["--delivery", delivery, "--moderation", "accept"])
            .assert()
            .success();
    }
    let solar = solar_query(&site);
    sign_in(&site, MEERA);
    let board = "/mod/mch/queries";
    let share = "/mod/mch/queries/crosspost";

    // Nothing ticked: refused, the query chosen kept.
    let page = submit(&site, board, share, &format!("query={solar}"));
    assert_eq!(page.code, 400, "{}", page.body);
    assert!(page.body.contains("tick at least one"), "{}", page.body);
    assert!(
        page.body.contains(&format!("value=\"{solar}\" selected")),
        "{}",
        page.body
    );

    // Sent to Disaster Management: Kiran only (Arjun had it from mch;
    // Lata reads replies only).
    let page = submit(&site, board, share, &format!("query={solar}&community=drm"));
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(
        page.body
            .contains("cross-posted to Disaster Management: 1 member will get it"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("cross-posted to Disaster Management</span>"),
        "the board marks the query: {}",
        page.body
    );
    let got = wait_mail(&site, KIRAN, "[drm] Solar fridges for vaccines");
    assert!(got.contains("A question from outside the list"), "{got}");
    let questions: Vec<String> = subjects(&site, ARJUN, "Solar fridges for vaccines")
        .into_iter()
        .filter(|s| s.ends_with("] Solar fridges for vaccines"))
        .collect();
    assert_eq!(
        questions,
        vec!["[mch] Solar fridges for vaccines".to_string()],
        "a member of both gets the query once"
    );

    // Twice, to its own community, and the copy itself: refused, saying why.
    let again = site
        .home
        .stderr_of_failure(&["crosspost", &solar.to_string(), "-c", "drm"]);
    assert!(again.contains("already cross-posted"), "{again}");
    let own = site
        .home
        .stderr_of_failure(&["crosspost", &solar.to_string(), "-c", "mch"]);
    assert!(own.contains("is in `mch` already"), "{own}");
    let threads = site
        .home
        .json(&["threads", "-c", "drm", "--queries", "--json"]);
    let copy = threads.as_array().unwrap()[0]["id"].as_i64().unwrap();
    let of_copy = site
        .home
        .stderr_of_failure(&["crosspost", &copy.to_string(), "-c", "mch"]);
    assert!(
        of_copy.contains(&format!("is the copy of query {solar} from `mch`")),
        "{of_copy}"
    );
    let elsewhere = site
        .home
        .stderr_of_failure(&["consolidate", &copy.to_string(), "--print"]);
    assert!(
        elsewhere.contains(&format!(
            "its Consolidated Reply is compiled there (`praxis consolidate {solar}`)"
        )),
        "{elsewhere}"
    );

    // Kiran answers through Disaster Management: the response joins the query.
    site.home
        .praxis()
        .args(["ingest", "-c", "drm"])
        .write_stdin(format!(
            "From: Kiran Shah <{KIRAN}>\r\nTo: drm@lists.example.org\r\n\
             Subject: Re: [drm] Solar fridges for vaccines\r\nMessage-ID: <kiran-1@ndma.example.org>\r\n\
             In-Reply-To: <{SOLAR_PARENT}>\r\nReferences: <{SOLAR_PARENT}>\r\n\
             Date: Sat, 5 Dec 2026 10:00:00 +0530\r\n\r\n\
             After the Odisha cyclone we moved vaccines to solar fridges at block level within a week.\r\n"
        ))
        .assert()
        .success();
    let page = site.get(board);
    assert!(
        page.body.contains("3 from 4 people"),
        "{}\n{}\n{}",
        site.home.json(&["threads", "-c", "drm", "--json"]),
        site.home.json(&["queue", "-c", "drm", "--json"]),
        page.body
    );
    let draft = site
        .home
        .stdout(&["consolidate", &solar.to_string(), "--print"]);
    assert!(
        draft.contains("Kiran Shah (through Disaster Management)"),
        "{draft}"
    );
    assert!(
        draft.contains("Cross-posted to Disaster Management"),
        "{draft}"
    );
    assert!(draft.contains("Odisha cyclone"), "{draft}");

    // Published once, to both: each member once, with their community's prefix.
    let file = site.home.path().join("reply.md");
    std::fs::write(&file, &draft).unwrap();
    site.home
        .praxis()
        .args(["consolidate", &solar.to_string(), "--from"])
        .arg(&file)
        .assert()
        .success();
    let out = site.home.stdout(&["publish", &solar.to_string()]);
    assert!(out.contains("queued now"), "{out}");
    wait_mail(&site, LATA, "[drm] Consolidated Reply: Solar fridges");
    wait_mail(&site, KIRAN, "[drm] Consolidated Reply: Solar fridges");
    wait_mail(&site, ARJUN, "Consolidated Reply: Solar fridges");
    assert_eq!(
        subjects(&site, ARJUN, "Consolidated Reply: Solar"),
        vec!["[mch] Consolidated Reply: Solar fridges for vaccines".to_string()],
        "a member of both gets the reply once"
    );
    assert_eq!(subjects(&site, LATA, "Consolidated Reply: Solar").len(), 1);

    // Both libraries list it as shared; each reply page credits Kiran.
    let lib = site.get("/c/drm/replies");
    assert!(
        lib.body.contains("Solar fridges for vaccines"),
        "{}",
        lib.body
    );
    assert!(
        lib.body
            .contains("shared with Maternal and Child Health Community"),
        "{}",
        lib.body
    );
    let lib = site.get("/c/mch/replies");
    assert!(
        lib.body.contains("shared with Disaster Management"),
        "{}",
        lib.body
    );
    let reply = site.get(&format!("/c/drm/replies/{copy}"));
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert!(reply.body.contains("Kiran Shah"), "{}", reply.body);
    assert!(reply.body.contains("Odisha cyclone"), "{}", reply.body);
    let search = site.get("/c/drm/search?q=cyclone");
    assert!(search.body.contains("Solar fridges"), "{}", search.body);
    let audit = site.home.stdout(&["audit", "-c", "mch"]);
    assert!(audit.contains("crosspost"), "{audit}");
}

/// Sends `raw` from `from` to `to` through the stack's Postfix.
fn send_to(rt: &tokio::runtime::Runtime, s: &PrivateStack, from: &str, to: &str, raw: &str) {
    use lettre::address::Envelope;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let (host, port) = crate::support::Stack::split(&s.smtp);
    let envelope = Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    rt.block_on(async {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build()
            .send_raw(&envelope, raw.as_bytes())
            .await
    })
    .unwrap();
}

#[test]
fn a_cross_posted_query_and_its_reply_reach_both_communities_once() {
    let s = PrivateStack::start();
    let (ih, ip) = crate::support::Stack::split(&s.imap);
    let imap = |user: &str| {
        format!(
            "\n[community.imap]\nhost = \"{ih}\"\nport = {ip}\ntls = \"none\"\n\
             username = \"{user}@example.test\"\npassword_env = \"PRAXIS_IMAP_PASSWORD\"\n"
        )
    };
    let config = health_config(&s.smtp, "", "1s", &imap("list"))
        + &format!(
            "\n[[community]]\nslug = \"drm\"\nname = \"Disaster Management\"\n\
             address = \"drm@example.test\"\ntimezone = \"Asia/Kolkata\"\n{}\n\
             [community.delivery]\ndmarc = \"never\"\n",
            imap("drm")
        );
    let home = Home::with_config(&config);
    // Alice reads each post in both; Bob and Carol are only in Disaster
    // Management; Grace only in Maternal Health, for the replies.
    for (user, name, slug, delivery) in [
        ("alice", "Alice Rao", "health", "each"),
        ("alice", "Alice Rao", "drm", "each"),
        ("grace", "Grace Lobo", "health", "consolidated"),
        ("bob", "Bob Mehta", "drm", "each"),
        ("carol", "Carol Dias", "drm", "consolidated"),
    ] {
        home.praxis()
            .args([
                "members",
                "add",
                &format!("{user}@example.test"),
                "-c",
                slug,
            ])
            .args([
                "--name",
                name,
                "--delivery",
                delivery,
                "--moderation",
                "accept",
            ])
            .assert()
            .success();
    }
    let daemon = Daemon::start(&home);
    daemon.wait_health("imap:health", "idle", Duration::from_secs(60));
    daemon.wait_health("imap:drm", "idle", Duration::from_secs(60));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap() % 1_000_000_000;
    let subject = format!("Cold chain after a cyclone {tag}");
    let query_id = format!("query-{tag}@example.test");
    send_to(
        &rt,
        &s,
        "alice@example.test",
        "list@example.test",
        &format!(
            "From: Alice Rao <alice@example.test>\r\nTo: list@example.test\r\nSubject: {subject}\r\n\
             Message-ID: <{query_id}>\r\nDate: Thu, 3 Dec 2026 10:00:00 +0530\r\n\r\n\
             The power was out for nine days. How did you keep vaccines cold?\r\n"
        ),
    );
    let query = crate::week::until("the query", &daemon, || {
        home.json(&["threads", "-c", "health", "--queries", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"] == subject.as_str())
            .map(|t| t["id"].as_i64().unwrap())
    });

    let out = home.stdout(&["crosspost", &query.to_string(), "-c", "drm"]);
    assert!(
        out.contains("cross-posted to `drm`") && out.contains("for 1 member "),
        "Bob only: Alice has it from health, Carol reads replies: {out}"
    );
    let got = rt.block_on(s.wait_inbox("bob", "nine days"));
    assert!(got.contains(&format!("Subject: [drm] {subject}")), "{got}");
    let copy_id = got
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        copy_id,
        format!("<{query_id}>"),
        "the question keeps its Message-ID"
    );

    // Bob replies to the copy he received, to Disaster Management's list.
    send_to(
        &rt,
        &s,
        "bob@example.test",
        "drm@example.test",
        &format!(
            "From: Bob Mehta <bob@example.test>\r\nTo: drm@example.test\r\n\
             Subject: Re: [drm] {subject}\r\nMessage-ID: <bob-{tag}@example.test>\r\n\
             In-Reply-To: <{query_id}>\r\nReferences: <{query_id}>\r\n\
             Date: Fri, 4 Dec 2026 10:00:00 +0530\r\n\r\n\
             Ice-lined refrigerators held for five days; then we used district cold rooms.\r\n"
        ),
    );
    let draft = crate::week::until("Bob's response in the query", &daemon, || {
        let d = home.stdout(&["consolidate", &query.to_string(), "--print"]);
        d.contains("Bob Mehta (through Disaster Management)")
            .then_some(d)
    });
    assert!(draft.contains("Ice-lined refrigerators"), "{draft}");
    let file = home.path().join("reply.md");
    std::fs::write(&file, &draft).unwrap();
    home.praxis()
        .args(["consolidate", &query.to_string(), "--from"])
        .arg(&file)
        .assert()
        .success();
    let out = home.stdout(&["publish", &query.to_string()]);
    assert!(
        out.contains("for 4 members"),
        "Alice, Grace, Bob, Carol: {out}"
    );

    // Every member has the reply once, with their own community's prefix.
    for (user, prefix) in [
        ("alice", "[health]"),
        ("grace", "[health]"),
        ("bob", "[drm]"),
        ("carol", "[drm]"),
    ] {
        let got = rt.block_on(s.wait_inbox(user, &format!("Consolidated Reply: {subject}")));
        assert!(
            got.contains(&format!("Subject: {prefix} Consolidated Reply: {subject}")),
            "{user}: {got}"
        );
        assert!(
            got.contains("Ice-lined refrigerators held"),
            "{user}: {got}"
        );
    }
    crate::week::until("every copy sent", &daemon, || {
        let o = home.json(&["outbox", "--json"]);
        o.as_array()
            .unwrap()
            .iter()
            .all(|m| m["pending"] == 0)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let reply = format!("Consolidated Reply: {subject}");
    let replies = rt.block_on(s.inbox("alice", &reply));
    assert_eq!(
        replies.len(),
        1,
        "Alice, in both, has one reply: {replies:?}"
    );
    let questions = rt.block_on(s.inbox("alice", &format!("Subject: [drm] {subject}")));
    assert!(
        questions.is_empty(),
        "Alice never gets the question again from drm: {questions:?}"
    );
    assert_eq!(rt.block_on(s.inbox("bob", &reply)).len(), 1);
}
