//! `/c/SLUG/health`: the figures `praxis stats` prints, as charts with
//! tables, open to whom `[community.web] health` says.

use crate::site::Site;

#[test]
fn the_health_page_is_the_moderators_unless_opened_and_shows_the_stats_figures() {
    // By default only moderators see it: an anonymous visitor is offered
    // the sign-in.
    let closed = Site::demo("public", "");
    let page = closed.get("/c/mch/health");
    assert_eq!(page.code, 403, "{}", page.body);
    assert!(
        page.body
            .contains("The health figures of Maternal and Child Health Community are open to its moderators only."),
        "{}",
        page.body
    );
    assert!(page.body.contains("/signin"), "{}", page.body);
    let members = Site::demo_web("archive = \"public\"\nhealth = \"members\"\n", "");
    let page = members.get("/c/mch/health");
    assert_eq!(page.code, 403);
    assert!(
        page.body.contains("open to its members only"),
        "{}",
        page.body
    );

    let open = Site::demo_web("archive = \"public\"\nhealth = \"public\"\n", "");
    let page = open.get("/c/mch/health");
    assert_eq!(page.code, 200, "{}", page.body);
    let stats = open.home.json(&["stats", "-c", "mch", "--json"]);
    let p = &stats["period"];
    let body = &page.body;
    assert!(
        body.contains("How Maternal and Child Health Community is doing"),
        "{body}"
    );
    for (label, value) in [
        ("Queries asked", p["queries_asked"].to_string()),
        (
            "Answered with a Consolidated Reply",
            p["queries_answered"].to_string(),
        ),
        (
            "Members joined, left",
            format!("{}, {}", p["joined"], p["left"]),
        ),
    ] {
        assert!(
            body.contains(&format!("<dt>{label}</dt><dd>{value}</dd>")),
            "{label} {value}: {body}"
        );
    }
    assert!(
        body.contains(&format!(
            "<dt>Members</dt><dd>{} (",
            stats["now"]["members"]
        )),
        "{body}"
    );
    // The demo asked and answered a query: the page is not all zeros.
    assert!(p["queries_asked"].as_i64().unwrap() >= 1, "{stats}");
    // Five charts, each an accessible SVG with a table of its numbers,
    // a row per month of the twelve.
    assert_eq!(body.matches("<svg class=\"chart\"").count(), 5, "{body}");
    assert_eq!(body.matches("role=\"img\"").count(), 5);
    assert_eq!(body.matches("<caption>").count(), 5);
    assert_eq!(body.matches("<th scope=\"row\">").count(), 5 * 12);
    assert!(
        body.contains("target: 10"),
        "the reply target's line: {body}"
    );
    assert!(!body.contains("<script"), "{body}");
}
