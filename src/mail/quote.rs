//! Quote and signature stripping for responses: what a person wrote, without
//! the message they replied to, their signature or their phone's footer.
//! Pure: text in, text out.
//!
//! Removed: "> " blocks and the attribution line that introduces them ("On …
//! wrote:" and its German, French, Spanish, Italian, Portuguese, Dutch,
//! Scandinavian, Polish and Finnish forms, also when wrapped over two lines);
//! everything from an Outlook "-----Original Message-----" separator or a
//! "From: … / Sent: …" header block on (the top-posted original); everything
//! from a "-- " signature delimiter on; everything from a mobile footer ("Sent
//! from my iPhone", "Get Outlook for Android", …) on. Runs of blank lines
//! collapse to one.

/// Endings that make a line an attribution ("… wrote:"), compared lowercased
/// with trailing spaces removed.
const ATTRIBUTION_ENDINGS: &[&str] = &[
    "wrote:",
    "writes:",
    "said:",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "escribió:",
    "ha scritto:",
    "escreveu:",
    "schreef:",
    "skrev:",
    "napisał:",
    "kirjoitti:",
];

/// Words an attribution starts with, for joining one wrapped over two lines.
const ATTRIBUTION_STARTS: &[&str] = &[
    "on ", "am ", "le ", "el ", "il ", "em ", "op ", "den ", "w dniu ",
];

/// Mobile and webmail footers; a line starting with one ends the response.
const FOOTERS: &[&str] = &[
    "sent from my ",
    "sent from mail for windows",
    "sent from yahoo mail",
    "sent from outlook",
    "get outlook for ",
    "sent via the samsung",
    "sent from samsung",
    "envoyé de mon ",
    "von meinem ",
    "enviado desde mi ",
    "enviado do meu ",
    "inviato da ",
];

fn is_quote(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn is_attribution(line: &str) -> bool {
    let l = line.trim_end().to_lowercase();
    ATTRIBUTION_ENDINGS.iter().any(|e| l.ends_with(e))
}

fn starts_attribution(line: &str) -> bool {
    let l = line.trim_start().to_lowercase();
    ATTRIBUTION_STARTS.iter().any(|s| l.starts_with(s))
}

fn is_footer(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    FOOTERS.iter().any(|f| l.starts_with(f))
}

fn is_header(line: &str, name: &str) -> bool {
    line.len() > name.len()
        && line
            .get(..name.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(name))
}

/// Whether line `i` starts a top-posted original: Outlook's separator, a long
/// underscore rule followed by headers, or a "From:" line followed within four
/// lines by "Sent:" or "Date:".
fn starts_original(lines: &[&str], i: usize) -> bool {
    let l = lines[i].trim();
    if l.starts_with("-----Original Message-----")
        || l.starts_with("----- Original Message -----")
        || l.starts_with("-------- Original Message --------")
        || l.starts_with("-------- Message original --------")
        || l.starts_with("---------- Forwarded message")
    {
        return true;
    }
    let header_follows = |from: usize| {
        lines[from..lines.len().min(from + 5)]
            .iter()
            .any(|n| is_header(n.trim(), "Sent:") || is_header(n.trim(), "Date:"))
    };
    if l.len() >= 20 && l.chars().all(|c| c == '_') {
        return lines
            .get(i + 1)
            .is_some_and(|n| is_header(n.trim(), "From:"));
    }
    is_header(l, "From:") && header_follows(i + 1)
}

/// The response without quoted text, attributions, signature or footers.
pub fn strip(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    // Where the author's own text ends.
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if *line == "-- " || *line == "--" || is_footer(line) || starts_original(&lines, i) {
            end = i;
            break;
        }
    }
    let lines = &lines[..end];
    let mut keep = vec![true; lines.len()];
    for (i, line) in lines.iter().enumerate() {
        if is_quote(line) {
            keep[i] = false;
            continue;
        }
        let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
        let before_quote = next.is_some_and(|n| is_quote(n));
        let at_end = next.is_none();
        if is_attribution(line) && (before_quote || at_end || starts_attribution(line)) {
            keep[i] = false;
            // "On Tue, … Michael Schwendt <" / "mschwendt@gmail.com> wrote:"
            if i > 0
                && keep[i - 1]
                && starts_attribution(lines[i - 1])
                && !lines[i - 1].trim().is_empty()
            {
                keep[i - 1] = false;
            }
        } else if before_quote
            && line.trim_end().ends_with(':')
            && (starts_attribution(line)
                || line.contains('@')
                || line.trim_start().starts_with('*'))
        {
            // "Am Dienstag, den 05.01.2010, 10:33 +0000 schrieb Richard Hughes:",
            // mutt's "* Carl Knoos (cknoos@atg.com) [000331 01:39]:"
            keep[i] = false;
        }
    }
    let mut out = String::new();
    let mut blank = true;
    for (line, k) in lines.iter().zip(keep) {
        if !k {
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    out.trim().to_string()
}

/// The first paragraph of a stripped response that says something: a lone
/// short greeting ("Dear all,", "Hi Alice,") is skipped. Lines are joined
/// with spaces.
pub fn first_paragraph(stripped: &str) -> String {
    let paragraphs: Vec<String> = stripped
        .split("\n\n")
        .map(|p| p.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    paragraphs
        .iter()
        .find(|p| !(p.len() <= 40 && p.ends_with(',')))
        .or(paragraphs.first())
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real replies, excerpted from ../shared/corpora (source in each name),
    /// and what must remain.
    const CASES: &[(&str, &str, &str)] = &[
        (
            "fedora-devel-2010-01: German attribution, quote, sign-off",
            "Am Dienstag, den 05.01.2010, 10:33 +0000 schrieb Richard Hughes:\n\
             > I'm about to build PackageKit 0.6.0 into rawhide, which bumps the\n\
             > soname.\n\
             \n\
             Plus moblin-app-installer, currently under review at\n\
             https://bugzilla.redhat.com/show_bug.cgi?id=546301\n\
             \n\
             Regards,\n\
             Christoph\n",
            "Plus moblin-app-installer, currently under review at\n\
             https://bugzilla.redhat.com/show_bug.cgi?id=546301\n\
             \n\
             Regards,\n\
             Christoph",
        ),
        (
            "fedora-devel-2010-01: French attribution over nested quotes",
            "Le 06/01/2010 17:19, Philip Heron a écrit :\n\
             > On 06/01/2010 15:43, Haïkel Guémar wrote:\n\
             >> If i remember well, focus stealing prevention was a Fedora Core 4/GNOME\n\
             >> 2.10 feature (bz #138453) .\n\
             > \n\
             > Works here, but only if desktop effects are not enabled.\n\
             \n\
             D-E enables either compiz or gnome-shell since F-12.\n",
            "D-E enables either compiz or gnome-shell since F-12.",
        ),
        (
            "fedora-devel-2010-01: English attribution wrapped over two lines, interleaved",
            "On Tue, Dec 29, 2009 at 7:56 PM, Michael Schwendt <\n\
             mschwendt@gmail.com> wrote:\n\
             > Is it in the repo yet?\n\
             \n\
             Yes, since Monday.\n\
             \n\
             > And for F-12?\n\
             \n\
             Not yet.\n\
             \n\
             -- \n\
             Jonathan\n\
             http://example.org/~jonathan\n",
            "Yes, since Monday.\n\nNot yet.",
        ),
        (
            "perl-mail-box mbox.src: Outlook top-post with the original below",
            "Thanks for your help! :)\n\
             \n\
             /Carl\n\
             \n\
             \n\
             -----Original Message-----\n\
             From: owner-magick@wizards.dupont.com\n\
             [mailto:owner-magick@wizards.dupont.com]On Behalf Of Mark Overmeer\n\
             Sent: Friday, March 31, 2000 10:01 AM\n\
             To: Carl Knoos\n\
             Subject: Re: Problem resizing images through perl script\n\
             \n\
             * Carl Knoos (cknoos@atg.com) [000331 01:39]:\n\
             > if I run mogrify -geometry 95x95 whatever.jpg\n",
            "Thanks for your help! :)\n\n/Carl",
        ),
        (
            "perl-mail-box mbox.src: mutt attribution",
            "* Carl Knoos (cknoos@atg.com) [000331 01:39]:\n\
             > if I run mogrify -geometry 95x95 whatever.jpg\n\
             > I get exactly what I want\n\
             \n\
             Probably a different PATH under the web server.\n",
            "Probably a different PATH under the web server.",
        ),
        (
            "Outlook without a separator: From/Sent block",
            "We used boats in Assam.\r\n\
             \r\n\
             From: Alice Rao <alice@example.org>\r\n\
             Sent: Monday, 2 November 2026 10:00\r\n\
             To: health@example.test\r\n\
             Subject: Mobile clinics?\r\n\
             \r\n\
             What worked?\r\n",
            "We used boats in Assam.",
        ),
        (
            "Outlook underscore rule",
            "Agreed.\n\
             \n\
             ________________________________\n\
             From: Bob Das\n\
             Sent: Tuesday\n",
            "Agreed.",
        ),
        (
            "mobile footer then a Gmail quote",
            "Dear all,\n\
             \n\
             Solar fridges worked for us.\n\
             \n\
             Sent from my iPhone\n\
             \n\
             On 2 Nov 2026, at 10:00, Alice Rao <alice@example.org> wrote:\n\
             > What worked?\n",
            "Dear all,\n\nSolar fridges worked for us.",
        ),
        (
            "Spanish attribution and Android footer",
            "Usamos clínicas móviles.\n\
             \n\
             Enviado desde mi Android\n\
             \n\
             El lun, 2 nov 2026 a las 10:00, Alice escribió:\n\
             > ¿Qué funcionó?\n",
            "Usamos clínicas móviles.",
        ),
        (
            "a line that merely ends in a colon is kept",
            "Three things helped:\n\
             \n\
             1. boats\n\
             2. radios\n",
            "Three things helped:\n\n1. boats\n2. radios",
        ),
        (
            "a dash rule in the text is not a signature",
            "Costs\n\
             ---\n\
             About 400 a month.\n",
            "Costs\n---\nAbout 400 a month.",
        ),
    ];

    #[test]
    fn strips_quotes_signatures_and_footers_from_real_replies() {
        for (name, input, want) in CASES {
            assert_eq!(strip(input), *want, "{name}");
        }
    }

    #[test]
    fn first_paragraph_skips_a_greeting() {
        let table = [
            (
                "Dear all,\n\nSolar fridges worked\nfor us.\n\nMore later.",
                "Solar fridges worked for us.",
            ),
            ("Boats.\n\nAnd radios.", "Boats."),
            ("Hi Alice,", "Hi Alice,"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(first_paragraph(input), want, "{input:?}");
        }
    }
}
