//! Handlebars templates for what praxis writes to people: notices, the
//! texts of digests, and Consolidated Replies. Built into the binary from
//! `templates/`. Pure: rendering only, no I/O.
//!
//! Templates render plain text, so HTML escaping is off; every value is
//! member or moderator input and goes into a text/plain body built by a MIME
//! library, never into headers.

use handlebars::Handlebars;
use serde::Serialize;

/// The built-in notice templates: (name, text).
const NOTICES: &[(&str, &str)] = &[
    (
        "acknowledge",
        include_str!("../templates/notices/acknowledge.hbs"),
    ),
    ("reject", include_str!("../templates/notices/reject.hbs")),
    (
        "answered_by",
        include_str!("../templates/notices/answered_by.hbs"),
    ),
    (
        "referral",
        include_str!("../templates/notices/referral.hbs"),
    ),
    ("hold", include_str!("../templates/notices/hold.hbs")),
    ("confirm", include_str!("../templates/notices/confirm.hbs")),
    ("welcome", include_str!("../templates/notices/welcome.hbs")),
    ("goodbye", include_str!("../templates/notices/goodbye.hbs")),
    ("help", include_str!("../templates/notices/help.hbs")),
    ("summary", include_str!("../templates/notices/summary.hbs")),
    (
        "administrivia",
        include_str!("../templates/notices/administrivia.hbs"),
    ),
    ("decided", include_str!("../templates/notices/decided.hbs")),
    ("signin", include_str!("../templates/notices/signin.hbs")),
    (
        "health_report",
        include_str!("../templates/notices/health_report.hbs"),
    ),
];

/// The built-in Consolidated Reply templates: (name, text).
const CONSOLIDATED: &[(&str, &str)] = &[
    (
        "consolidated/draft",
        include_str!("../templates/consolidated/draft.md.hbs"),
    ),
    (
        "consolidated/footer",
        include_str!("../templates/consolidated/footer.hbs"),
    ),
    (
        "consolidated/reminder",
        include_str!("../templates/consolidated/reminder.hbs"),
    ),
];

/// The built-in texts of a digest issue: (name, text). The RFC 1153
/// skeleton around them (header line, separators, messages, end line) is
/// code, so no override can break a digest reader's parsing.
const DIGEST: &[(&str, &str)] = &[
    (
        "digest/contents",
        include_str!("../templates/digest/contents.txt.hbs"),
    ),
    (
        "digest/howto",
        include_str!("../templates/digest/howto.txt.hbs"),
    ),
];

/// Every built-in template: (name, file under `templates/`). A community's
/// `templates` folder overrides one by holding a file at the same path.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("acknowledge", "notices/acknowledge.hbs"),
    ("reject", "notices/reject.hbs"),
    ("answered_by", "notices/answered_by.hbs"),
    ("referral", "notices/referral.hbs"),
    ("hold", "notices/hold.hbs"),
    ("confirm", "notices/confirm.hbs"),
    ("welcome", "notices/welcome.hbs"),
    ("goodbye", "notices/goodbye.hbs"),
    ("help", "notices/help.hbs"),
    ("summary", "notices/summary.hbs"),
    ("administrivia", "notices/administrivia.hbs"),
    ("decided", "notices/decided.hbs"),
    ("signin", "notices/signin.hbs"),
    ("health_report", "notices/health_report.hbs"),
    ("consolidated/draft", "consolidated/draft.md.hbs"),
    ("consolidated/footer", "consolidated/footer.hbs"),
    ("consolidated/reminder", "consolidated/reminder.hbs"),
    ("digest/contents", "digest/contents.txt.hbs"),
    ("digest/howto", "digest/howto.txt.hbs"),
    ("digest/html", "digest/digest.html.hbs"),
    ("web/layout", "web/layout.html.hbs"),
    ("web/index", "web/index.html.hbs"),
    ("web/error", "web/error.html.hbs"),
    ("web/unsubscribe", "web/unsubscribe.html.hbs"),
    ("web/search", "web/search.html.hbs"),
    ("web/community", "web/community.html.hbs"),
    ("web/threads", "web/threads.html.hbs"),
    ("web/thread", "web/thread.html.hbs"),
    ("web/post", "web/post.html.hbs"),
    ("web/replies", "web/replies.html.hbs"),
    ("web/reply", "web/reply.html.hbs"),
    ("web/join", "web/join.html.hbs"),
    ("web/me", "web/me.html.hbs"),
    ("web/signin", "web/signin.html.hbs"),
    ("web/done", "web/done.html.hbs"),
    ("web/health", "web/health.html.hbs"),
    ("web/mod_index", "web/mod_index.html.hbs"),
    ("web/mod_queue", "web/mod_queue.html.hbs"),
    ("web/mod_queries", "web/mod_queries.html.hbs"),
    ("web/mod_draft", "web/mod_draft.html.hbs"),
    ("web/mod_outbox", "web/mod_outbox.html.hbs"),
    ("web/mod_members", "web/mod_members.html.hbs"),
];

/// The template name for a file path under a templates folder.
pub fn name_for_file(rel: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(_, f)| *f == rel).map(|(n, _)| *n)
}

/// Checks that an override compiles (as handlebars, strict).
pub fn validate(name: &str, text: &str) -> Result<(), RenderError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string(name, text)
        .map_err(|e| RenderError {
            name: name.to_string(),
            detail: e.to_string(),
        })
}

/// Why a template did not render.
#[derive(Debug, thiserror::Error)]
#[error("template `{name}`: {detail}")]
pub struct RenderError {
    /// The template.
    pub name: String,
    /// What went wrong.
    pub detail: String,
}

/// The web's page templates (`templates/web/`): HTML, so rendered with
/// handlebars' HTML escaping; a page's body is rendered first and placed
/// in `web/layout` as `{{{body}}}`.
const WEB: &[(&str, &str)] = &[
    (
        "web/layout",
        include_str!("../templates/web/layout.html.hbs"),
    ),
    ("web/index", include_str!("../templates/web/index.html.hbs")),
    ("web/error", include_str!("../templates/web/error.html.hbs")),
    (
        "web/unsubscribe",
        include_str!("../templates/web/unsubscribe.html.hbs"),
    ),
    (
        "web/search",
        include_str!("../templates/web/search.html.hbs"),
    ),
    (
        "web/community",
        include_str!("../templates/web/community.html.hbs"),
    ),
    (
        "web/threads",
        include_str!("../templates/web/threads.html.hbs"),
    ),
    (
        "web/thread",
        include_str!("../templates/web/thread.html.hbs"),
    ),
    ("web/post", include_str!("../templates/web/post.html.hbs")),
    (
        "web/replies",
        include_str!("../templates/web/replies.html.hbs"),
    ),
    ("web/reply", include_str!("../templates/web/reply.html.hbs")),
    ("web/join", include_str!("../templates/web/join.html.hbs")),
    ("web/me", include_str!("../templates/web/me.html.hbs")),
    (
        "web/signin",
        include_str!("../templates/web/signin.html.hbs"),
    ),
    ("web/done", include_str!("../templates/web/done.html.hbs")),
    (
        "web/health",
        include_str!("../templates/web/health.html.hbs"),
    ),
    (
        "web/mod_index",
        include_str!("../templates/web/mod_index.html.hbs"),
    ),
    (
        "web/mod_queue",
        include_str!("../templates/web/mod_queue.html.hbs"),
    ),
    (
        "web/mod_queries",
        include_str!("../templates/web/mod_queries.html.hbs"),
    ),
    (
        "web/mod_draft",
        include_str!("../templates/web/mod_draft.html.hbs"),
    ),
    (
        "web/mod_outbox",
        include_str!("../templates/web/mod_outbox.html.hbs"),
    ),
    (
        "web/mod_members",
        include_str!("../templates/web/mod_members.html.hbs"),
    ),
];

/// The registry of templates.
#[derive(Debug)]
pub struct Templates {
    /// Handlebars with every built-in template registered.
    hb: Handlebars<'static>,
    /// The web's pages: a registry of its own because it escapes HTML,
    /// where mail templates write plain text.
    web: Handlebars<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// The built-in templates.
    pub fn new() -> Templates {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        for (name, text) in NOTICES.iter().chain(CONSOLIDATED).chain(DIGEST) {
            hb.register_template_string(name, *text)
                .unwrap_or_else(|e| panic!("built-in template {name} is invalid: {e}"));
        }
        let mut web = Handlebars::new();
        for (name, text) in WEB {
            web.register_template_string(name, *text)
                .unwrap_or_else(|e| panic!("built-in template {name} is invalid: {e}"));
        }
        Templates { hb, web }
    }

    /// The built-in templates with some replaced: (name, text) pairs, as a
    /// community's templates folder gives them. `digest/html` is not kept
    /// here: the digest renders it with HTML escaping on.
    pub fn with_overrides(overrides: &[(String, String)]) -> Result<Templates, RenderError> {
        let mut t = Templates::new();
        for (name, text) in overrides.iter().filter(|(n, _)| n != "digest/html") {
            let hb = if name.starts_with("web/") {
                &mut t.web
            } else {
                &mut t.hb
            };
            hb.register_template_string(name, text)
                .map_err(|e| RenderError {
                    name: name.clone(),
                    detail: e.to_string(),
                })?;
        }
        Ok(t)
    }

    /// Renders one of the web's templates (`web/…`), escaping HTML.
    pub fn render_web(&self, name: &str, data: serde_json::Value) -> Result<String, RenderError> {
        // A context made from the value itself: `render` would copy the
        // whole tree into one first.
        self.web
            .render_with_context(name, &handlebars::Context::from(data))
            .map_err(|e| RenderError {
                name: name.to_string(),
                detail: e.to_string(),
            })
    }

    /// Renders template `name` with `data`.
    pub fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, RenderError> {
        self.hb.render(name, data).map_err(|e| RenderError {
            name: name.to_string(),
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_notice_renders() {
        let t = Templates::new();
        let data = json!({
            "name": "Alice", "subject": "Mobile clinics", "community": "Health", "reason": "first post",
            "post": 12, "from": "alice@example.org", "action": "subscribe", "subscribe": true,
            "address": "alice@example.org", "confirm_address": "list-confirm+t@example.test",
            "request_address": "list-request@example.test", "token": "t", "list_address": "list@example.test",
            "delivery": "each", "pending": false, "results": [{"command": "help", "result": "sent"}],
            "count": 1, "plural": false, "slug": "health", "result": "Post 12 is approved.",
            "text": "Has anyone run mobile clinics?", "truncated": 0, "reply_to": "list-request+mod-t@example.test",
            "holds": [{"id": 1, "age": "2h", "reason": "nonmember", "from": "x@y.org", "subject": "s"}],
            "url": "https://l.test/signin/t", "minutes": 30, "me_url": "https://l.test/c/health/me/t",
            "confirm_url": "https://l.test/c/health/join/t",
        });
        // The health report's figures (one json! is too deep for the macro).
        let mut data = data;
        data["month"] = json!("November 2026");
        let health = json!({
            "asked": 4, "answered": 3, "median": "10", "p90": "10",
            "target": 10, "on_time": "67%", "responses": "1.5", "responders": "1",
            "no_response": "25%", "posts_per_week": "0.6", "joined": 2, "left": 1, "bounces": 2,
            "disabled": 1, "members": 8, "modes": "each 4", "active": 2, "active_share": "25%",
            "active_days": 90, "open": 1, "overdue": 0, "referrals": 3, "referrals_answered": 2,
        });
        data["f"] = health;
        // The invitation to respond.
        for (k, v) in [
            ("referred_by", json!("Meera Iyer")),
            ("asker", json!("Ramesh, PHFI, Hyderabad")),
            ("due", json!("14 Dec 2026")),
            ("why", json!("you ran a cold chain")),
            ("question", json!("Which solar fridges hold 2-8 C?")),
            ("cap", json!(2)),
            ("me", json!(null)),
            // The earlier answer (answered_by) and the hold notice's related threads.
            ("query", json!(4)),
            ("query_subject", json!("Boat clinics in floods")),
            (
                "reply_subject",
                json!("Consolidated Reply: Boat clinics in floods"),
            ),
            ("link", json!("https://l.test/c/health/replies/4")),
            ("reply", json!("Boat clinics reached the villages.")),
            (
                "related",
                json!([{"n": 1, "subject": "Boat clinics in floods", "score": "12.3", "thread": 4,
                        "reply": true, "thread_link": "https://l.test/c/health/t/4",
                        "reply_link": "https://l.test/c/health/replies/4"}]),
            ),
        ] {
            data[k] = v;
        }
        for (name, _) in NOTICES {
            let text = t.render(name, &data).unwrap();
            assert!(!text.is_empty(), "{name}");
        }
        let reject = t.render("reject", &data).unwrap();
        assert!(reject.contains("    first post"));
        let hold = t.render("hold", &data).unwrap();
        assert!(
            hold.contains("Boat clinics in floods (score 12.3, query 4, Consolidated Reply)")
                && hold.contains("praxis reject 12 --answered-by 4"),
            "{hold}"
        );
        let answered = t.render("answered_by", &data).unwrap();
        assert!(
            answered.contains("https://l.test/c/health/replies/4")
                && answered.contains("Boat clinics reached the villages."),
            "{answered}"
        );
    }

    #[test]
    fn every_built_in_file_exists_and_overrides_replace_it() {
        let t = Templates::new();
        for (name, file) in BUILT_IN {
            assert_eq!(name_for_file(file), Some(*name));
            if name.starts_with("web/") {
                assert!(t.web.has_template(name), "{name} is registered");
            } else if *name != "digest/html" {
                assert!(t.hb.has_template(name), "{name} is registered");
            }
        }
        assert_eq!(
            BUILT_IN.len(),
            NOTICES.len() + CONSOLIDATED.len() + DIGEST.len() + WEB.len() + 1,
            "every built-in template is listed once"
        );
        let t =
            Templates::with_overrides(&[("reject".into(), "custom: {{reason}}".into())]).unwrap();
        assert_eq!(
            t.render("reject", &json!({"reason": "r"})).unwrap(),
            "custom: r"
        );
        assert!(Templates::with_overrides(&[("reject".into(), "{{#if}}".into())]).is_err());
        assert!(validate("x", "{{unclosed").is_err());
    }

    #[test]
    fn member_text_is_not_html_escaped() {
        let t = Templates::new();
        let text = t
            .render(
                "reject",
                &json!({"name": "A & B", "subject": "<x>", "community": "C", "reason": "a < b"}),
            )
            .unwrap();
        assert!(text.contains("\"<x>\"") && text.contains("a < b") && text.contains("A & B"));
    }
}
