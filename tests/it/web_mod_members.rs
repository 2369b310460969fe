//! The members page of the moderators' workspace: members found by name,
//! organisation or place whatever the case, paged by 100; a member added
//! (a bad address refused with what was typed kept); role, delivery and
//! moderation changed as `praxis members set` would, audited under the
//! moderator's name `via web`; a CSV file uploaded with its bad rows
//! reported by line (blank lines counted) and its good rows added; an
//! upload over 2 MB refused with a page saying so; everyone but the
//! community's moderators refused. In a browser: a row's selects (outside
//! its form, joined by `form=`) change the member, a file is uploaded, and
//! the pages are valid and pass axe.

use serde_json::Value;

use crate::site::{Answer, Site};
use crate::web_members::submit;
use crate::web_moderate::{MEERA, browser_sign_in, sign_in};

const PAGE: &str = "/mod/mch/members";
const IMPORT: &str = "/mod/mch/members/import";

/// POSTs `csv` as the file `name` of the upload form, with `csrf`.
fn upload_with(site: &Site, csrf: &str, name: &str, csv: &str) -> Answer {
    let b = "praxis-test-boundary-7MA4YWxkTrZu0gW";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{b}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={b}");
    site.request(
        "POST",
        IMPORT,
        &[
            ("Origin", site.base.as_str()),
            ("Content-Type", content_type.as_str()),
        ],
        &body,
    )
}

/// Uploads `csv` through the page's upload form (its CSRF token taken
/// from the page).
fn upload(site: &Site, name: &str, csv: &str) -> Answer {
    let page = site.get(PAGE);
    assert_eq!(page.code, 200, "{}", page.body);
    let at = page
        .body
        .find(&format!("action=\"{IMPORT}\""))
        .expect("the upload form");
    let csrf = Site::input_value(&page.body[at..], "csrf").expect("its CSRF token");
    upload_with(site, &csrf, name, csv)
}

/// `praxis members list --json` for mch.
fn members(site: &Site) -> Vec<Value> {
    site.home
        .json(&["members", "list", "-c", "mch", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

/// The member row of `email`, if a member.
fn member(site: &Site, email: &str) -> Option<Value> {
    members(site).into_iter().find(|m| m["email"] == email)
}

/// Asserts the audit log has `act` on `detail` by Meera Iyer, on the web.
fn assert_audited_by_meera_on_the_web(site: &Site, act: &str, detail: &str) {
    let audit = site.home.json(&["audit", "-c", "mch", "--json"]);
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["action"] == act
            && e["detail"] == detail
            && e["actor"] == "Meera Iyer"
            && e["how"] == "web"),
        "{act} {detail}: {audit}"
    );
}

#[test]
fn moderators_find_add_change_and_import_members_on_the_web() {
    let site = Site::demo("members", "");
    // 120 more members, for paging: 130 in all.
    let bulk = site.home.path().join("bulk.csv");
    let mut csv = String::from("email,name,organisation\n");
    for i in 0..120 {
        csv.push_str(&format!("bulk{i:03}@bulk.example.org,Bulk {i},Bulk Org\n"));
    }
    std::fs::write(&bulk, csv).unwrap();
    site.home
        .praxis()
        .args(["members", "import", "-c", "mch"])
        .arg(&bulk)
        .assert()
        .success();

    // Signed out, and signed in as a member who does not moderate: refused.
    let page = site.get(PAGE);
    assert_eq!(page.code, 403, "{}", page.body);
    assert!(
        page.body.contains("open to its moderators only"),
        "{}",
        page.body
    );
    sign_in(&site, "ravi.kumar@jeevika.example.org");
    assert_eq!(site.get(PAGE).code, 403);
    assert_eq!(site.get(&format!("{PAGE}?q=ravi")).code, 403);
    let r = site.post(
        PAGE,
        "action=set&email=ravi.kumar%40jeevika.example.org&role=owner",
    );
    assert_eq!(r.code, 403, "{}", r.body);
    let r = upload_with(&site, "x", "m.csv", "email\nravi2@example.org\n");
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(
        member(&site, "ravi.kumar@jeevika.example.org").unwrap()["role"],
        "member"
    );
    assert!(member(&site, "ravi2@example.org").is_none());

    // Meera: the first hundred of 130, by address, the next page linked.
    sign_in(&site, MEERA);
    let index = site.get("/mod/");
    assert!(
        index.body.contains("href=\"/mod/mch/members\""),
        "{}",
        index.body
    );
    let page = site.get(PAGE);
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(
        page.body.contains("130 members; 1 to 100 shown"),
        "{}",
        page.body
    );
    assert!(page.body.contains("anjali.mehta@dh-sitapur.example.org"));
    assert!(page.body.contains("bulk000@bulk.example.org"));
    assert!(
        !page.body.contains("ravi.kumar@jeevika.example.org"),
        "on page 2"
    );
    assert!(
        page.body.contains("href=\"/mod/mch/members?page=2\""),
        "{}",
        page.body
    );
    let two = site.get(&format!("{PAGE}?page=2"));
    assert!(two.body.contains("101 to 130 shown"), "{}", two.body);
    assert!(two.body.contains("ravi.kumar@jeevika.example.org"));
    assert!(!two.body.contains("bulk000@bulk.example.org"));
    assert!(
        two.body.contains("href=\"/mod/mch/members?page=1\""),
        "{}",
        two.body
    );

    // Search, ignoring case: by organisation, by name, by place; a
    // search's pages keep it.
    for (q, found) in [
        ("jeevika+HEALTH", "ravi.kumar@jeevika.example.org"),
        ("lakshmi", "lakshmi.menon@who-india.example.org"),
        ("SITAPUR", "anjali.mehta@dh-sitapur.example.org"),
    ] {
        let r = site.get(&format!("{PAGE}?q={q}"));
        assert_eq!(r.code, 200, "{}", r.body);
        assert!(r.body.contains("1 member matching"), "{q}: {}", r.body);
        assert!(r.body.contains(found), "{q}: {}", r.body);
        assert!(!r.body.contains("arjun.rao@phfi.example.org"), "{q}");
    }
    let r = site.get(&format!("{PAGE}?q=bulk+org"));
    assert!(r.body.contains("120 members matching"), "{}", r.body);
    assert!(
        r.body
            .contains("href=\"/mod/mch/members?q=bulk%20org&amp;page=2\""),
        "{}",
        r.body
    );
    let r = site.get(&format!("{PAGE}?q=bulk+org&page=2"));
    assert!(r.body.contains("101 to 120 shown"), "{}", r.body);
    assert!(!r.body.contains("ravi.kumar@jeevika.example.org"));

    // Adding with a bad address: refused, the field named, what was typed kept.
    let add = "action=add&name=Asha+Rao&organisation=PHFI&place=Pune&delivery=digest&role=member";
    let r = submit(
        &site,
        PAGE,
        PAGE,
        &format!("email=asha-at-example.org&{add}"),
    );
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body
            .contains("Email address: “asha-at-example.org” is not an address"),
        "{}",
        r.body
    );
    for kept in [
        "value=\"asha-at-example.org\"",
        "value=\"Asha Rao\"",
        "value=\"PHFI\"",
        "value=\"Pune\"",
        "<option value=\"digest\" selected>",
    ] {
        assert!(r.body.contains(kept), "{kept}: {}", r.body);
    }
    assert!(member(&site, "asha@example.org").is_none());
    let r = submit(
        &site,
        PAGE,
        PAGE,
        &format!("email=Asha%40Example.org&{add}"),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(
        r.body
            .contains("Added Asha Rao (asha@example.org) as member, receiving digest."),
        "{}",
        r.body
    );
    let asha = member(&site, "asha@example.org").unwrap();
    assert_eq!(
        (asha["delivery"].as_str(), asha["place"].as_str()),
        (Some("digest"), Some("Pune"))
    );
    let r = submit(
        &site,
        PAGE,
        PAGE,
        &format!("email=asha%40example.org&{add}"),
    );
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body.contains("asha@example.org is already a member"),
        "{}",
        r.body
    );

    // Ravi's role, delivery and moderation changed from his row.
    let ravi = "email=ravi.kumar%40jeevika.example.org&action=set";
    let r = submit(
        &site,
        &format!("{PAGE}?q=ravi"),
        PAGE,
        &format!("{ravi}&role=moderator&delivery=each&moderation=hold&q=ravi&page=1"),
    );
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(
        r.body.contains("Changed Ravi Kumar (ravi.kumar@jeevika.example.org): role moderator (was member); delivery each post (was digest); moderation: hold every post (was as the policy says)."),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("1 member matching"),
        "the search kept: {}",
        r.body
    );
    let row = member(&site, "ravi.kumar@jeevika.example.org").unwrap();
    assert_eq!(
        (
            row["role"].as_str(),
            row["delivery"].as_str(),
            row["moderation"].as_str()
        ),
        (Some("moderator"), Some("each"), Some("hold")),
        "{row}"
    );
    // Only an owner makes an owner; no one changes their own role.
    let r = submit(&site, PAGE, PAGE, &format!("{ravi}&role=owner"));
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body
            .contains("only an owner gives or takes the owner role"),
        "{}",
        r.body
    );
    let r = submit(
        &site,
        PAGE,
        PAGE,
        "action=set&email=meera.iyer%40solutionexchange.example.org&role=member",
    );
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body.contains("you cannot change your own role"),
        "{}",
        r.body
    );
    assert_eq!(member(&site, MEERA).unwrap()["role"], "moderator");
    let r = submit(&site, PAGE, PAGE, &format!("{ravi}&delivery=weekly"));
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body.contains("Delivery: “weekly” is not a choice"),
        "{}",
        r.body
    );

    // The audit log: Meera's adding and changing, on the web.
    assert_audited_by_meera_on_the_web(&site, "member-add", "asha@example.org");
    assert_audited_by_meera_on_the_web(&site, "member-set", "ravi.kumar@jeevika.example.org");

    // A CSV file: good rows added, an existing member left, bad rows
    // (after two blank lines) reported by the line they are on.
    // (Handlebars writes a backtick as &#x60;.)
    let csv = "email,name,organisation,place,role,delivery\n\
               new.one@example.org,New One,Org A,Patna,member,digest\n\
               arjun.rao@phfi.example.org,Arjun Rao,PHFI,Hyderabad,,\n\
               \n\
               \n\
               not-an-address,Bad Row,,,,\n\
               new.two@example.org,New Two,,,member,weekly\n\
               new.three@example.org,New Three,Org C,Delhi,,consolidated\n";
    let r = upload(&site, "new-members.csv", csv);
    assert_eq!(r.code, 200, "{}", r.body);
    assert!(
        r.body.contains(
            "Imported new-members.csv: 2 members added, 1 already a member, 2 rows not imported."
        ),
        "{}",
        r.body
    );
    for line in [
        "<tr><th scope=\"row\">6</th><td>email: &#x60;not-an-address&#x60; is not an email address",
        "<tr><th scope=\"row\">7</th><td>delivery: &#x60;weekly&#x60; is not a valid delivery mode",
        "<tr><th scope=\"row\">3</th><td>arjun.rao@phfi.example.org</td></tr>",
        "<tr><th scope=\"row\">2</th><td>new.one@example.org</td><td>New One</td></tr>",
        "<tr><th scope=\"row\">8</th><td>new.three@example.org</td><td>New Three</td></tr>",
    ] {
        assert!(r.body.contains(line), "{line}: {}", r.body);
    }
    assert_eq!(
        member(&site, "new.one@example.org").unwrap()["delivery"],
        "digest"
    );
    assert_eq!(
        member(&site, "new.three@example.org").unwrap()["delivery"],
        "consolidated"
    );
    assert!(member(&site, "new.two@example.org").is_none());
    assert_eq!(
        member(&site, "arjun.rao@phfi.example.org").unwrap()["delivery"],
        "each"
    );
    assert_audited_by_meera_on_the_web(&site, "member-add", "new.three@example.org");
    // A header it cannot use: nothing added, the reason given.
    let r = upload(&site, "phones.csv", "email,phone\nx@example.org,123\n");
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(
        r.body
            .contains("phones.csv, line 1: unknown column &#x60;phone&#x60;"),
        "{}",
        r.body
    );
    // A moderator's file cannot make owners.
    let r = upload(&site, "owners.csv", "email,role\nboss@example.org,owner\n");
    assert!(
        r.body.contains("role: only an owner adds owners"),
        "{}",
        r.body
    );
    assert!(member(&site, "boss@example.org").is_none());
    // An upload without its form's token is refused.
    let r = upload_with(&site, "forged", "m.csv", "email\nforged@example.org\n");
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(member(&site, "forged@example.org").is_none());

    // Over 2 MB: refused with a page saying so, nothing added.
    let before = members(&site).len();
    let mut big = String::from("email,name\n");
    let mut i = 0;
    while big.len() <= 2 * 1024 * 1024 + 10 {
        big.push_str(&format!(
            "big{i}@example.org,A member with a long name {i}\n"
        ));
        i += 1;
    }
    let r = upload(&site, "big.csv", &big);
    assert_eq!(r.code, 413, "{}", r.body);
    assert!(
        r.body.contains("The file is larger than 2 MB"),
        "{}",
        r.body
    );
    assert_eq!(members(&site).len(), before);
    // Just under it (about 77,000 members): taken whole, within the web's
    // request timeout on either engine.
    let mut under = String::from("email\n");
    let mut i = 0;
    while under.len() < 2 * 1024 * 1024 - 64 {
        under.push_str(&format!("under{i:06}@example.org\n"));
        i += 1;
    }
    let r = upload(&site, "under.csv", &under);
    assert_eq!(r.code, 200, "{}", &r.body[..r.body.len().min(2000)]);
    assert!(
        r.body.contains(&format!("{i} members added")),
        "{}",
        &r.body[..2000]
    );
    // The other forms still take at most 64 KiB.
    let r = site.post(PAGE, &format!("action=add&name={}", "x".repeat(70 * 1024)));
    assert_eq!(r.code, 413, "{}", r.body);
}

#[test]
fn the_members_page_works_in_a_browser_and_is_valid_and_accessible() {
    use crate::browser::{Browser, validate_html};
    let site = Site::demo("members", "");
    let Some(mut b) = Browser::start() else {
        return;
    };
    browser_sign_in(&mut b, &site, MEERA);
    let base = site.base.clone();
    b.goto(&format!("{base}/mod/"));
    b.click_link("Members");
    assert!(b.url().ends_with(PAGE), "{}", b.url());

    // A row's selects sit in other cells than its form: the browser sends
    // them with it.
    b.goto(&format!("{base}{PAGE}?q=ravi"));
    b.select("#delivery-0", "each");
    b.select("#moderation-0", "hold");
    b.submit("#set-0 button");
    let text = b.text("main");
    assert!(text.contains("Changed Ravi Kumar"), "{text}");
    let ravi = member(&site, "ravi.kumar@jeevika.example.org").unwrap();
    assert_eq!(
        (ravi["delivery"].as_str(), ravi["moderation"].as_str()),
        (Some("each"), Some("hold")),
        "{ravi}"
    );
    let violations = b.axe();
    assert!(violations.is_empty(), "{violations:?}");

    b.fill("#add-email", "asha@example.org");
    b.fill("#add-name", "Asha Rao");
    b.select("#add-delivery", "digest");
    b.submit("form[aria-labelledby=add-h] button");
    assert!(
        b.text("main").contains("Added Asha Rao"),
        "{}",
        b.text("main")
    );
    assert_eq!(
        member(&site, "asha@example.org").unwrap()["delivery"],
        "digest"
    );

    // A file chosen and uploaded; the report is valid and accessible.
    let file = site.home.path().join("upload.csv");
    std::fs::write(
        &file,
        "email,name\nnew.one@example.org,New One\n\nnot-an-address,Bad\n",
    )
    .unwrap();
    b.fill("#file", file.to_str().unwrap());
    b.submit("form[aria-labelledby=import-h] button");
    let text = b.text("main");
    assert!(
        text.contains("Imported upload.csv: 1 member added"),
        "{text}"
    );
    assert!(member(&site, "new.one@example.org").is_some());
    let violations = b.axe();
    assert!(violations.is_empty(), "{violations:?}");
    // The answer to a POST cannot be fetched again: its DOM is checked.
    let html = b.execute("return document.documentElement.outerHTML;", vec![]);
    let problems = validate_html(
        &b.url(),
        &format!("<!DOCTYPE html>\n{}", html.as_str().unwrap()),
    );
    assert!(problems.is_empty(), "{problems:?}");

    // The list, a search, the index and the queue: valid and accessible.
    b.check_pages(&[
        format!("{base}{PAGE}"),
        format!("{base}{PAGE}?q=delhi"),
        format!("{base}/mod/"),
        format!("{base}/mod/mch/queue"),
    ]);
}
