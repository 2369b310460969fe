//! Mail as data: parsing raw bytes into the fields praxis stores, and
//! classifying a message (post, command, bounce, auto-reply, loop).
//!
//! No I/O here: callers pass bytes and the envelope recipient.

pub mod attachments;
pub mod classify;
pub mod header;
pub mod html;
pub mod parse;
pub mod quote;

/// `input` with every bare LF made CRLF, the line end on the wire, appended
/// to `out`; CRLFs already there stay as they are.
pub fn crlf_into(input: &[u8], out: &mut Vec<u8>) {
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}
