//! Referrals (issue 18): a moderator invites chosen members to respond to
//! an open query, from the query board or `praxis refer`. On the web: the
//! refusals (not a member, opted out on their own page, the month's limit,
//! invited already) each say why and keep the form. On the real mail stack:
//! the invitation arrives in the member's mailbox over IMAP, their reply to
//! it joins the query's thread, and `praxis stats` counts the invitation as
//! answered. A member's interests, given on their page, are kept for
//! `praxis experts`.

use std::time::Duration;

use crate::moderator_day::send;
use crate::site::Site;
use crate::support::{Daemon, Home, PrivateStack};
use crate::web_members::{link, submit, wait_mail};
use crate::web_mod_queries::solar_query;
use crate::web_moderate::{MEERA, hold, sign_in};
use crate::week::until;

const RAVI: &str = "ravi.kumar@jeevika.example.org";
const ANJALI: &str = "anjali.mehta@dh-sitapur.example.org";

/// Sends the board's invitation form.
fn invite(site: &Site, form: &str) -> crate::site::Answer {
    submit(site, "/mod/mch/queries", "/mod/mch/queries/refer", form)
}

#[test]
fn moderators_invite_members_from_the_board_and_the_rules_say_why_not() {
    let site = Site::demo_edited("archive = \"members\"\n", "", &|c| {
        c.replacen(
            "[community.policy]\n",
            "[community.policy]\nreferrals_per_month = 1\n",
            1,
        )
    });
    let solar = solar_query(&site);
    sign_in(&site, MEERA);

    // Nothing typed: refused, what was typed kept.
    let page = invite(
        &site,
        &format!("query={solar}&members=&why=You+ran+a+cold+chain"),
    );
    assert_eq!(page.code, 400, "{}", page.body);
    assert!(page.body.contains("write at least one"), "{}", page.body);
    assert!(
        page.body.contains("value=\"You ran a cold chain\""),
        "{}",
        page.body
    );

    // Ravi is invited; a stranger is not.
    let page = invite(
        &site,
        &format!(
            "query={solar}&members=ravi.kumar%40jeevika.example.org%2C+nobody%40example.org&why=You+ran+a+cold+chain+in+Gaya"
        ),
    );
    assert!(page.body.contains("Invited Ravi Kumar"), "{}", page.body);
    assert!(
        page.body.contains("nobody@example.org is not a member"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 invited, 0 answered"), "{}", page.body);
    let mail = wait_mail(
        &site,
        RAVI,
        "Your experience, please: Solar fridges for vaccines",
    );
    assert!(mail.contains("You ran a cold chain in Gaya"), "{mail}");
    assert!(
        mail.contains("solar direct-drive") || mail.contains("Solar fridges"),
        "{mail}"
    );

    // Invited already; and the month's one invitation is used.
    let page = invite(&site, &format!("query={solar}&members={RAVI}"));
    assert!(
        page.body.contains("was invited to this query already"),
        "{}",
        page.body
    );
    let other = hold(&site, "Outsider <o@outside.example>", "Zinc for diarrhoea");
    site.home
        .praxis()
        .args(["approve", &other.to_string(), "--query"])
        .assert()
        .success();
    let zinc = crate::web_mod_queries::query_row(&site, "Zinc for diarrhoea")["id"]
        .as_i64()
        .unwrap();
    let page = invite(&site, &format!("query={zinc}&members={RAVI}"));
    assert!(
        page.body
            .contains("limit of 1 (policy.referrals_per_month)"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("value=\"{zinc}\" selected")),
        "{}",
        page.body
    );

    // Anjali opts out on her own page: her invitation is refused.
    // Her page's link is in the footer of each post she receives.
    let mail = wait_mail(&site, ANJALI, "Solar fridges for vaccines");
    let welcome_me = link(&site, &mail, "/c/mch/me/");
    let page = site.get(&welcome_me);
    assert!(
        page.body.contains(
            "id=\"me-invitations\" name=\"invitations\" type=\"checkbox\" value=\"on\" checked"
        ),
        "{}",
        page.body
    );
    let csrf = Site::input_value(&page.body, "csrf").unwrap();
    let saved = site.post(
        &welcome_me,
        &format!("csrf={csrf}&delivery=each&digest_format=mime&name=Dr.+Anjali+Mehta&organisation=District+Hospital&place=Sitapur&interests=kangaroo+mother+care%2C+newborn+care"),
    );
    assert_eq!(saved.code, 200, "{}", saved.body);
    let anjali = site.home.json(&["members", "list", "-c", "mch", "--json"]);
    let anjali = anjali
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == ANJALI)
        .unwrap();
    assert_eq!(
        anjali["interests"], "kangaroo mother care, newborn care",
        "{anjali}"
    );
    assert!(
        !saved.body.contains("value=\"on\" checked"),
        "{}",
        saved.body
    );
    let page = invite(&site, &format!("query={zinc}&members={ANJALI}"));
    assert!(
        page.body.contains("asked for no invitations"),
        "{}",
        page.body
    );

    // A new query like the demo's Kangaroo Mother Care one: the board
    // suggests that thread and the members its reply credited.
    let kmc = hold(
        &site,
        "Outsider <k@outside.example>",
        "Kangaroo mother care for low birth weight babies at home",
    );
    site.home
        .praxis()
        .args(["approve", &kmc.to_string(), "--query"])
        .assert()
        .success();
    let board = site.get("/mod/mch/queries");
    let at = board
        .body
        .find("Kangaroo mother care for low birth weight babies at home</a> <span class=\"meta\">(query")
        .unwrap();
    let row = &board.body[at..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("Earlier answers and who may know"), "{row}");
    assert!(row.contains("Query: Kangaroo Mother Care for low-birth-weight babies in district hospitals - experiences?</a> (Consolidated Reply)"), "{row}");
    assert!(
        row.contains("Fatima Shaikh &lt;fatima.shaikh@sneha.example.org&gt;: responded in"),
        "{row}"
    );
    // One click invites a suggested member, saying why in their terms.
    let at = row
        .find("value=\"fatima.shaikh@sneha.example.org\"")
        .expect("an Invite button for Fatima");
    let form = &row[row[..at].rfind("<form").unwrap()..at + row[at..].find("</form>").unwrap()];
    let field = |name: &str| Site::input_value(form, name).unwrap();
    let why = field("why");
    assert!(why.starts_with("you responded to “"), "{why}");
    let page = site.post(
        "/mod/mch/queries/refer",
        &format!(
            "csrf={}&query={}&members=fatima.shaikh%40sneha.example.org&why={}",
            field("csrf"),
            field("query"),
            why.replace(' ', "+")
                .replace('“', "%E2%80%9C")
                .replace('”', "%E2%80%9D")
                .replace('&', "%26")
        ),
    );
    assert!(page.body.contains("Invited Fatima Shaikh"), "{}", page.body);
    let mail = wait_mail(
        &site,
        "fatima.shaikh@sneha.example.org",
        "Your experience, please: Kangaroo mother care",
    );
    assert!(mail.contains("Why you: you responded to"), "{mail}");

    let audit = site.home.json(&["audit", "-c", "mch", "--json"]);
    let refers: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "refer")
        .collect();
    assert_eq!(refers.len(), 2, "{audit}");
    assert_eq!(
        (&refers[0]["actor"], &refers[0]["how"]),
        (&"Meera Iyer".into(), &"web".into())
    );
}

#[test]
fn an_invitation_reaches_the_mailbox_and_its_reply_joins_the_query() {
    let s = PrivateStack::start();
    let home = Home::with_config(&s.live_config(true));
    for (user, name, delivery) in [
        ("moderator", "Meera Iyer", "none"),
        ("alice", "Alice Rao", "each"),
        ("bob", "Bob Mehta", "digest"),
        ("grace", "Grace Lobo", "consolidated"),
    ] {
        home.praxis()
            .args([
                "members",
                "add",
                &format!("{user}@example.test"),
                "-c",
                "health",
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
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tag = chrono::Utc::now().timestamp_nanos_opt().unwrap() % 1_000_000_000;
    // An earlier thread Bob answered: the evidence `praxis experts` finds.
    let earlier = format!("Fluoride in village handpumps {tag}");
    send(
        &rt,
        &s,
        "grace@example.test",
        &format!(
            "From: Grace Lobo <grace@example.test>\r\nTo: list@example.test\r\nSubject: {earlier}\r\n\
             Message-ID: <earlier-{tag}@example.test>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0530\r\n\r\n\
             Handpumps in Nalgonda show fluoride above 3 mg/l. Which defluoridation filters last?\r\n"
        ),
    );
    send(
        &rt,
        &s,
        "bob@example.test",
        &format!(
            "From: Bob Mehta <bob@example.test>\r\nTo: list@example.test\r\nSubject: Re: {earlier}\r\n\
             Message-ID: <earlier-bob-{tag}@example.test>\r\nIn-Reply-To: <earlier-{tag}@example.test>\r\n\
             References: <earlier-{tag}@example.test>\r\nDate: Tue, 3 Nov 2026 10:00:00 +0530\r\n\r\n\
             Bone-char defluoridation filters lasted two years at our handpumps; activated alumina clogged.\r\n"
        ),
    );
    until("Bob's earlier response", &daemon, || {
        home.json(&["threads", "-c", "health", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"] == earlier.as_str() && t["posts"] == 2)
            .map(|_| ())
    });
    let subject = format!("Which fluoride filters work in schools? {tag}");
    let query_id = format!("query-{tag}@example.test");
    send(
        &rt,
        &s,
        "alice@example.test",
        &format!(
            "From: Alice Rao <alice@example.test>\r\nTo: list@example.test\r\nSubject: {subject}\r\n\
             Message-ID: <{query_id}>\r\nDate: Thu, 3 Dec 2026 10:00:00 +0530\r\n\r\n\
             Our school tanks test at 3 mg/l fluoride. What has worked for you?\r\n"
        ),
    );
    let thread = until("the query", &daemon, || {
        home.json(&["threads", "-c", "health", "--queries", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["subject"] == subject.as_str())
            .map(|t| t["id"].as_i64().unwrap())
    });

    // Who may know: Bob, for the earlier thread he answered.
    let experts = home.json(&[
        "experts",
        "-c",
        "health",
        "--json",
        "fluoride defluoridation filters for school tanks",
    ]);
    let first = &experts.as_array().unwrap()[0];
    assert_eq!(first["email"], "bob@example.test", "{experts}");
    assert_eq!(
        first["threads"][0]["subject"],
        earlier.as_str(),
        "{experts}"
    );

    // Invited by the command line: bob (digest) and grace (consolidated).
    let out = home
        .praxis()
        .args([
            "refer",
            &thread.to_string(),
            "bob@example.test",
            "grace@example.test",
        ])
        .args(["--why", "you fitted filters in Nalgonda"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("invited Bob Mehta") && said.contains("2 of 2 invited"),
        "{said}"
    );

    // Bob's mailbox has it; he replies to it as a mail client does.
    let got = rt.block_on(s.wait_inbox("bob", "you fitted filters in Nalgonda"));
    assert!(got.contains("3 mg/l fluoride"), "the query's text: {got}");
    assert!(got.contains(&format!("References: <{query_id}>")), "{got}");
    let invitation_id = got
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim()
        .to_string();
    send(
        &rt,
        &s,
        "bob@example.test",
        &format!(
            "From: Bob Mehta <bob@example.test>\r\nTo: list@example.test\r\n\
             Subject: Re: [health] Your experience, please: {subject}\r\n\
             Message-ID: <bob-{tag}@example.test>\r\nIn-Reply-To: {invitation_id}\r\n\
             References: <{query_id}> {invitation_id}\r\nDate: Fri, 4 Dec 2026 10:00:00 +0530\r\n\r\n\
             Bone-char filters at two schools brought it below 1 mg/l in a month.\r\n"
        ),
    );
    until("bob's response in the query", &daemon, || {
        home.json(&["threads", "-c", "health", "--queries", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == thread && t["responses"] == 1)
            .map(|_| ())
    });
    // Alice reads each post: the response reaches her under the query.
    let got = rt.block_on(s.wait_inbox("alice", "Bone-char filters at two schools"));
    assert!(got.contains(&query_id), "{got}");

    let stats = home.json(&["stats", "-c", "health", "--json"]);
    assert_eq!(
        (
            &stats["period"]["referrals"],
            &stats["period"]["referrals_answered"]
        ),
        (&2.into(), &1.into()),
        "{stats}"
    );
}
