//! `praxis stats`: a community's health figures from the command line,
//! checked against a community built as moderators build one (members
//! added, a query and two responses mailed in, a reply published), its
//! figures counted by hand.

use chrono::{Datelike, Utc};
use serde_json::Value;

use crate::consolidate::asked_and_answered;
use crate::support::Home;

/// The figures of the whole period, from `praxis stats --json`.
fn period(home: &Home) -> (Value, Value) {
    let h = home.json(&["stats", "-c", "health", "--json"]);
    assert_eq!(h["community"], "health");
    assert_eq!(h["target_working_days"], 10);
    // Twelve calendar months by default, this one last.
    let months = h["months"].as_array().unwrap();
    assert_eq!(months.len(), 12, "{h}");
    let now = Utc::now();
    assert_eq!(
        months[11]["label"],
        format!("{:04}-{:02}", now.year(), now.month())
    );
    (h["period"].clone(), h["now"].clone())
}

#[test]
fn stats_count_a_query_its_responses_and_its_reply() {
    let home = Home::new();
    let id = asked_and_answered(&home).to_string();
    // Alice asked (approved on arrival: the query's clock starts then);
    // Bob and Carol answered; Meera moderates.
    let (p, now) = period(&home);
    assert_eq!(
        (p["queries_asked"].as_i64(), p["queries_answered"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(p["reply_working_days_median"], Value::Null);
    assert_eq!(p["on_time_share"], Value::Null);
    assert_eq!(
        (
            p["responses_median"].as_f64(),
            p["responders_median"].as_f64()
        ),
        (Some(2.0), Some(2.0))
    );
    assert_eq!(p["no_response_share"].as_f64(), Some(0.0));
    // Four members joined today; nobody left, bounced or was disabled.
    assert_eq!(
        (p["joined"].as_i64(), p["left"].as_i64()),
        (Some(4), Some(0))
    );
    assert_eq!(
        (p["bounces"].as_i64(), p["disabled"].as_i64()),
        (Some(0), Some(0))
    );
    // The three posts are dated 2–4 November 2026: in the period while it
    // reaches back that far.
    let dated_in_period =
        Utc::now().date_naive() < chrono::NaiveDate::from_ymd_opt(2027, 11, 1).unwrap();
    assert_eq!(
        p["posts"].as_i64(),
        Some(if dated_in_period { 3 } else { 0 })
    );
    assert_eq!(now["members"], 4);
    assert_eq!(now["by_delivery"]["each"], 4);
    assert_eq!(
        (
            now["open_queries"].as_i64(),
            now["overdue_queries"].as_i64()
        ),
        (Some(1), Some(0))
    );
    // Active: posted in the last 90 days (by their Date headers).
    let recent = (Utc::now()
        - chrono::DateTime::parse_from_rfc3339("2026-11-04T10:00:00+05:30")
            .unwrap()
            .with_timezone(&Utc))
    .num_days()
        < 90;
    assert_eq!(
        now["active_members"].as_i64(),
        Some(if recent { 3 } else { 0 })
    );
    assert_eq!(
        now["active_share"].as_f64(),
        Some(if recent { 0.75 } else { 0.0 })
    );

    // The reply goes out the day the query was asked: 0 working days, on time.
    let file = home.path().join("draft.md");
    let draft = home.stdout(&["consolidate", &id, "--print"]);
    std::fs::write(&file, &draft).unwrap();
    home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &id]);
    let (p, now) = period(&home);
    assert_eq!(
        (p["queries_asked"].as_i64(), p["queries_answered"].as_i64()),
        (Some(1), Some(1))
    );
    // (1 only when the test runs across the community's midnight.)
    let days = p["reply_working_days_median"].as_f64().unwrap();
    assert!(days == 0.0 || days == 1.0, "{p}");
    assert_eq!(p["reply_working_days_p90"].as_f64(), Some(days));
    assert_eq!(p["on_time_share"].as_f64(), Some(1.0));
    assert_eq!(
        (
            now["open_queries"].as_i64(),
            now["overdue_queries"].as_i64()
        ),
        (Some(0), Some(0))
    );

    // The table says the same, and a bad day names the fix.
    let out = home.stdout(&["stats", "-c", "health"]);
    assert!(
        out.contains("target: a reply within 10 working days"),
        "{out}"
    );
    assert!(out.contains("now: 4 members (each 4)"), "{out}");
    let err = home.stderr_of_failure(&["stats", "-c", "health", "--since", "1/11/2026"]);
    assert!(
        err.contains("--since `1/11/2026` is not a day; write it as 2026-01-31"),
        "{err}"
    );
    let err = home.stderr_of_failure(&["stats", "-c", "nowhere"]);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn owners_get_each_months_figures_once_by_mail() {
    use chrono::{Duration, Months, NaiveDate, TimeZone};
    let home = Home::new();
    asked_and_answered(&home);
    home.praxis()
        .args([
            "members",
            "add",
            "olga@example.org",
            "-c",
            "health",
            "--name",
            "Olga",
        ])
        .args(["--role", "owner"])
        .assert()
        .success();
    let config = praxis::config::Config::load(&home.config()).unwrap();
    let mut store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    let communities = praxis::community::Communities::load(&config, &store).unwrap();
    let url = Some("https://lists.example.org");
    let mut sweep =
        |at| praxis::effects::health_report::sweep(&mut store, &communities, at, url).unwrap();
    // This month is not over: nothing yet (the community began in it).
    let now = Utc::now();
    assert_eq!(sweep(now), 0);
    // Noon on the 2nd of next month (the 2nd in every zone): this month's
    // report, once however often the sweep runs.
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap();
    let next = first.checked_add_months(Months::new(1)).unwrap();
    let later =
        Utc.from_utc_datetime(&(next + chrono::Days::new(1)).and_hms_opt(12, 0, 0).unwrap());
    assert_eq!(sweep(later), 1);
    assert_eq!(sweep(later), 0);
    assert_eq!(sweep(later + Duration::days(10)), 0);
    drop(store);

    let outbox = home.json(&["outbox", "--json"]);
    let reports: Vec<&Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["subject"].as_str().unwrap().ends_with("in figures"))
        .collect();
    assert_eq!(reports.len(), 1, "{outbox}");
    let month = first.format("%B %Y").to_string();
    assert_eq!(
        reports[0]["subject"],
        format!("[health] Maternal and Child Health: {month} in figures").as_str(),
        "{outbox}"
    );
    assert_eq!(
        reports[0]["pending"], 1,
        "Olga, the owner, not Meera: {outbox}"
    );
    let store = praxis::store::Store::open_database(&config.database().unwrap()).unwrap();
    let raw = store
        .outbox_message(praxis::model::OutboxId(reports[0]["id"].as_i64().unwrap()))
        .unwrap()
        .message;
    let text = String::from_utf8_lossy(&raw)
        .replace("=\r\n", "")
        .replace("\r\n", "\n");
    // Asked (approved) this month, not answered; Bob and Carol responded;
    // five members joined. The posts are dated 2–4 November 2026.
    let posts_here = if (now.year(), now.month()) == (2026, 11) {
        "0.7"
    } else {
        "0.0"
    };
    for line in [
        "Queries asked:            1".to_string(),
        "Answered (Consolidated Reply): 0".to_string(),
        "Responses per query:      median 2, from 2 members; 0% of queries had none".to_string(),
        format!("Posts per week:           {posts_here}"),
        "Members joined, left:     5, 0".to_string(),
        "1 open queries".to_string(),
        "Every month, with charts: https://lists.example.org/c/health/health".to_string(),
    ] {
        assert!(text.contains(&line), "{line}:\n{text}");
    }
}
