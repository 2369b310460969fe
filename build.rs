//! Links the `praxis` binary as a position-dependent executable on x86-64
//! Linux, unless `PRAXIS_PIE=1` asks for the usual position-independent one.
//!
//! Why: an MTA runs `praxis ingest` once per message, and a PIE build spent
//! about 1.4 ms of each start (3.0 against 1.6 ms CPU for `--version`, 740
//! against 235 page faults) applying 78,000 relative relocations, which
//! copies every page of its 1.9 MB `.data.rel.ro` (vtables and tables of
//! pointers). Packed relocations (`-z pack-relative-relocs`) shrink the
//! table but not the copying (2.7 ms). What a non-PIE build gives up is the
//! randomised address of the executable's own image; shared libraries,
//! the heap, the stack and every mapping stay randomised (Go builds its
//! binaries the same way by default). Test binaries are not affected.

fn main() {
    println!("cargo:rerun-if-env-changed=PRAXIS_PIE");
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let pie = std::env::var("PRAXIS_PIE").is_ok_and(|v| v == "1");
    if os == "linux" && arch == "x86_64" && env == "gnu" && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
