//! A CSV file uploaded to the members page (`/mod/SLUG/members/import`):
//! the multipart body read to its limit (2 MB of file; a larger body is
//! read on and dropped, to a bound, so the browser sees the page saying
//! why rather than a reset connection), and the import's report as the
//! page shows it: added, already members, bad rows by line.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::member_csv::Report;

use super::super::State;

/// The largest CSV file taken.
const UPLOAD_MAX: usize = 2 * 1024 * 1024;
/// The largest upload request read: the file and the form around it.
const BODY_MAX: usize = UPLOAD_MAX + 64 * 1024;
/// A larger upload is still read (and dropped) up to this, so the browser
/// that sent it sees the page saying why rather than a reset connection.
pub(super) const DRAIN_MAX: usize = 16 * 1024 * 1024;
/// Added addresses listed after an import (the count says the rest).
const ADDED_SHOWN: usize = 200;

/// The upload as read: the form's fields and the file's name and bytes;
/// or the page's reason for refusing it.
pub(super) struct Upload {
    /// The CSRF token sent.
    pub csrf: String,
    /// The file's name as the browser gave it.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Reads an upload, its body at most [`BODY_MAX`] (a larger one is read on
/// and dropped to [`DRAIN_MAX`], so the answer reaches the browser).
pub(super) async fn read(state: &State, req: Request) -> Result<Upload, String> {
    let too_large = || {
        format!(
            "The file is larger than {} MB; split it into smaller files and import each.",
            UPLOAD_MAX / (1024 * 1024)
        )
    };
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| format!("The upload did not arrive whole ({e}); send it again."))?;
        seen += chunk.len();
        if seen <= BODY_MAX {
            kept.extend_from_slice(&chunk);
        } else if seen > DRAIN_MAX {
            break;
        }
    }
    if seen > BODY_MAX {
        return Err(too_large());
    }
    let req = Request::from_parts(parts, Body::from(kept));
    let mut multipart = Multipart::from_request(req, state).await.map_err(|_| {
        "Send the file with the page's upload form (a multipart form); reload the page and choose the file again."
            .to_string()
    })?;
    let mut upload = Upload {
        csrf: String::new(),
        name: String::new(),
        bytes: Vec::new(),
    };
    let broken = |e: axum::extract::multipart::MultipartError| {
        format!("The upload could not be read ({e}); choose the file and send it again.")
    };
    while let Some(field) = multipart.next_field().await.map_err(broken)? {
        match field.name() {
            Some("csrf") => upload.csrf = field.text().await.map_err(broken)?,
            Some("file") => {
                upload.name = field.file_name().unwrap_or("the file").to_string();
                upload.bytes = field.bytes().await.map_err(broken)?.to_vec();
            }
            _ => {}
        }
    }
    if upload.bytes.len() > UPLOAD_MAX {
        return Err(too_large());
    }
    Ok(upload)
}

/// The line above an import's report.
pub(super) fn summary(name: &str, r: &Report) -> String {
    let n = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    format!(
        "Imported {name}: {} added, {}, {} not imported.",
        n(r.added.len(), "member", "members"),
        n(r.existing.len(), "already a member", "already members"),
        n(r.bad.len(), "row", "rows"),
    )
}

/// An import's report as the page shows it.
pub(super) fn report(name: &str, r: &Report) -> Value {
    json!({
        "file": name,
        "added": r.added.iter().take(ADDED_SHOWN)
            .map(|(line, m)| json!({"line": line, "email": m.email, "name": m.name}))
            .collect::<Vec<_>>(),
        "added_more": r.added.len().saturating_sub(ADDED_SHOWN),
        "existing": r.existing.iter()
            .map(|(line, email)| json!({"line": line, "email": email}))
            .collect::<Vec<_>>(),
        "bad": r.bad.iter()
            .map(|b| json!({"line": b.line, "reason": b.reason}))
            .collect::<Vec<_>>(),
    })
}
