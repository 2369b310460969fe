//! The fuzz targets' bodies live in `checks.rs`, which the normal test suite
//! includes too (tests/it/fuzz.rs), so every crash input kept under
//! `fuzz/regressions/` is replayed by `cargo test`.

#[path = "checks.rs"]
pub mod checks;
