//! A Consolidated Reply's Markdown as members read it: the text part (the
//! moderator's hints removed) and sanitised HTML; and a member's plain text
//! as HTML paragraphs with its web links clickable (the HTML digest). Pure:
//! shared by publishing, the digests and (later) the web, none of which it
//! imports.

/// The text part: the draft as written, without the HTML comments that carry
/// the template's hints to the moderator.
pub fn text(markdown: &str) -> String {
    let mut out = String::new();
    let mut rest = markdown;
    while let Some(i) = rest.find("<!--") {
        out.push_str(&rest[..i]);
        match rest[i..].find("-->") {
            Some(j) => rest = &rest[i + j + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Drop the blank lines a removed hint leaves behind.
    let mut clean = String::new();
    let mut blanks = 0;
    for line in out.lines() {
        if line.trim().is_empty() {
            blanks += 1;
            if blanks > 1 {
                continue;
            }
        } else {
            blanks = 0;
        }
        clean.push_str(line.trim_end());
        clean.push('\n');
    }
    clean.trim().to_string() + "\n"
}

/// The Markdown rendered by pulldown-cmark and sanitised by ammonia
/// (everything in it is member input): an HTML fragment.
pub fn html_fragment(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let mut raw = String::new();
    pulldown_cmark::html::push_html(&mut raw, parser);
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string()
}

/// [`html_fragment`] for a page that has headings of its own above it:
/// every heading of the Markdown `by` levels lower (by 1, `#` becomes
/// `<h2>`; `######` stays `<h6>`), so the page's headings stay in order.
pub fn html_fragment_lowered(markdown: &str, by: usize) -> String {
    use pulldown_cmark::{Event, HeadingLevel, Tag, TagEnd};
    let lower = |level: HeadingLevel| -> HeadingLevel {
        HeadingLevel::try_from((level as usize + by).min(6)).unwrap_or(HeadingLevel::H6)
    };
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES)
        .map(|e| match e {
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => Event::Start(Tag::Heading {
                level: lower(level),
                id,
                classes,
                attrs,
            }),
            Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level))),
            other => other,
        });
    let mut raw = String::new();
    pulldown_cmark::html::push_html(&mut raw, parser);
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string()
}

/// An email address in text: what [`hide_addresses`] replaces.
static ADDRESS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    // `\w` is Unicode's: internationalised addresses (RFC 6531) hide too.
    regex::Regex::new(
        r"(?i)(?:mailto:)?[\w.!#$%&'*+/=?^`{|}~-]+@\w(?:[\w-]*\w)?(?:\.\w(?:[\w-]*\w)?)+",
    )
    .expect("the address pattern compiles")
});

/// `text` with every email address but those in `keep` (a community's own
/// posting address, say) replaced by "(address hidden)": member text shown
/// on a public page must not give away a member's address, even one a
/// member typed into their message.
pub fn hide_addresses(text: &str, keep: &[&str]) -> String {
    ADDRESS
        .replace_all(text, |c: &regex::Captures<'_>| {
            let found = &c[0];
            let bare = found
                .strip_prefix("mailto:")
                .or_else(|| found.strip_prefix("MAILTO:"))
                .unwrap_or(found);
            if keep.iter().any(|k| k.eq_ignore_ascii_case(bare)) {
                found.to_string()
            } else {
                "(address hidden)".to_string()
            }
        })
        .into_owned()
}

/// The HTML part: [`html_fragment`] in a minimal document.
pub fn html(markdown: &str, title: &str) -> String {
    let body = html_fragment(markdown);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n{}</body></html>\n",
        title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        body
    )
}

/// `text` with `&`, `<`, `>` and quotes escaped: fit for element content
/// and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A web address in member text: http or https only (no `javascript:`,
/// `data:` or other scheme ever becomes a link).
static LINK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"(?i)\bhttps?://[^\s<>"']+"#).expect("the link pattern compiles")
});

/// One line of member text escaped, its http(s) addresses made links
/// (punctuation that ends a sentence stays outside the link).
fn line_html(line: &str, out: &mut String) {
    let mut at = 0;
    for m in LINK.find_iter(line) {
        let url = m
            .as_str()
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}']);
        if url.len() <= "https://".len() {
            continue;
        }
        out.push_str(&escape(&line[at..m.start()]));
        let url_html = escape(url);
        out.push_str(&format!(
            "<a href=\"{url_html}\" rel=\"noopener noreferrer\">{url_html}</a>"
        ));
        at = m.start() + url.len();
    }
    out.push_str(&escape(&line[at..]));
}

/// A member's plain text as HTML for reading on any screen: paragraphs
/// (blank lines apart) in `<p>`, line ends kept as `<br>`, every character
/// of the text escaped, http(s) addresses clickable. The result is also
/// passed through ammonia, so nothing but `p`, `br` and those links survives.
pub fn text_html(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut raw = String::new();
    for para in text.split("\n\n").map(|p| p.trim_matches('\n')) {
        if para.trim().is_empty() {
            continue;
        }
        raw.push_str("<p>");
        for (i, line) in para.lines().enumerate() {
            if i > 0 {
                raw.push_str("<br>\n");
            }
            line_html(line, &mut raw);
        }
        raw.push_str("</p>\n");
    }
    ammonia::Builder::default()
        .tags(std::collections::HashSet::from(["p", "br", "a"]))
        .url_schemes(std::collections::HashSet::from(["http", "https"]))
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{hide_addresses, html_fragment_lowered, text_html};

    #[test]
    fn headings_go_one_level_down_under_a_page_heading() {
        let h = html_fragment_lowered("# A\n\n## B\n\n###### F\n\ntext <script>x</script>\n", 1);
        assert!(h.starts_with("<h2>A</h2>\n<h3>B</h3>\n<h6>F</h6>"), "{h}");
        assert!(!h.contains("<h1") && !h.contains("<script"), "{h}");
        let h = html_fragment_lowered("# A\n\n## B\n\n##### C\n", 2);
        assert!(h.starts_with("<h3>A</h3>\n<h4>B</h4>\n<h6>C</h6>"), "{h}");
    }

    #[test]
    fn addresses_are_hidden_except_the_ones_kept() {
        assert_eq!(
            hide_addresses(
                "Write to Priya.Das@nhm-odisha.example.org or mailto:x@y.org, or to mch@lists.example.org.",
                &["mch@lists.example.org"]
            ),
            "Write to (address hidden) or (address hidden), or to mch@lists.example.org."
        );
        assert_eq!(hide_addresses("no @ here, a@b", &[]), "no @ here, a@b");
        assert_eq!(
            hide_addresses(
                "On Mon, Dr. A <anjali.mehta@dh-sitapur.example.org> wrote:",
                &[]
            ),
            "On Mon, Dr. A <(address hidden)> wrote:"
        );
        assert_eq!(
            hide_addresses("mail me: a.b+c@x.org.", &[]),
            "mail me: (address hidden)."
        );
        assert_eq!(hide_addresses("@ home, 5 @ 3", &[]), "@ home, 5 @ 3");
        assert_eq!(
            hide_addresses("ü@x.org ok, प्रिया@उदाहरण.भारत", &[]),
            "(address hidden) ok, (address hidden)"
        );
    }

    #[test]
    fn member_text_becomes_escaped_paragraphs_with_web_links_only() {
        let h = text_html(
            "First line & <b>bold</b>\nsecond line.\n\n\nSee https://example.org/a?b=1&c=\"2\". \
             Not javascript:alert(1) nor <a href=\"javascript:x\">x</a> nor data:text/html,x\n",
        );
        assert!(
            h.starts_with(
                "<p>First line &amp; &lt;b&gt;bold&lt;/b&gt;<br>\nsecond line.</p>\n<p>See "
            ),
            "{h}"
        );
        assert!(
            h.contains(
                "<a href=\"https://example.org/a?b=1&amp;c=\" rel=\"noopener noreferrer\">https://example.org/a?b=1&amp;c=</a>\"2\"."
            ),
            "{h}"
        );
        assert_eq!(h.matches("<a ").count(), 1, "{h}");
        assert!(
            !h.contains("<b>") && !h.contains("<a href=\"javascript"),
            "{h}"
        );
        assert!(h.contains("&lt;a href=\"javascript:x\"&gt;"), "{h}");
        assert_eq!(text_html("\n\n"), "");
        assert_eq!(
            text_html("(https://example.org/x), then"),
            "<p>(<a href=\"https://example.org/x\" rel=\"noopener noreferrer\">https://example.org/x</a>), then</p>\n"
        );
    }
}
