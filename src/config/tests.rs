//! Loading as a whole: layers, problems with their keys, typed values.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> (Config, Vec<Problem>) {
    Config::parse(text, Path::new("/etc/praxis/praxis.toml"), &no_env)
}

const MINIMAL: &str = r#"
[[community]]
slug = "health"
name = "Health"
address = "list@example.test"
"#;

#[test]
fn embedded_default_is_clean() {
    let (c, problems) = parse(EMBEDDED_DEFAULT);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(c.communities.len(), 2);
}

#[test]
fn defaults_fill_what_the_file_omits() {
    let (c, problems) = parse(MINIMAL);
    assert!(problems.is_empty(), "{problems:#?}");
    let h = &c.communities[0];
    assert_eq!(h.reply_within_working_days, 10);
    assert_eq!(h.digest.schedule.text, "daily 07:00");
    assert_eq!(h.policy.first_post, FirstPost::Hold);
    assert_eq!(c.smtp.connections, 4);
    assert_eq!(
        c.database_path(),
        PathBuf::from("/etc/praxis/praxis.db"),
        "relative to the config file's folder"
    );
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let text = r#"
[smtp]
hots = "x"
connections = 0

[[community]]
slug = "health"
name = "Health"
address = "not-an-address"
timezone = "Mars/Olympus"
weekend = ["sat", "funday"]
holidays = ["25/12/2026"]

[community.policy]
first_post = "maybe"
max_sise_kb = 10

[community.digest]
schedule = "sometimes"

[[community]]
slug = "health"
name = "Other"
address = "other@example.test"

[community.imap]
host = "imap.example.org"
tls = "none"
username = "other@example.test"
"#;
    let (_, problems) = parse(text);
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    for expected in [
        "smtp.hots",
        "smtp.connections",
        "community[health].address",
        "community[health].timezone",
        "community[health].weekend",
        "community[health].holidays",
        "community[health].policy.first_post",
        "community[health].policy.max_sise_kb",
        "community[health].slug",
        "community[health].imap.tls",
        "community[health].imap.password_env",
    ] {
        assert!(
            keys.contains(&expected),
            "{expected} missing from {keys:#?}"
        );
    }
}

#[test]
fn one_bad_section_does_not_hide_another() {
    let text = r#"
[smtp]
port = "twenty-five"

[[community]]
slug = "health"
name = "Health"
addres = "list@example.test"
"#;
    let (_, problems) = parse(text);
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"smtp.port"), "{keys:?}");
    assert!(keys.contains(&"community[health].addres"), "{keys:?}");
    assert!(keys.contains(&"community[health].address"), "{keys:?}");
}

#[test]
fn ca_files_resolve_against_the_config_folder_and_must_exist() {
    let text = format!(
        "[smtp]\ntls = \"starttls\"\nca_file = \"relay-ca.pem\"\n{MINIMAL}\n\
         [community.imap]\nusername = \"list@example.test\"\n\
         password_env = \"X\"\nca_file = \"/nowhere/imap-ca.pem\"\n"
    );
    let (c, problems) = parse(&text);
    assert_eq!(
        c.smtp.ca_file.as_deref(),
        Some(Path::new("/etc/praxis/relay-ca.pem"))
    );
    let imap = c.communities[0].imap.as_ref().unwrap();
    assert_eq!(
        imap.ca_file.as_deref(),
        Some(Path::new("/nowhere/imap-ca.pem"))
    );
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["smtp.ca_file", "community[health].imap.ca_file"],
        "{problems:#?}"
    );
    assert!(problems[0].message.contains("/etc/praxis/relay-ca.pem"));
    // The environment layer sets it too; without TLS it would be unused.
    let env = |k: &str| (k == "PRAXIS_SMTP_CA_FILE").then(|| "/etc/ssl/relay.pem".to_string());
    let (c, problems) = Config::parse(MINIMAL, Path::new("praxis.toml"), &env);
    assert_eq!(c.smtp.ca_file, Some(PathBuf::from("/etc/ssl/relay.pem")));
    assert!(
        problems
            .iter()
            .any(|p| p.key == "smtp.ca_file" && p.message.contains("smtp.tls is \"none\"")),
        "{problems:#?}"
    );
}

#[test]
fn environment_overrides_the_file() {
    let env = |k: &str| match k {
        "PRAXIS_SMTP_PORT" => Some("2525".to_string()),
        "PRAXIS_DATABASE_PATH" => Some("/var/lib/praxis/p.db".to_string()),
        _ => None,
    };
    let (c, problems) = Config::parse(MINIMAL, Path::new("praxis.toml"), &env);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(c.smtp.port, 2525);
    assert_eq!(c.database_path(), PathBuf::from("/var/lib/praxis/p.db"));

    let bad = |k: &str| (k == "PRAXIS_SMTP_PORT").then(|| "x".to_string());
    let (_, problems) = Config::parse(MINIMAL, Path::new("praxis.toml"), &bad);
    assert_eq!(problems[0].key, "smtp.port");
}

#[test]
fn lmtp_listen_is_loopback_or_unix() {
    assert!(parse_listen("127.0.0.1:8024").is_ok());
    assert!(parse_listen("[::1]:8024").is_ok());
    assert_eq!(
        parse_listen("unix:/run/praxis.sock").unwrap(),
        Listen::Unix("/run/praxis.sock".into())
    );
    assert!(parse_listen("0.0.0.0:8024").is_err());
    assert!(parse_listen("10.1.2.3:24").is_err());
    assert!(parse_listen("unix:").is_err());
}

#[test]
fn addresses() {
    assert_eq!(
        split_address("list@example.test"),
        Some(("list", "example.test"))
    );
    for bad in [
        "",
        "list",
        "@x.org",
        "a@",
        "a b@x.org",
        "a@x..org",
        "<a@x.org>",
    ] {
        assert_eq!(split_address(bad), None, "{bad}");
    }
}

#[test]
fn typed_values_are_problems_at_their_keys_all_at_once() {
    let text = format!(
        "{MINIMAL}timezone = \"Asia/Kolkatta\"\nweekend = [\"sat\", \"funday\"]\n\
         holidays = [\"2026-12-25\", \"25/12/2026\"]\n\n[community.digest]\nschedule = \"sometimes\"\n"
    );
    let (_, problems) = parse(&text);
    let mut got: Vec<(&str, &str, &str)> = problems
        .iter()
        .map(|p| (p.key.as_str(), p.message.as_str(), p.fix.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "community[health].digest.schedule",
                "`sometimes` is not a schedule",
                "use \"daily 07:00\", \"weekly mon 07:00\" or a cron expression such as \"0 7 * * 1-5\"",
            ),
            (
                "community[health].holidays",
                "`25/12/2026` is not a date",
                "write dates as YYYY-MM-DD, e.g. 2026-12-25",
            ),
            (
                "community[health].timezone",
                "`Asia/Kolkatta` is not an IANA time zone",
                "write an IANA name, e.g. Asia/Kolkata",
            ),
            (
                "community[health].weekend",
                "`funday` is not a day of the week",
                "use mon, tue, wed, thu, fri, sat or sun",
            ),
        ]
    );
    // A name far from every zone gets the usual examples.
    let (_, problems) = parse(&format!("{MINIMAL}timezone = \"Nowhere\"\n"));
    assert_eq!(problems[0].key, "community[health].timezone");
    assert!(problems[0].fix.contains("Europe/Paris"), "{problems:#?}");
    let (_, problems) = parse(&format!("{MINIMAL}timezone = \"europe/paris\"\n"));
    assert_eq!(problems[0].fix, "write an IANA name, e.g. Europe/Paris");
}

#[test]
fn typed_values_build_the_calendar_and_print_as_written() {
    let text = format!(
        "{MINIMAL}timezone = \"Asia/Kolkata\"\nweekend = [\"Sunday\"]\n\
         holidays = [\"2026-11-09\"]\n\n[community.digest]\nschedule = \"weekly mon 07:30\"\n"
    );
    let (c, problems) = parse(&text);
    assert!(problems.is_empty(), "{problems:#?}");
    let h = &c.communities[0];
    assert_eq!(h.timezone, chrono_tz::Asia::Kolkata);
    assert_eq!(h.timezone, chrono_tz::Asia::Kolkata);
    assert_eq!(h.weekend, [chrono::Weekday::Sun]);
    let cal = h.calendar();
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert!(!cal.is_working(date("2026-11-08")), "Sunday");
    assert!(!cal.is_working(date("2026-11-09")), "a holiday");
    assert!(cal.is_working(date("2026-11-07")), "Saturday works here");

    let v = serde_json::to_value(&c).unwrap();
    let h = &v["community"][0];
    assert_eq!(h["timezone"], "Asia/Kolkata");
    assert_eq!(h["weekend"], serde_json::json!(["sun"]));
    assert_eq!(h["holidays"], serde_json::json!(["2026-11-09"]));
    assert_eq!(h["digest"]["schedule"], "weekly mon 07:30");
    // What is printed reads back the same.
    let again = toml::to_string(&c).unwrap();
    let (c2, problems) = parse(&again);
    assert!(problems.is_empty(), "{again}\n{problems:#?}");
    assert_eq!(serde_json::to_value(&c2).unwrap(), v);
}

#[test]
fn syntax_errors_name_the_line() {
    let (_, problems) = parse("[smtp\nhost = 1");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.contains("line 1"),
        "{}",
        problems[0].message
    );
}

#[test]
fn which_threads_are_queries_is_a_checked_policy_key() {
    let (c, problems) = parse(MINIMAL);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(c.communities[0].policy.queries, Queries::Questions);
    let (c, problems) = parse(&format!(
        "{MINIMAL}\n[community.policy]\nqueries = \"moderator\"\n"
    ));
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(c.communities[0].policy.queries, Queries::Moderator);
    let (_, problems) = parse(&format!(
        "{MINIMAL}\n[community.policy]\nqueries = \"sometimes\"\n"
    ));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let shown = problems[0].to_string();
    assert!(
        shown.contains("community[health].policy.queries")
            && shown.contains("moderator")
            && shown.contains("questions")
            && shown.contains("all"),
        "{shown}"
    );
}

#[test]
fn health_figures_are_the_moderators_unless_opened() {
    let (c, problems) = parse(MINIMAL);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(c.communities[0].web.health, ArchiveAccess::Moderators);
    let (c, problems) = parse(&format!(
        "{MINIMAL}\n[community.web]\nhealth = \"public\"\n"
    ));
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(c.communities[0].web.health, ArchiveAccess::Public);
    let (_, problems) = parse(&format!(
        "{MINIMAL}\n[community.web]\nhealth = \"everyone\"\n"
    ));
    let text = format!("{problems:?}");
    assert!(
        text.contains("everyone") && text.contains("moderators"),
        "{text}"
    );
}

#[test]
fn ready_made_reject_reasons_are_sentences() {
    let (c, problems) = parse(&format!(
        "{MINIMAL}\n[community.policy]\nreject_reasons = [\"Off topic.\"]\n"
    ));
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(c.communities[0].policy.reject_reasons, ["Off topic."]);
    let (_, problems) = parse(&format!(
        "{MINIMAL}\n[community.policy]\nreject_reasons = [\"Off topic.\", \"  \"]\n"
    ));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(
        problems[0].key,
        "community[health].policy.reject_reasons[1]"
    );
}

/// `[database] url`: a PostgreSQL URL without a password (that comes from
/// password_env or password_file), and a link secret every node shares.
#[test]
fn a_postgres_database_is_checked() {
    let keys = |text: &str| -> Vec<(String, String)> {
        parse(&format!("{text}\n{MINIMAL}"))
            .1
            .into_iter()
            .map(|p| (p.key.clone(), p.message.clone()))
            .collect()
    };
    let secret = "[delivery]\nlink_secret_env = \"PRAXIS_LINK_SECRET\"\n";
    assert!(
        keys(&format!(
            "[database]\nurl = \"postgres://praxis@db.example:5432/praxis\"\npassword_env = \"PGPASS\"\n{secret}"
        ))
        .is_empty()
    );
    let with_password = keys(&format!(
        "[database]\nurl = \"postgres://praxis:hunter2@db.example/praxis\"\n{secret}"
    ));
    assert_eq!(with_password[0].0, "database.url");
    assert!(with_password[0].1.contains("password"));
    assert!(!format!("{with_password:?}").contains("hunter2"));
    assert_eq!(
        keys(&format!("[database]\nurl = \"mysql://x@y/z\"\n{secret}"))[0].0,
        "database.url"
    );
    assert_eq!(
        keys("[database]\npassword_env = \"PGPASS\"\n")[0].0,
        "database.password_env"
    );
    assert_eq!(
        keys("[database]\nurl = \"postgres://praxis@db.example/praxis\"\n")[0].0,
        "delivery.link_secret_env"
    );
    // The heartbeat: 1s to 30s; a node silent for three is taken as dead.
    assert!(keys(&format!("[database]\nheartbeat = \"1s\"\n{secret}")).is_empty());
    for bad in ["500ms", "31s"] {
        assert_eq!(
            keys(&format!("[database]\nheartbeat = \"{bad}\"\n"))[0].0,
            "database.heartbeat",
            "{bad}"
        );
    }
    // The password is read when the database is asked for, and never shown.
    let (c, _) = Config::parse(
        &format!(
            "[database]\nurl = \"postgres://praxis@db.example/praxis\"\npassword_env = \"PGPASS\"\n{secret}{MINIMAL}"
        ),
        Path::new("/etc/praxis/praxis.toml"),
        &|v| (v == "PGPASS").then(|| "s3cret".to_string()),
    );
    let err = c.database().unwrap_err();
    assert!(err.contains("PGPASS"), "{err}");
    let db = Database::Postgres {
        url: "postgres://praxis@db.example/praxis".into(),
        password: Some("s3cret".into()),
    };
    assert_eq!(db.to_string(), "postgres://praxis@db.example/praxis");
    assert_eq!(
        redact_url("postgres://praxis:s3cret@db.example/praxis"),
        "postgres://praxis:***@db.example/praxis"
    );
    assert!(!format!("{db:?}").contains("s3cret"));
    assert_eq!(c.database_path(), PathBuf::from("/etc/praxis/praxis.db"));
}
