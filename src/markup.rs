//! A Consolidated Reply's Markdown as members read it: the text part (the
//! moderator's hints removed) and sanitised HTML. Pure: shared by publishing,
//! the digests and (later) the web, none of which it imports.

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
