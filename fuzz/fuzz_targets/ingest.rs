//! Arbitrary bytes through the real ingest pipeline (parse, classify, thread,
//! store into an in-memory database) and its after-commit effects.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    praxis_fuzz::unwind_like_praxis();
    praxis_fuzz::checks::ingest(data);
});
