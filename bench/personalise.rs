//! Benchmark helper (used by `bench/run`, digest row): makes every
//! recipient's personalised copy of one stored outbox message, as the sender
//! does before each SMTP transaction (footer with the member's address,
//! List-Unsubscribe), without sending. Prints JSON: copies, bytes, and the
//! CPU seconds this process spent on them (getrusage, user + system).
//!
//! Usage: cargo run --release --example personalise -- CONFIG COMMUNITY OUTBOX_ID RECIPIENTS_FILE

use std::path::Path;

use praxis::config::Config;
use praxis::deliver::compose::{Personal, Prepared};
use praxis::model::OutboxId;
use praxis::store::Store;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, community, outbox, recipients] = args.as_slice() else {
        eprintln!("usage: personalise CONFIG COMMUNITY OUTBOX_ID RECIPIENTS_FILE");
        std::process::exit(2);
    };
    let config = Config::load(Path::new(config)).expect("a valid config");
    let cfg = config
        .community(community)
        .expect("the community in the config");
    let store = Store::open(&config.database_path()).expect("the database");
    let recipients = std::fs::read_to_string(recipients).expect("the recipients file");
    let id = OutboxId(outbox.parse().expect("OUTBOX_ID is a number"));
    let start = cpu_seconds();
    let stored = store.outbox_message(id).expect("the outbox message");
    let prepared = Prepared::new(stored.kind, stored.message).expect("a parseable message");
    let (mut copies, mut bytes) = (0u64, 0u64);
    for r in recipients.lines().filter(|l| !l.is_empty()) {
        let copy = prepared
            .personalise(&Personal {
                recipient: r,
                community: cfg,
                link_key: None,
            })
            .expect("a personalised copy");
        copies += 1;
        bytes += copy.len() as u64;
    }
    println!(
        "{{\"copies\": {copies}, \"bytes\": {bytes}, \"cpu_s\": {:.3}}}",
        cpu_seconds() - start
    );
}
