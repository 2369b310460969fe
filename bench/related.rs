//! Benchmark helper (issue 18's intake cost): runs `related` (praxis's
//! method, `Store::related_to_post`, the top 5) for posts spread evenly
//! over a database's ids and prints JSON: queries, mean and p99 CPU
//! milliseconds per query (getrusage, user + system, this thread), and the
//! highest post id. Run it on a release build, on a warm cache.
//!
//! Usage: cargo run --release --example related -- DATABASE [QUERIES]

use std::path::Path;

use praxis::model::PostId;
use praxis::store::{Store, StoreError};

/// User + system CPU seconds of this thread so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (db, queries) = match args.as_slice() {
        [db] => (db, 500),
        [db, n] => (db, n.parse().expect("QUERIES is a number")),
        _ => {
            eprintln!("usage: related DATABASE [QUERIES]");
            std::process::exit(2);
        }
    };
    let store = Store::open(Path::new(db)).expect("the database opens");
    // The highest post id (ids are dense in an imported archive).
    let exists = |id: i64| store.post(PostId(id)).is_ok();
    let (mut lo, mut hi) = (0i64, 1i64);
    while exists(hi) {
        (lo, hi) = (hi, hi * 2);
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if exists(mid) { lo = mid } else { hi = mid }
    }
    let posts = lo;
    let step = (posts / queries.max(1) as i64).max(1);
    // Warm the cache once over the same posts, then measure.
    let ids: Vec<i64> = (0..queries as i64).map(|i| 1 + i * step).collect();
    let run = |id: i64| match store.related_to_post(PostId(id), 5) {
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(e) => panic!("post {id}: {e}"),
    };
    ids.iter().for_each(|&id| run(id));
    let mut times: Vec<f64> = ids
        .iter()
        .map(|&id| {
            let start = cpu_seconds();
            run(id);
            (cpu_seconds() - start) * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let p99 = times
        .get((times.len() * 99 / 100).min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    println!(
        "{{\"queries\": {}, \"posts\": {posts}, \"mean_cpu_ms\": {mean:.3}, \"p99_cpu_ms\": {p99:.3}}}",
        times.len()
    );
}
