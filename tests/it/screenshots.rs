//! The README's screenshots, taken by `scripts/screenshots` (an ignored test,
//! so the suite never runs it): `praxis demo` makes the demo community, `praxis
//! serve` serves it on loopback, and the browser harness photographs the
//! community home, a thread with its Consolidated Reply, and a search, at the
//! URLs of DESIGN.md's web contract, into docs/screenshots/ (or the folder in
//! PRAXIS_SCREENSHOTS_DIR).
//!
//! Then the moderators' pages, signed in as the demo's moderator from the
//! mailed link: the queue with posts held, a query's draft editor with two
//! versions compared, and the health page.
//!
//! A page that is not served yet (not 200) is reported and left out; the run
//! then fails after writing the others, so an incomplete set is never mistaken
//! for a full one.

use crate::browser::{Browser, DemoSite, http_get};
use std::path::PathBuf;

/// The demo's community slug (examples/demo/praxis.toml).
const SLUG: &str = "mch";
/// A word the demo's query thread contains, for the search page.
const SEARCH: &str = "kangaroo";
/// The screenshots' width in CSS pixels: a laptop window.
const WIDTH: u32 = 1024;

#[test]
#[ignore = "makes the README's screenshots: run scripts/screenshots"]
fn readme_screenshots() {
    let out = std::env::var_os("PRAXIS_SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::repo().join("docs/screenshots"));
    let Some(mut b) = Browser::start() else {
        panic!("the screenshots need the browser tools: run scripts/screenshots");
    };

    let site = DemoSite::start();
    let base = &site.base;

    // The thread: the first thread link on the home page, else the first thread.
    let home_url = format!("{base}/c/{SLUG}/");
    let mut thread_url = format!("{base}/c/{SLUG}/t/1");
    if http_get(&home_url, "").0 == 200 {
        b.goto(&home_url);
        let prefix = format!("/c/{SLUG}/t/");
        if let Some(href) = b
            .links("a[href]")
            .into_iter()
            .find(|h| h.contains(&prefix) && !h.ends_with(".mbox"))
        {
            thread_url = href;
        }
    }
    let shots = [
        ("home", home_url),
        ("thread", thread_url),
        ("search", format!("{base}/c/{SLUG}/search?q={SEARCH}")),
    ];

    let mut missing = Vec::new();
    for (name, url) in &shots {
        let (status, _) = http_get(url, "");
        if status != 200 {
            missing.push(format!("{name}: {url} answered {status}"));
            continue;
        }
        b.goto(url);
        let file = out.join(format!("{name}.png"));
        b.screenshot_page(&file, WIDTH);
        eprintln!("screenshots: {name} ({url}) -> {}", file.display());
    }
    moderator_screenshots(&mut b, &out);
    let log = site.daemon.log_text();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    assert!(
        missing.is_empty(),
        "{} of {} pages are not served yet, so their screenshots were not taken:\n{}\n\
         the end of praxis serve's log:\n{}",
        missing.len(),
        shots.len(),
        missing.join("\n"),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// The queue, the draft editor and the health page, as the demo's
/// moderator sees them.
fn moderator_screenshots(b: &mut Browser, out: &std::path::Path) {
    use crate::web_members::{link, wait_mail};
    use crate::web_moderate::{MEERA, hold};
    let site = crate::site::Site::demo_web("archive = \"public\"\nhealth = \"moderators\"\n", "");
    let base = site.base.clone();
    // A query with two responses and a draft saved twice.
    let thread = crate::web_mod_queries::solar_query(&site);
    let draft = site
        .home
        .stdout(&["consolidate", &thread.to_string(), "--print"]);
    let file = site.home.path().join("draft.md");
    for text in [
        draft.clone(),
        draft.replacen(
            "\n\n",
            "\n\nIce-lined solar fridges held the cold chain through cloudy days.\n\n",
            1,
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        site.home
            .praxis()
            .args(["consolidate", &thread.to_string(), "--from"])
            .arg(&file)
            .args(["--as", "Meera Iyer"])
            .assert()
            .success();
    }
    // Held posts waiting.
    hold(
        &site,
        "Outsider One <one@outside.example>",
        "Cold chain boxes for ASHA workers",
    );
    hold(
        &site,
        "Outsider Two <two@outside.example>",
        "ORS stock-outs in summer",
    );
    // Meera signs in from the mailed link.
    b.goto(&format!("{base}/signin"));
    b.fill("#signin-email", MEERA);
    b.submit("main form button[type=submit]");
    let mail = wait_mail(&site, MEERA, "Sign in");
    b.goto(&format!("{base}{}", link(&site, &mail, "/signin/")));
    b.submit("main form button[type=submit]");
    for (name, url) in [
        ("queue", format!("{base}/mod/mch/queue")),
        (
            "draft",
            format!("{base}/mod/mch/queries/{thread}/draft?a=1&b=2"),
        ),
        ("health", format!("{base}/c/mch/health")),
    ] {
        b.goto(&url);
        let file = out.join(format!("{name}.png"));
        b.screenshot_page(&file, WIDTH);
        eprintln!("screenshots: {name} ({url}) -> {}", file.display());
    }
}
