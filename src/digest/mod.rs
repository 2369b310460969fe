//! Digests: when an issue is due (schedule), what goes in it, and how it is rendered.

pub mod issue;
pub mod render;
pub mod schedule;
pub mod select;
