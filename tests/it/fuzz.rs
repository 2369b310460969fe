//! Every input the fuzzers ever crashed on (fuzz/regressions/<target>/),
//! replayed through the same checks the fuzz targets run (fuzz/src/checks.rs),
//! plus a few hostile seeds of our own, so a fixed crash stays fixed.

#[path = "../../fuzz/src/checks.rs"]
pub(crate) mod checks;

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = crate::support::repo().join("fuzz/regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
fn fuzz_regressions_ingest() {
    let all = inputs("ingest");
    assert!(
        !all.is_empty(),
        "fuzz/regressions/ingest holds at least the seeds"
    );
    for (path, data) in all {
        eprintln!("ingest {}", path.display());
        checks::ingest(&data);
    }
}

#[test]
fn fuzz_regressions_render() {
    let all = inputs("render");
    assert!(
        !all.is_empty(),
        "fuzz/regressions/render holds at least the seeds"
    );
    for (path, data) in all {
        eprintln!("render {}", path.display());
        checks::render(&data);
    }
}
