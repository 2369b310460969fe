//! The fuzz targets' bodies live in `checks.rs`, which the normal test suite
//! includes too (tests/it/fuzz.rs), so every crash input kept under
//! `fuzz/regressions/` is replayed by `cargo test`.

#[path = "checks.rs"]
pub mod checks;

/// libfuzzer-sys aborts on every panic, even one praxis catches on purpose
/// (`mail::parse` turns a panic inside mail-parser, e.g. its debug
/// assertion "Invalid part ID", into "unparseable"). Restore unwinding once,
/// so only a panic that escapes praxis aborts the run (libfuzzer-sys aborts
/// when the target unwinds) and is reported as a crash.
pub fn unwind_like_praxis() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    });
}
