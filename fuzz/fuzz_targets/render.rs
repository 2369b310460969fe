//! Arbitrary member content through the Consolidated Reply draft and its
//! publication, the HTML and plain digests, and notices.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    praxis_fuzz::unwind_like_praxis();
    praxis_fuzz::checks::render(data);
});
