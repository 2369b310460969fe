//! Moderation: the posting policy (pure rules) and, later, the hold queue's
//! decisions and notices.

pub mod act;
pub mod commands;
pub mod policy;
pub mod token;
