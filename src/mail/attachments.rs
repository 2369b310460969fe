//! The files attached to a post, for keeping and listing: names and types
//! (`mail::parse` reads each file's bytes and SHA-256 in its one parse),
//! whether the community's size limit keeps one, and the lines and links
//! digests and replies list them with. Pure: the store keeps the bytes
//! (`store::attachments`).

use mail_parser::{MessagePart, MimeHeaders};

use super::parse::fold;

/// A file as one post carried it, as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostAttachment {
    /// Its name in this post: what a digest or reply lists and the link ends in.
    pub name: String,
    /// Hex SHA-256 of its bytes: the link's key, the same for every post
    /// that carried the same file.
    pub sha256: String,
    /// Its size in bytes, for "name (N KB)" and for "N KB over the limit".
    pub size: u64,
    /// Whether its bytes are kept; false when it was over `keep_attachments_kb`.
    pub kept: bool,
}

/// The stable address of a kept file, exactly what the web serves:
/// `{public_url}/c/{slug}/a/{sha256}/{name}`, the name percent-encoded.
pub fn link(public_url: &str, slug: &str, sha256: &str, name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "{}/c/{slug}/a/{sha256}/{encoded}",
        public_url.trim_end_matches('/')
    )
}

/// One file as digests and Consolidated Replies list it: `name (N KB):
/// link`, `name (N KB)` without a public URL, or `name (N KB): not kept (M
/// KB over the limit)`.
pub fn line(a: &PostAttachment, public_url: Option<&str>, slug: &str, limit_kb: u64) -> String {
    let size = format!("{} ({} KB)", a.name, a.size.div_ceil(1024).max(1));
    if !a.kept {
        return format!(
            "{size}: not kept ({} KB over the limit)",
            kb_over(a.size as usize, limit_kb).max(1)
        );
    }
    match public_url {
        Some(url) => format!("{size}: {}", link(url, slug, &a.sha256, &a.name)),
        None => size,
    }
}

/// `text` followed by an "Attachments:" list of `files` (unchanged when
/// there are none).
pub fn with_listing(
    text: &str,
    files: &[PostAttachment],
    public_url: Option<&str>,
    slug: &str,
    limit_kb: u64,
) -> String {
    if files.is_empty() {
        return text.to_string();
    }
    let mut out = text.trim_end().to_string();
    out.push_str("\n\nAttachments:\n");
    for f in files {
        out.push_str("- ");
        out.push_str(&line(f, public_url, slug, limit_kb));
        out.push('\n');
    }
    out
}

/// An attachment's name (folded, "(unnamed)" without one) and lowercase
/// MIME type, as `parse` describes it and `files` keeps it.
pub fn describe(a: &MessagePart<'_>) -> (String, String) {
    let name = a
        .attachment_name()
        .map(fold)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "(unnamed)".to_string());
    let content_type = a
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase();
    (name, content_type)
}

/// Whether a file of `size` bytes is kept under `[community.policy]
/// keep_attachments_kb` = `limit_kb`.
pub fn within_limit(size: usize, limit_kb: u64) -> bool {
    (size as u64) <= limit_kb.saturating_mul(1024)
}

/// How far over the limit a file is, in KB rounded up: "not kept (N KB
/// over the limit)".
pub fn kb_over(size: usize, limit_kb: u64) -> u64 {
    (size as u64)
        .saturating_sub(limit_kb.saturating_mul(1024))
        .div_ceil(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::sha256_hex;

    const PDF: &[u8] = b"%PDF-1.4\n";

    fn post(name: &str) -> Vec<u8> {
        format!(
            "From: a@example.org\r\nSubject: cold chain\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
             Content-Type: text/plain\r\n\r\nThe guide.\r\n--m\r\n\
             Content-Type: application/PDF; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_file_is_named_typed_and_hashed_from_its_decoded_bytes() {
        let files = |raw: &[u8]| crate::mail::parse::parse(raw).unwrap().attachments;
        let f = files(&post("cold chain.pdf"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name, "cold chain.pdf");
        assert_eq!(f[0].content_type, "application/pdf");
        assert_eq!(f[0].bytes, PDF);
        assert_eq!(f[0].sha256, sha256_hex(PDF));
        assert_eq!(f[0].size, PDF.len() as u64);
        // The same bytes under another name are the same file.
        assert_eq!(files(&post("guide.pdf"))[0].sha256, f[0].sha256);
        // The stored description leaves the bytes out.
        let stored = serde_json::to_string(&f[0]).unwrap();
        assert!(!stored.contains("bytes"), "{stored}");
    }

    #[test]
    fn the_limit_is_inclusive_and_the_excess_rounds_up() {
        assert!(within_limit(1024, 1));
        assert!(!within_limit(1025, 1));
        assert_eq!(kb_over(1025, 1), 1);
        assert_eq!(kb_over(3 * 1024, 1), 2);
        assert_eq!(kb_over(10, 1), 0);
        assert!(!within_limit(1, 0), "0 keeps nothing");
    }

    #[test]
    fn a_listing_names_size_and_link_or_why_not_kept() {
        let kept = PostAttachment {
            name: "cold chain/guide ü.pdf".into(),
            sha256: "ab12".into(),
            size: 6000,
            kept: true,
        };
        assert_eq!(
            line(&kept, Some("https://lists.example.org/"), "health", 8),
            "cold chain/guide ü.pdf (6 KB): https://lists.example.org/c/health/a/ab12/cold%20chain%2Fguide%20%C3%BC.pdf"
        );
        assert_eq!(
            line(&kept, None, "health", 8),
            "cold chain/guide ü.pdf (6 KB)"
        );
        let big = PostAttachment {
            name: "scan.pdf".into(),
            sha256: "cd34".into(),
            size: 10 * 1024,
            kept: false,
        };
        assert_eq!(
            line(&big, Some("https://x.org"), "health", 8),
            "scan.pdf (10 KB): not kept (2 KB over the limit)"
        );
        let text = with_listing("Body.\n", &[kept, big], None, "health", 8);
        assert_eq!(
            text,
            "Body.\n\nAttachments:\n- cold chain/guide ü.pdf (6 KB)\n- scan.pdf (10 KB): not kept (2 KB over the limit)\n"
        );
        assert_eq!(with_listing("Body.\n", &[], None, "health", 8), "Body.\n");
    }
}
