//! The browser harness proven on pages served by the test itself (axum on
//! loopback): a form filled and submitted in a real Chromium, a good page that
//! passes the Nu HTML Checker and axe-core, a page with known faults that fails
//! both (so neither check can pass silently), a screenshot that is a real PNG,
//! and the rule that a run with PRAXIS_TEST_REQUIRE_BROWSER=1 cannot skip.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Form, Query};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;

use crate::browser::{
    Browser, XSS_PAYLOADS, png_size, tools, tools_from, validate_by_jar, validate_by_service,
    validate_html, validate_pages,
};

/// A valid, accessible form: a labelled text field, a labelled choice, a button.
const FORM_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Say hello</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>Say hello</h1>
<form method="post" action="/greet">
<p><label for="name">Your name</label> <input id="name" name="name" required></p>
<p><label for="place">Where you work</label>
<select id="place" name="place">
<option value="Patna">Patna</option>
<option value="Pune">Pune</option>
</select></p>
<p><button type="submit">Send</button></p>
</form>
</main>
</body>
</html>
"#;

/// Three known faults: no `lang`, a duplicate id, an image without `alt`.
const BAD_PAGE: &str = r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Broken</title></head>
<body>
<main>
<h1 id="top">Broken</h1>
<p id="top">Same id twice.</p>
<img src="/chart.png">
</main>
</body>
</html>
"#;

/// The answer page after the form's POST and its redirect.
fn hello(q: &HashMap<String, String>) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let name = esc(q.get("name").map_or("", String::as_str));
    let place = esc(q.get("place").map_or("", String::as_str));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Hello</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n\
         <body>\n<main>\n<h1>Hello</h1>\n<p id=\"answer\">Hello, {name} from {place}</p>\n\
         <p><a href=\"/\">Again</a></p>\n</main>\n</body>\n</html>\n"
    )
}

/// A page three windows tall, for the whole-page screenshot.
fn long_page() -> String {
    let paragraphs: String = (1..=80)
        .map(|i| format!("<p>Paragraph {i} of a long thread.</p>\n"))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Long</title>\n</head>\n<body>\n<main>\n{paragraphs}</main>\n</body>\n</html>\n"
    )
}

/// Every hostile payload in a list item, escaped or (the fault) not; the
/// unescaped page is served without a CSP so its payloads also run.
fn xss_page(escape: bool) -> String {
    let items: String = XSS_PAYLOADS
        .iter()
        .map(|p| {
            let p = if escape {
                p.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&quot;")
            } else {
                p.to_string()
            };
            format!("<li>{p}</li>\n")
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Subjects</title>\n</head>\n<body>\n<main>\n<ul>\n{items}</ul>\n</main>\n</body>\n</html>\n"
    )
}

/// A small site on a free loopback port, served from its own thread until the test ends.
struct Site {
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl Site {
    fn start() -> Site {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Pages carry a Content-Security-Policy as strict as praxis's will be,
        // to show that the injected axe-core still runs under it.
        let csp = || {
            [(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'",
            )]
        };
        let app = axum::Router::new()
            .route("/", get(move || async move { (csp(), Html(FORM_PAGE)) }))
            .route(
                "/greet",
                axum::routing::post(|Form(f): Form<HashMap<String, String>>| async move {
                    let q = format!(
                        "/hello?name={}&place={}",
                        urlencode(f.get("name").map_or("", String::as_str)),
                        urlencode(f.get("place").map_or("", String::as_str))
                    );
                    Redirect::to(&q)
                }),
            )
            .route(
                "/hello",
                get(move |Query(q): Query<HashMap<String, String>>| async move {
                    (csp(), Html(hello(&q)))
                }),
            )
            .route("/bad", get(|| async { Html(BAD_PAGE) }))
            .route("/long", get(|| async { Html(long_page()) }))
            .route("/xss/raw", get(|| async { Html(xss_page(false)) }))
            .route(
                "/xss/escaped",
                get(move || async move { (csp(), Html(xss_page(true))) }),
            )
            .route(
                "/style.css",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "text/css")],
                        "body { font: 18px/1.5 sans-serif; margin: 2rem; color: #222; }\n",
                    )
                        .into_response()
                }),
            );
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        Site { base }
    }
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text a panic carried.
fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_person_fills_the_form_and_reads_the_answer() {
    let started = Instant::now();
    let site = Site::start();
    let Some(mut b) = Browser::start() else {
        return;
    };
    let up = started.elapsed();
    b.goto(&format!("{}/", site.base));
    assert_eq!(b.title(), "Say hello");
    b.fill("#name", "Asha <Devi>");
    b.select("#place", "Pune");
    b.submit("form button[type=submit]");
    assert!(
        b.url().starts_with(&format!("{}/hello?", site.base)),
        "the POST did not redirect to the answer: {}",
        b.url()
    );
    assert_eq!(b.text("#answer"), "Hello, Asha <Devi> from Pune");
    assert_eq!(b.texts("main p"), ["Hello, Asha <Devi> from Pune", "Again"]);
    assert_eq!(b.attr("main a", "href").as_deref(), Some("/"));
    assert!(!b.exists("form"), "the answer page still shows the form");
    b.check();
    b.click_link("Again");
    assert_eq!(b.url(), format!("{}/", site.base));
    assert_eq!(b.find_all("option").len(), 2);
    b.check_pages(&[
        format!("{}/", site.base),
        format!("{}/hello?name=Ravi&place=Patna", site.base),
    ]);

    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shots/form.png");
    b.screenshot(&shot);
    let png = std::fs::read(&shot).unwrap();
    let (w, h) = png_size(&png).expect("a PNG");
    assert!(w >= 800 && h >= 400, "a {w}×{h} screenshot");
    let page = dir.path().join("shots/form-page.png");
    b.screenshot_page(&page, 800);
    let (pw, ph) = png_size(&std::fs::read(&page).unwrap()).expect("a PNG");
    assert_eq!(pw, 800, "the whole-page screenshot is not 800 pixels wide");
    // The answer page is short: the shot ends below its link, not at the window's edge.
    assert!(
        (200..500).contains(&ph),
        "a {pw}×{ph} whole-page screenshot"
    );
    b.goto(&format!("{}/long", site.base));
    let last = b.find("main p:last-child");
    let bottom = b.execute(
        "return Math.ceil(arguments[0].getBoundingClientRect().bottom + window.scrollY);",
        vec![serde_json::to_value(&last).unwrap()],
    );
    let long = dir.path().join("shots/long.png");
    b.screenshot_page(&long, 800);
    let (_, lh) = png_size(&std::fs::read(&long).unwrap()).expect("a PNG");
    let bottom = bottom.as_u64().unwrap() as u32;
    assert!(
        bottom > 1500 && lh >= bottom,
        "the whole-page screenshot is {lh} pixels tall; the last paragraph ends at {bottom}"
    );
    eprintln!(
        "browser test: Chromium up in {:.1?}, whole test {:.1?}",
        up,
        started.elapsed()
    );
}

#[test]
fn a_page_with_known_faults_fails_both_checks() {
    let site = Site::start();
    let Some(mut b) = Browser::start() else {
        return;
    };
    let url = format!("{}/bad", site.base);
    b.goto(&url);

    let errors = b.validate();
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(
        has("Duplicate ID “top”"),
        "vnu missed the duplicate id: {errors:#?}"
    );
    assert!(
        has("must have an “alt” attribute"),
        "vnu missed the alt: {errors:#?}"
    );
    assert!(
        errors.iter().all(|e| e.starts_with(&format!("{url}:"))),
        "an error does not name the page: {errors:#?}"
    );

    let violations = b.axe();
    let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    assert!(ids.contains(&"image-alt"), "axe missed the alt: {ids:?}");
    assert!(
        ids.contains(&"html-has-lang"),
        "axe missed the lang: {ids:?}"
    );
    let alt = violations.iter().find(|v| v.id == "image-alt").unwrap();
    assert_eq!(alt.nodes[0].target, "img", "{alt}");

    // The same checker on HTML no browser shows, several documents in one
    // run: each error is put on the document it is in.
    assert_eq!(validate_html("bad.html", BAD_PAGE).len(), errors.len());
    let both = validate_pages(&[("form.html", FORM_PAGE), ("bad.html", BAD_PAGE)]);
    assert!(
        both.len() == errors.len() && both.iter().all(|e| e.starts_with("bad.html:")),
        "{both:#?}"
    );

    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.check()))
        .expect_err("check() passed a page with three faults");
    let msg = panic_text(failed);
    for needle in [
        url.as_str(),
        "Duplicate ID",
        "axe rule `image-alt` (critical)",
        "html-has-lang",
    ] {
        assert!(
            msg.contains(needle),
            "the failure does not say {needle:?}:\n{msg}"
        );
    }
}

#[test]
fn missing_tools_skip_unless_the_run_requires_them() {
    let none = |_: &str| None;
    let why = tools_from(none).expect_err("no tools, yet not skipped");
    assert!(why.contains("PRAXIS_TEST_CHROMEDRIVER (not set)"), "{why}");
    assert!(why.contains("scripts/browser install"), "{why}");

    let required = |k: &str| (k == "PRAXIS_TEST_REQUIRE_BROWSER").then(|| "1".to_string());
    let failed = std::panic::catch_unwind(|| tools_from(required))
        .expect_err("PRAXIS_TEST_REQUIRE_BROWSER=1 yet a missing tool skipped");
    assert!(panic_text(failed).contains("PRAXIS_TEST_VNU (not set)"));

    let gone = |k: &str| Some(format!("/nonexistent/{k}"));
    let why = tools_from(gone).expect_err("missing files, yet not skipped");
    assert!(why.contains("(no such file)"), "{why}");
}

#[test]
fn scripts_test_requires_the_browser_tools() {
    // The one place that keeps CI from skipping the browser tests.
    let script = std::fs::read_to_string(crate::support::repo().join("scripts/test")).unwrap();
    for line in [
        "bash \"$here/browser\" install",
        "browser_env=$(bash \"$here/browser\" env)",
    ] {
        assert!(
            script.lines().any(|l| l.trim() == line),
            "scripts/test no longer runs `{line}`"
        );
    }
    let env = std::process::Command::new("bash")
        .arg(crate::support::repo().join("scripts/browser"))
        .arg("env")
        .output()
        .unwrap();
    if env.status.success() {
        let text = String::from_utf8_lossy(&env.stdout);
        assert!(
            text.contains("export PRAXIS_TEST_REQUIRE_BROWSER=1"),
            "{text}"
        );
        assert!(text.contains("export PRAXIS_TEST_AXE="), "{text}");
    } else {
        let why = String::from_utf8_lossy(&env.stderr);
        assert!(why.contains("scripts/browser install"), "{why}");
    }
}

#[test]
fn the_demo_site_is_made_and_served() {
    let site = crate::browser::DemoSite::start();
    let threads = site.home.json(&["--json", "threads"]);
    assert!(
        threads.as_array().is_some_and(|t| !t.is_empty()),
        "the demo left no threads: {threads}"
    );
    // Whatever pages exist today, the server answers HTTP on the address.
    let (status, _) = crate::browser::http_get(&format!("{}/c/mch/", site.base), "");
    assert!((200..600).contains(&status), "{status}");
}

#[test]
fn hostile_markup_is_found_live_and_passes_once_escaped() {
    let site = Site::start();
    let Some(mut b) = Browser::start() else {
        return;
    };
    b.goto(&format!("{}/xss/escaped", site.base));
    b.assert_inert();
    let shown = b.texts("li");
    assert_eq!(
        shown, XSS_PAYLOADS,
        "the escaped payloads do not read as text"
    );

    b.goto(&format!("{}/xss/raw", site.base));
    let found = b.xss_found();
    for needle in [
        "a payload ran: ",
        "a script element: <script>",
        "an event handler onerror",
        "an event handler onload",
        "a script URL in href",
        "an embedding element: <iframe",
        "a srcdoc",
    ] {
        assert!(
            found.iter().any(|f| f.starts_with(needle)),
            "the scan missed {needle:?}: {found:#?}"
        );
    }
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.assert_inert()))
        .expect_err("assert_inert passed a page of live payloads");
    assert!(panic_text(failed).contains("/xss/raw"));
}

#[test]
fn the_checker_service_and_the_jar_agree() {
    let Some(tools) = tools() else {
        return;
    };
    let pages = [("form.html", FORM_PAGE), ("bad.html", BAD_PAGE)];
    let by_jar = validate_by_jar(&tools.vnu, &pages);
    assert_eq!(by_jar.len(), 2, "{by_jar:#?}");
    let Ok(service) = std::env::var("PRAXIS_TEST_VNU_URL") else {
        assert_ne!(
            std::env::var("PRAXIS_TEST_REQUIRE_BROWSER").as_deref(),
            Ok("1"),
            "scripts/test runs the checker's service, yet PRAXIS_TEST_VNU_URL is unset"
        );
        eprintln!("PRAXIS_TEST_VNU_URL is unset: only the jar was checked");
        return;
    };
    let by_service = validate_by_service(&service, &pages)
        .unwrap_or_else(|| panic!("the checker's service at {service} never answered"));
    assert_eq!(by_service, by_jar);
}
