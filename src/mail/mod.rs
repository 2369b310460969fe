//! Mail as data: parsing raw bytes into the fields praxis stores, and
//! classifying a message (post, command, bounce, auto-reply, loop).
//!
//! No I/O here: callers pass bytes and the envelope recipient.

pub mod classify;
pub mod html;
pub mod parse;
pub mod quote;
