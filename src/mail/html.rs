//! The text of an HTML-only message, as a reader would see it: paragraphs
//! kept apart, list items on their own lines, quoted HTML (`<blockquote>`)
//! turned into `> ` lines so quote stripping finds it, links followed by
//! their address, scripts and styles dropped. Pure and tolerant: any input
//! gives some text, never an error.
//!
//! Why not mail-parser's own conversion: it joins list items and paragraphs
//! into one line, which loses the first paragraph a Consolidated Reply draft
//! quotes and hides an Outlook or Gmail reply's quoted original.

/// Member HTML made safe to pass on (ammonia's defaults: no scripts,
/// styles, event handlers or `javascript:` links); links get
/// `rel="noopener noreferrer"`.
pub fn sanitise(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

/// Elements whose content is never text.
const SKIP: &[&str] = &["script", "style", "head", "title", "template", "noscript"];
/// Elements that start and end a paragraph.
const BLOCK: &[&str] = &[
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "hr", "section",
    "article", "header", "footer", "address", "dl", "center", "form", "fieldset", "figure",
];

/// What the converter is building.
struct Out {
    /// Finished lines.
    text: String,
    /// The line being built.
    line: String,
    /// Blank lines wanted before the next text (0, 1).
    gap: usize,
    /// Open `<blockquote>`s: each adds `> ` to a line.
    quote: usize,
    /// The quote depth of the last line written: a blank line between two
    /// depths carries the shallower one's prefix.
    last_quote: usize,
    /// Inside `<pre>`: whitespace kept.
    pre: usize,
    /// Open lists: `None` for `<ul>`, the next number for `<ol>`.
    lists: Vec<Option<u32>>,
}

impl Out {
    fn prefix(&self) -> String {
        "> ".repeat(self.quote)
    }

    /// Ends the current line (if any).
    fn newline(&mut self) {
        let line = std::mem::take(&mut self.line);
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            return;
        }
        self.flush_gap();
        self.text.push_str(&self.prefix());
        self.text.push_str(trimmed);
        self.text.push('\n');
        self.last_quote = self.quote;
    }

    fn flush_gap(&mut self) {
        if self.gap > 0 && !self.text.is_empty() {
            let p = "> ".repeat(self.quote.min(self.last_quote));
            self.text.push_str(p.trim_end());
            self.text.push('\n');
        }
        self.gap = 0;
    }

    /// Ends the paragraph: a blank line before the next text.
    fn paragraph(&mut self) {
        self.newline();
        self.gap = 1;
    }

    fn push_text(&mut self, t: &str) {
        if self.pre > 0 {
            let mut parts = t.split('\n');
            if let Some(first) = parts.next() {
                self.line.push_str(first);
            }
            for part in parts {
                self.newline_keep_blank();
                self.line.push_str(part);
            }
            return;
        }
        if t.starts_with(char::is_whitespace) && !self.line.is_empty() && !self.line.ends_with(' ')
        {
            self.line.push(' ');
        }
        let mut words = t.split_whitespace().peekable();
        while let Some(word) = words.next() {
            self.line.push_str(word);
            if words.peek().is_some() {
                self.line.push(' ');
            }
        }
        if t.ends_with(char::is_whitespace) && !self.line.is_empty() && !self.line.ends_with(' ') {
            self.line.push(' ');
        }
    }

    /// In `<pre>`: a line break that keeps blank lines.
    fn newline_keep_blank(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.flush_gap();
        self.text.push_str(&self.prefix());
        self.text.push_str(line.trim_end());
        self.text.push('\n');
        self.last_quote = self.quote;
    }
}

/// Decodes the character references in `s`.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..]
            .find(|c: char| c == ';' || c.is_whitespace() || c == '&')
            .map(|j| j + 1);
        let decoded = match end {
            Some(j) if rest.as_bytes().get(j) == Some(&b';') => {
                entity(&rest[1..j]).map(|c| (c, j + 1))
            }
            _ => None,
        };
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One character reference's character.
fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(n).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "deg" => '°',
        "times" => '×',
        _ => return None,
    })
}

/// The value of attribute `name` in a tag's attribute text.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = attrs[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let v = rest[1..].trim_start();
        let value = match v.chars().next() {
            Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or(""),
            _ => v
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        return Some(decode_entities(value));
    }
    None
}

/// The text of an HTML document or fragment.
pub fn to_text(html: &str) -> String {
    let mut out = Out {
        text: String::new(),
        line: String::new(),
        gap: 0,
        quote: 0,
        last_quote: 0,
        pre: 0,
        lists: Vec::new(),
    };
    let mut skipping: Option<String> = None;
    // The open link's address and where its text starts in the line.
    let mut link: Option<(String, usize)> = None;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skipping.is_none() {
                out.push_text(&decode_entities(rest));
            }
            break;
        };
        if lt > 0 && skipping.is_none() {
            out.push_text(&decode_entities(&rest[..lt]));
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // A lone '<' is text.
            if skipping.is_none() {
                out.push_text(&decode_entities(rest));
            }
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name_end = body
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(body.len());
        let name = body[..name_end].to_ascii_lowercase();
        let attrs = &body[name_end..];
        if let Some(skip) = &skipping {
            if closing && name == *skip {
                skipping = None;
            }
            continue;
        }
        if name.starts_with('!') || name.starts_with('?') {
            continue;
        }
        if SKIP.contains(&name.as_str()) && !closing && !tag.ends_with('/') {
            skipping = Some(name);
            continue;
        }
        match (name.as_str(), closing) {
            ("br", _) => {
                if out.pre > 0 {
                    out.newline_keep_blank();
                } else {
                    out.newline();
                }
            }
            ("blockquote", false) => {
                out.paragraph();
                out.quote += 1;
            }
            ("blockquote", true) => {
                out.paragraph();
                out.quote = out.quote.saturating_sub(1);
            }
            ("ul", false) => {
                out.paragraph();
                out.lists.push(None);
            }
            ("ol", false) => {
                out.paragraph();
                out.lists.push(Some(1));
            }
            ("ul" | "ol", true) => {
                out.lists.pop();
                out.paragraph();
            }
            ("li", false) => {
                out.newline();
                out.flush_gap();
                let indent = "  ".repeat(out.lists.len().saturating_sub(1));
                let marker = match out.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "- ".to_string(),
                };
                out.line.push_str(&indent);
                out.line.push_str(&marker);
            }
            ("li", true) | ("tr", true) | ("dt" | "dd", true) => out.newline(),
            ("td" | "th", false) if !out.line.trim().is_empty() => out.line.push_str(" | "),
            ("pre", false) => {
                out.paragraph();
                out.pre += 1;
            }
            ("pre", true) => {
                out.newline();
                out.pre = out.pre.saturating_sub(1);
                out.gap = 1;
            }
            ("a", false) => {
                link = attribute(attrs, "href").map(|h| (h, out.line.len()));
            }
            ("a", true) => {
                if let Some((href, start)) = link.take() {
                    let shown = out.line.get(start..).unwrap_or("").trim().to_string();
                    let web = href.starts_with("http://") || href.starts_with("https://");
                    if web && !shown.is_empty() && shown != href && !href.ends_with(&shown) {
                        let spaced = out.line.ends_with(' ');
                        if spaced {
                            out.line.pop();
                        }
                        out.line.push_str(&format!(" <{href}>"));
                        if spaced {
                            out.line.push(' ');
                        }
                    }
                }
            }
            (n, _) if BLOCK.contains(&n) => out.paragraph(),
            _ => {}
        }
    }
    out.newline();
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitise_drops_scripts_and_event_handlers_and_keeps_the_text() {
        let clean = sanitise(
            "<p onclick=\"steal()\">Boat <b>clinics</b></p><script>alert(1)</script>\
             <a href=\"javascript:x()\">x</a><a href=\"https://example.org\">y</a>",
        );
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onclick"), "{clean}");
        assert!(!clean.contains("javascript:"), "{clean}");
        assert!(clean.contains("Boat <b>clinics</b>"), "{clean}");
        assert!(clean.contains("href=\"https://example.org\""), "{clean}");
    }

    #[test]
    fn paragraphs_lists_and_links_read_as_text() {
        let html = "<html><head><title>x</title><style>p{}</style></head><body>\
            <p>Dear Dr. Mehta,</p>\n<p>We converted a room into a <b>KMC ward</b>. \
            What we needed:</p>\n<ul>\n<li>reclining chairs;</li>\n<li>binders (about &#x20B9;150 each);</li>\n</ul>\
            <p>Slides: <a href=\"https://sneha.example.org/kmc\">our toolkit</a> and \
            <a href=\"https://x.example/\">https://x.example/</a></p>\
            <p>Regards,<br>Fatima&nbsp;Shaikh<br>SNEHA</p><script>alert(1)</script></body></html>";
        assert_eq!(
            to_text(html),
            "Dear Dr. Mehta,\n\nWe converted a room into a KMC ward. What we needed:\n\n\
             - reclining chairs;\n- binders (about ₹150 each);\n\n\
             Slides: our toolkit <https://sneha.example.org/kmc> and https://x.example/\n\n\
             Regards,\nFatima Shaikh\nSNEHA\n"
        );
    }

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html = "<div>Yes, boats worked.</div><div class=\"gmail_quote\">On Mon, Alice wrote:<br>\
                    <blockquote>Has anyone run<br>mobile clinics?<blockquote>inner</blockquote></blockquote></div>";
        assert_eq!(
            to_text(html),
            "Yes, boats worked.\n\nOn Mon, Alice wrote:\n\n> Has anyone run\n> mobile clinics?\n>\n> > inner\n"
        );
    }

    #[test]
    fn numbered_lists_pre_and_tables() {
        let html = "<ol><li>one</li><li>two</li></ol><pre>a  b\n\nc</pre>\
                    <table><tr><td>x</td><td>y</td></tr><tr><td>z</td></tr></table>";
        assert_eq!(to_text(html), "1. one\n2. two\n\na  b\n\nc\n\nx | y\nz\n");
    }

    #[test]
    fn broken_html_still_gives_text() {
        assert_eq!(
            to_text("a < b and c &unknown; d &amp"),
            "a < b and c &unknown; d &amp\n"
        );
        assert_eq!(to_text("<p>open <b>never closed"), "open never closed\n");
        assert_eq!(to_text("<script>never closed"), "");
        assert_eq!(to_text(""), "");
        assert_eq!(to_text("x<!-- a comment"), "x\n");
    }

    proptest::proptest! {
        #[test]
        fn any_input_converts(s in ".{0,300}") {
            let _ = to_text(&s);
        }
    }
}
