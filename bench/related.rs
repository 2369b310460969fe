//! Benchmark helper (issue 18's intake cost): runs `related` (praxis's
//! method, `Store::related_to_post`, the top 5) for thread-starting posts
//! (what the hold notice and the queue look up) spread evenly over a
//! database's ids and prints JSON: queries, mean and p99 CPU milliseconds
//! per query (getrusage, user + system, this thread), the mean wall
//! milliseconds, and the highest post id. Run it on a release build, on a warm cache; `bench/run`'s `related`
//! row runs it on the import row's 100,000 messages.
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
    // Thread-starting posts among ids spread over the whole range (eight
    // looked at per query wanted), then `queries` of them spread evenly.
    let step = (posts / (queries.max(1) as i64 * 8)).max(1);
    let roots: Vec<i64> = (1..=posts)
        .step_by(step as usize)
        .filter(|&id| store.starts_thread(PostId(id)).unwrap_or(false))
        .collect();
    let every = (roots.len() / queries.max(1)).max(1);
    let ids: Vec<i64> = roots.iter().step_by(every).take(queries).copied().collect();
    // Warm the cache once over the same posts, then measure.
    let run = |id: i64| match store.related_to_post(PostId(id), 5) {
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(e) => panic!("post {id}: {e}"),
    };
    ids.iter().for_each(|&id| run(id));
    let wall = std::time::Instant::now();
    let mut times: Vec<f64> = ids
        .iter()
        .map(|&id| {
            let start = cpu_seconds();
            run(id);
            (cpu_seconds() - start) * 1000.0
        })
        .collect();
    // Wall time over the whole run, per query: a check on the CPU figures,
    // which the kernel may count in scheduler ticks (4 ms at HZ=250).
    let wall_ms = wall.elapsed().as_secs_f64() * 1000.0 / ids.len().max(1) as f64;
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let p99 = times
        .get((times.len() * 99 / 100).min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    println!(
        "{{\"queries\": {}, \"posts\": {posts}, \"mean_cpu_ms\": {mean:.3}, \"p99_cpu_ms\": {p99:.3}, \"mean_wall_ms\": {wall_ms:.3}}}",
        times.len()
    );
}
