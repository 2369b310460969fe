//! Moderation's pure rules: the posting policy, the email-command grammar and
//! confirmation tokens. What follows a decision is in `effects`.

pub mod commands;
pub mod policy;
pub mod token;
