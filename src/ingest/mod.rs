//! Ingest sources: IMAP (IDLE), LMTP, an MTA pipe and archive import, all
//! feeding one pipeline. The only module that imports the IMAP client.

pub mod archive;
pub mod bulk;
pub mod imap;
pub mod lmtp;
pub mod pipeline;
pub mod watcher;
