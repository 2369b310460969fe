//! The house rules, checked over the source text: the layer table of
//! ARCHITECTURE.md (no `crate::` or `super::` import goes up it, every file
//! of src/ is in exactly one layer, no import cycle through three or more
//! files), the external crates each layer may use, no SQL outside src/store/,
//! a `//!` first line everywhere, nothing stray at the repository root, and a
//! reason in the header of every file over 600 lines.
//!
//! Each rule is a function over in-memory `(path, text)` pairs, so the unit
//! tests at the end can feed it a made-up tree and show that it fails.
//! Long because each rule keeps its small parser (literals, use trees, the
//! layer table) beside the unit tests that show it failing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `.rs` files under `dir` (relative to the repository), each as its
/// path relative to `dir` and its text, sorted by path.
fn files_under(dir: &str) -> Vec<(String, String)> {
    let root = crate::support::repo().join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out: Vec<(String, String)> = files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Source files under src/, relative to src/, with their text.
fn sources() -> Vec<(String, String)> {
    files_under("src")
}

fn architecture() -> String {
    std::fs::read_to_string(crate::support::repo().join("ARCHITECTURE.md")).unwrap()
}

// ------------------------------------------------------------ source text

/// The text with comments, string and char literals blanked out (newlines
/// kept, so line numbers stay right).
fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let keep = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
            continue;
        }
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep(c[i]));
                    i += 1;
                }
            }
            continue;
        }
        // Raw strings: r"…", r#"…"#, br"…".
        if !ident_before && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) {
            let mut j = i + if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) == Some(&'"') {
                out.extend(&c[i..=j]);
                j += 1;
                while j < c.len() {
                    if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                        out.extend(&c[j..=j + hashes]);
                        j += 1 + hashes;
                        break;
                    }
                    out.push(keep(c[j]));
                    j += 1;
                }
                i = j;
                continue;
            }
        }
        if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' && i + 1 < c.len() {
                    out.push(' ');
                    out.push(keep(c[i + 1]));
                    i += 2;
                } else {
                    out.push(keep(c[i]));
                    i += 1;
                }
            }
            if i < c.len() {
                out.push('"');
                i += 1;
            }
            continue;
        }
        // A char literal ('x', '\n', '\'', '"'); a lifetime ('a) is code.
        if c[i] == '\'' {
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                let end = j.min(c.len() - 1);
                out.extend(std::iter::repeat_n(' ', end + 1 - i));
                i = end + 1;
                continue;
            }
            if c.get(i + 2) == Some(&'\'') {
                out.push_str("   ");
                i += 3;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// Blanked text (see [`blank`]) without its `#[cfg(test)] mod … { … }`
/// blocks: test code is not part of the layering.
fn without_tests(blanked: &str) -> String {
    let mut c: Vec<char> = blanked.chars().collect();
    let attr: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + attr.len() <= c.len() {
        if c[i..i + attr.len()] != attr[..] {
            i += 1;
            continue;
        }
        let mut j = i + attr.len();
        let mut words = Vec::new();
        // `pub mod name {`, `pub(crate) mod name {`, `mod name {`, maybe
        // after more attributes (`#[allow(…)]`).
        loop {
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            if c.get(j) == Some(&'#') && c.get(j + 1) == Some(&'[') {
                while j < c.len() && c[j] != ']' {
                    j += 1;
                }
                j += 1;
                continue;
            }
            let start = j;
            while j < c.len() && (c[j].is_alphanumeric() || "_()".contains(c[j])) {
                j += 1;
            }
            if start == j {
                break;
            }
            words.push(c[start..j].iter().collect::<String>());
        }
        let is_mod = words.iter().any(|w| w == "mod") && c.get(j) == Some(&'{');
        if !is_mod {
            i += attr.len();
            continue;
        }
        let mut depth = 0;
        let mut end = j;
        while end < c.len() {
            match c[end] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        let last = end.min(c.len() - 1);
        for ch in &mut c[i..=last] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end + 1;
    }
    c.into_iter().collect()
}

/// The code a rule looks at: comments, literals and test modules removed.
fn code(text: &str) -> String {
    without_tests(&blank(text))
}

/// Lines of `code` (see [`blank`] and [`code`]) that use a crate:
/// `use krate`, `krate::`, or `extern crate krate`.
fn uses(code: &str, krate: &str) -> Vec<usize> {
    code.lines()
        .enumerate()
        .filter(|(_, code)| {
            code.contains(&format!("{krate}::"))
                || code.trim_start().starts_with(&format!("use {krate}"))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

// ------------------------------------------------------------ import graph

/// One `crate::`/`super::`/`self::` path in a file, resolved to the file it
/// names.
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    line: usize,
    path: String,
    to: String,
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// Every path a file names from the crate: each a list of segments starting
/// with `crate`, `super` or `self`, with the byte offset where it ends.
fn paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let root = ["crate", "super", "self"].into_iter().find(|r| {
            let n = r.len();
            i + n + 2 <= c.len()
                && c[i..i + n].iter().copied().eq(r.chars())
                && c[i + n] == ':'
                && c[i + n + 1] == ':'
        });
        let boundary = i == 0 || !is_ident(c[i - 1]) && c[i - 1] != ':';
        match root {
            Some(r) if boundary => {
                let mut j = i + r.len() + 2;
                tree(&c, &mut j, vec![r.to_string()], &mut out);
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

fn skip_ws(c: &[char], i: &mut usize) {
    while *i < c.len() && c[*i].is_whitespace() {
        *i += 1;
    }
}

/// Parses the rest of a path or use tree after `prefix::`, pushing each
/// leaf path (`a::{b, c::{d}}` gives `a::b` and `a::c::d`).
fn tree(c: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
    skip_ws(c, i);
    if *i >= c.len() {
        out.push((prefix, *i));
        return;
    }
    if c[*i] == '{' {
        *i += 1;
        loop {
            skip_ws(c, i);
            if *i >= c.len() {
                return;
            }
            if c[*i] == '}' {
                *i += 1;
                return;
            }
            if c[*i] == ',' {
                *i += 1;
                continue;
            }
            let before = *i;
            tree(c, i, prefix.clone(), out);
            // `as alias` and anything else up to the next `,` or `}`.
            while *i < c.len() && c[*i] != ',' && c[*i] != '}' && c[*i] != '{' {
                *i += 1;
            }
            if *i == before {
                *i += 1;
            }
        }
    }
    if c[*i] == '*' {
        *i += 1;
        out.push((prefix, *i));
        return;
    }
    let start = *i;
    while *i < c.len() && is_ident(c[*i]) {
        *i += 1;
    }
    if start == *i {
        out.push((prefix, *i));
        return;
    }
    let mut path = prefix;
    path.push(c[start..*i].iter().collect());
    let mut j = *i;
    skip_ws(c, &mut j);
    if j + 1 < c.len() && c[j] == ':' && c[j + 1] == ':' && c.get(j + 2) != Some(&'<') {
        *i = j + 2;
        tree(c, i, path, out);
    } else {
        out.push((path, *i));
    }
}

/// The module path of a file relative to src/: `a/b/c.rs` and `a/b/c/mod.rs`
/// are `a::b::c`, `lib.rs` and `main.rs` the crate root.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" || stem == "main" {
        return Vec::new();
    }
    stem.split('/').map(str::to_string).collect()
}

/// The file a path names: the longest prefix of its module path that is a
/// file (`a/b.rs` or `a/b/mod.rs`), else the crate root (`lib.rs`).
fn resolve(from: &str, path: &[String], files: &BTreeSet<String>) -> String {
    let mut module = Vec::new();
    for (k, seg) in path.iter().enumerate() {
        match seg.as_str() {
            "crate" if k == 0 => module.clear(),
            "self" if k == 0 => module = module_of(from),
            "super" if k == 0 => {
                module = module_of(from);
                module.pop();
            }
            "super" => {
                module.pop();
            }
            "self" => {}
            s => module.push(s.to_string()),
        }
    }
    for n in (1..=module.len()).rev() {
        let stem = module[..n].join("/");
        for f in [format!("{stem}.rs"), format!("{stem}/mod.rs")] {
            if files.contains(&f) {
                return f;
            }
        }
    }
    "lib.rs".to_string()
}

/// The import edges between the given files (relative to src/), one per
/// path written, without a file's edges to itself. `main.rs` is a separate
/// crate (it names the library as `praxis::`) and is left out as a source.
fn edges(files: &[(String, String)]) -> Vec<Edge> {
    let names: BTreeSet<String> = files.iter().map(|(f, _)| f.clone()).collect();
    let mut out = Vec::new();
    for (from, text) in files {
        if from == "main.rs" {
            continue;
        }
        let code = code(text);
        for (path, end) in paths(&code) {
            let to = resolve(from, &path, &names);
            if &to == from {
                continue;
            }
            let line = code[..code.char_indices().nth(end).map_or(code.len(), |(b, _)| b)]
                .matches('\n')
                .count()
                + 1;
            out.push(Edge {
                from: from.clone(),
                line,
                path: path.join("::"),
                to,
            });
        }
    }
    out
}

// ------------------------------------------------------------ layers

/// A row of ARCHITECTURE.md's layer table: its name and file patterns.
#[derive(Debug)]
struct Layer {
    name: String,
    patterns: Vec<String>,
}

/// The layer table from the "## Layers" section of ARCHITECTURE.md, bottom
/// to top: the `layer` column names the row, every backquoted item in the
/// `files` column is a pattern (`a/b.rs`, or `a/*` for everything under a/).
fn layers(markdown: &str) -> Vec<Layer> {
    let section: Vec<&str> = markdown
        .lines()
        .skip_while(|l| l.trim() != "## Layers")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect();
    let mut rows = section
        .iter()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect::<Vec<String>>()
        });
    let header = rows
        .next()
        .expect("a table in ARCHITECTURE.md's Layers section");
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("the Layers table has no `{name}` column: {header:?}"))
    };
    let (name_col, files_col) = (col("layer"), col("files"));
    rows.filter(|r| !r.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))))
        .map(|r| Layer {
            name: r[name_col].clone(),
            patterns: r[files_col]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect(),
        })
        .collect()
}

fn matches(pattern: &str, file: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(dir) => file.starts_with(&format!("{dir}/")),
        None => pattern == file,
    }
}

/// Each file's layer (index into `layers`), and a complaint for each file in
/// no layer or in more than one.
fn placed(layers: &[Layer], files: &[String]) -> (BTreeMap<String, usize>, Vec<String>) {
    let mut at = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in files {
        let homes: Vec<usize> = (0..layers.len())
            .filter(|&k| layers[k].patterns.iter().any(|p| matches(p, f)))
            .collect();
        match homes[..] {
            [k] => {
                at.insert(f.clone(), k);
            }
            [] => wrong.push(format!(
                "src/{f} is in no layer: add it to the Layers table of ARCHITECTURE.md"
            )),
            _ => wrong.push(format!(
                "src/{f} is in more than one layer: {}",
                homes
                    .iter()
                    .map(|&k| layers[k].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    (at, wrong)
}

/// Every complaint about the layering of `files` against the table in
/// `markdown`: files in no layer or two, and imports that go up.
fn layer_violations(markdown: &str, files: &[(String, String)]) -> Vec<String> {
    let layers = layers(markdown);
    let names: Vec<String> = files.iter().map(|(f, _)| f.clone()).collect();
    let (at, mut wrong) = placed(&layers, &names);
    // One complaint per line and file named: `use crate::store::{A, B}` is one.
    let mut up: BTreeMap<(String, usize, String), Vec<String>> = BTreeMap::new();
    for e in edges(files) {
        if let (Some(&lo), Some(&hi)) = (at.get(&e.from), at.get(&e.to))
            && hi > lo
        {
            up.entry((e.from, e.line, e.to)).or_default().push(e.path);
        }
    }
    for ((from, line, to), paths) in up {
        wrong.push(format!(
            "src/{from}:{line}: {} names src/{to}, up from {} to {}",
            paths.join(", "),
            layers[at[&from]].name,
            layers[at[&to]].name
        ));
    }
    wrong
}

/// For every import (file to file) that lies on a simple cycle through three
/// or more files, one such cycle, as its edges starting with that import.
///
/// An edge u→v lies on one iff there is a w ∉ {u, v} with v→w and u
/// reachable from w without passing v: then u→v→w→…→u is one (the shortest
/// path found by a breadth-first search is simple). No cycle is enumerated:
/// one search per edge.
fn long_cycles(edges: &[Edge]) -> Vec<Vec<Edge>> {
    let mut next: BTreeMap<&str, BTreeMap<&str, &Edge>> = BTreeMap::new();
    for e in edges {
        next.entry(&e.from).or_default().entry(&e.to).or_insert(e);
    }
    let mut found = Vec::new();
    for (&u, outs) in &next {
        for (&v, &uv) in outs {
            if let Some(cycle) = cycle_through(&next, u, v, uv) {
                found.push(cycle);
            }
        }
    }
    found
}

/// A simple cycle of three or more files starting with the edge u→v, if any.
fn cycle_through(
    next: &BTreeMap<&str, BTreeMap<&str, &Edge>>,
    u: &str,
    v: &str,
    uv: &Edge,
) -> Option<Vec<Edge>> {
    // Breadth-first from every w beside u, never entering v.
    let mut came: BTreeMap<&str, &Edge> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for (&w, &vw) in next.get(v)? {
        if w != u && w != v {
            came.insert(w, vw);
            queue.push_back(w);
        }
    }
    while let Some(x) = queue.pop_front() {
        for (&y, &xy) in next.get(x).into_iter().flatten() {
            if y == v || came.contains_key(y) {
                continue;
            }
            came.insert(y, xy);
            if y == u {
                let mut cycle = vec![xy];
                let mut at = xy.from.as_str();
                while at != v {
                    let e = came[at];
                    cycle.push(e);
                    at = e.from.as_str();
                }
                cycle.push(uv);
                cycle.reverse();
                return Some(cycle.into_iter().cloned().collect());
            }
            queue.push_back(y);
        }
    }
    None
}

/// One simple cycle through three or more files, if any, as its edges.
fn long_cycle(edges: &[Edge]) -> Option<Vec<Edge>> {
    long_cycles(edges).into_iter().next()
}

fn show_cycle(cycle: &[Edge]) -> String {
    cycle
        .iter()
        .map(|e| format!("  src/{}:{}: {} → src/{}", e.from, e.line, e.path, e.to))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_import_goes_up_the_layer_table() {
    let wrong = layer_violations(&architecture(), &sources());
    assert!(
        wrong.is_empty(),
        "the layering of ARCHITECTURE.md is broken ({} times):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn no_import_cycle_through_three_files() {
    let cycles = long_cycles(&edges(&sources()));
    if let Some(cycle) = cycles.first() {
        let on: Vec<String> = cycles
            .iter()
            .map(|c| format!("  src/{} → src/{}", c[0].from, c[0].to))
            .collect();
        panic!(
            "an import cycle through {} files (two files importing each other is fine; three or more is not):\n{}\n\
             every import on such a cycle ({}):\n{}",
            cycle.len(),
            show_cycle(cycle),
            on.len(),
            on.join("\n")
        );
    }
}

// ------------------------------------------------------------ crates, SQL, headers

#[test]
fn crates_stay_in_their_layers() {
    let rules: &[(&str, &[&str])] = &[
        ("rusqlite", &["store/"]),
        ("tokio_postgres", &["store/"]),
        ("deadpool_postgres", &["store/engine/"]),
        ("lettre", &["deliver/"]),
        ("async_imap", &["ingest/"]),
        ("rustls", &["deliver/", "ingest/", "tls.rs"]),
    ];
    let table = layers(&architecture());
    let pure = table
        .iter()
        .find(|l| l.name == "pure")
        .expect("a `pure` row in ARCHITECTURE.md's Layers table");
    let mut wrong = Vec::new();
    for (rel, text) in sources() {
        let (all, untested) = (blank(&text), code(&text));
        for (krate, homes) in rules {
            if !homes.iter().any(|home| rel.starts_with(home)) {
                for line in uses(&all, krate) {
                    wrong.push(format!(
                        "src/{rel}:{line} uses {krate}, which belongs in src/{}",
                        homes.join(" or src/")
                    ));
                }
            }
        }
        if pure.patterns.iter().any(|p| matches(p, &rel)) {
            for krate in [
                "tokio",
                "rusqlite",
                "tokio_postgres",
                "lettre",
                "async_imap",
                "std::fs",
                "std::net",
            ] {
                // A pure module's tests may read a fixture or write a file.
                for line in uses(&untested, krate) {
                    wrong.push(format!("src/{rel}:{line} uses {krate} in a pure module"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_sql_outside_the_store() {
    let mut wrong = Vec::new();
    for (rel, text) in sources() {
        if rel.starts_with("store/") {
            continue;
        }
        for (i, l) in text.lines().enumerate() {
            let upper = l.to_ascii_uppercase();
            if [
                "SELECT ",
                "INSERT INTO",
                "UPDATE ",
                "DELETE FROM",
                "CREATE TABLE",
            ]
            .iter()
            .any(|kw| upper.contains(kw) && l.contains('"'))
                && (upper.contains(" FROM ")
                    || upper.contains("INSERT INTO")
                    || upper.contains(" SET ")
                    || upper.contains("CREATE TABLE"))
            {
                wrong.push(format!("src/{rel}:{}: {}", i + 1, l.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "SQL outside src/store/:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(rel, _)| format!("src/{rel}"))
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a //! line: {missing:?}"
    );
}

/// A file over this many lines says why in its header, or is split.
const LONG: usize = 600;

/// Files (path, text) over [`LONG`] lines whose `//!` header has no sentence
/// starting "Long because".
fn long_without_a_reason(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| {
            let header: Vec<&str> = text
                .lines()
                .take_while(|l| l.trim_start().starts_with("//!"))
                .collect();
            text.lines().count() > LONG && !header.join(" ").contains("Long because")
        })
        .map(|(path, text)| format!("{path} ({} lines)", text.lines().count()))
        .collect()
}

#[test]
fn long_files_say_why() {
    let mut files = Vec::new();
    for dir in ["src", "tests"] {
        files.extend(
            files_under(dir)
                .into_iter()
                .map(|(p, t)| (format!("{dir}/{p}"), t)),
        );
    }
    let wrong = long_without_a_reason(&files);
    assert!(
        wrong.is_empty(),
        "files over {LONG} lines whose //! header does not say \"Long because …\" (say why, or split them):\n{}",
        wrong.join("\n")
    );
}

// ------------------------------------------------------------ the root

/// What may sit at the top of the repository.
const ROOT_ENTRIES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    // build.rs: links the binary without PIE (its //! says why).
    "build.rs",
    "README.md",
    "ARCHITECTURE.md",
    ".gitignore",
    ".ci",
    // .config/nextest.toml: a test that hangs fails instead of holding CI.
    ".config",
    // .cargo/config.toml: the bundled SQLite's build flags.
    ".cargo",
    "src",
    "templates",
    "config",
    "tests",
    "examples",
    "scripts",
    "bench",
    "fuzz",
    "proptest-regressions",
    // docs/screenshots/: the README's pictures, made by scripts/screenshots.
    "docs",
];

/// Complaints about tracked files (path, size in bytes): a top-level entry
/// outside [`ROOT_ENTRIES`], or an empty file (other than a `.gitkeep`).
fn misplaced(tracked: &[(String, u64)]) -> Vec<String> {
    let mut wrong = BTreeSet::new();
    for (path, size) in tracked {
        let top = path.split('/').next().unwrap_or(path);
        if !ROOT_ENTRIES.contains(&top) {
            wrong.insert(format!(
                "{top} at the repository root is outside the project's layout"
            ));
        }
        if *size == 0 && path.rsplit('/').next() != Some(".gitkeep") {
            wrong.insert(format!("{path} is empty"));
        }
    }
    wrong.into_iter().collect()
}

#[test]
fn nothing_stray_is_tracked() {
    let repo = crate::support::repo();
    let Ok(out) = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["ls-files", "-z"])
        .output()
    else {
        eprintln!("git is not available: the tracked files are not checked");
        return;
    };
    if !out.status.success() {
        eprintln!("not a git checkout: the tracked files are not checked");
        return;
    }
    let tracked: Vec<(String, u64)> = String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            // A file deleted in the work tree but not yet from the index is skipped.
            let meta = std::fs::symlink_metadata(repo.join(p)).ok()?;
            Some((p.to_string(), if meta.is_file() { meta.len() } else { 1 }))
        })
        .collect();
    let wrong = misplaced(&tracked);
    assert!(
        wrong.is_empty(),
        "stray files tracked (remove them; .gitignore keeps a shell loop's leftovers out):\n{}",
        wrong.join("\n")
    );
}

// ------------------------------------------------------------ the checkers fail

/// A layer table as ARCHITECTURE.md writes it.
const TABLE: &str = "# A\n\n## Layers\n\n\
| layer | files | does I/O |\n\
|---|---|---|\n\
| pure | `model.rs`, `mail/*` | no |\n\
| store | `store/*` | yes |\n\
| effects | `deliver/*`, `web.rs` | yes |\n\
| entry points | `lib.rs`, `main.rs` | yes |\n\n\
## Next\n\n| layer | files |\n|---|---|\n| other | `x.rs` |\n";

fn tree_of(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn the_crate_checker_sees_what_it_looks_for() {
    let found = |text: &str| uses(&code(text), "rusqlite");
    assert_eq!(found("use rusqlite::Connection;\nfn f() {}"), vec![1]);
    assert_eq!(found("let c = rusqlite::Connection::open(p);"), vec![1]);
    assert!(found("// rusqlite:: in a comment").is_empty());
    assert!(found("let s = \"rusqlite::\";").is_empty());
    assert!(found("#[cfg(test)]\nmod tests {\n    use rusqlite::Connection;\n}\n").is_empty());
    assert_eq!(
        uses(
            &blank("#[cfg(test)]\nmod tests {\n    use rusqlite::Connection;\n}\n"),
            "rusqlite"
        ),
        vec![3]
    );
}

#[test]
fn the_layer_table_is_read_from_its_section() {
    let t = layers(TABLE);
    let names: Vec<&str> = t.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["pure", "store", "effects", "entry points"]);
    assert_eq!(t[0].patterns, ["model.rs", "mail/*"]);
    assert!(matches("mail/*", "mail/parse.rs") && !matches("mail/*", "mailer.rs"));
}

#[test]
fn an_import_up_the_table_is_reported() {
    let files = tree_of(&[
        ("model.rs", "//! m\nuse crate::store::Member;\n"),
        ("store/mod.rs", "//! s\npub struct Member;\n"),
        (
            "deliver/mod.rs",
            "//! d\nuse crate::{model, store::Member};\n",
        ),
    ]);
    let wrong = layer_violations(TABLE, &files);
    assert_eq!(
        wrong,
        ["src/model.rs:2: crate::store::Member names src/store/mod.rs, up from pure to store"]
    );
}

#[test]
fn a_file_in_no_layer_or_two_is_reported() {
    let table = TABLE.replace("| `store/*` |", "| `store/*`, `model.rs` |");
    let files = tree_of(&[("model.rs", "//! m\n"), ("stray.rs", "//! s\n")]);
    let wrong = layer_violations(&table, &files);
    assert_eq!(
        wrong,
        [
            "src/model.rs is in more than one layer: pure, store",
            "src/stray.rs is in no layer: add it to the Layers table of ARCHITECTURE.md",
        ]
    );
}

#[test]
fn groups_and_super_resolve_to_files() {
    let files = tree_of(&[
        ("lib.rs", "//! l\n"),
        ("a/mod.rs", "//! a\n"),
        ("a/b.rs", "//! b\n"),
        ("a/c/mod.rs", "//! c\n"),
        (
            "a/c/e.rs",
            "//! e\nuse super::super::b::X;\nuse super::Y;\n",
        ),
        ("d.rs", "//! d\n"),
        (
            "x.rs",
            "//! x\nuse crate::{a::{b, c::{self, e::Z as W}}, d};\n\
             fn f() { crate::a::Thing::new(); let _ = crate::Root; }\n",
        ),
    ]);
    let got: Vec<(String, usize, String)> = edges(&files)
        .into_iter()
        .map(|e| (e.from, e.line, e.to))
        .collect();
    let want = [
        ("a/c/e.rs", 2, "a/b.rs"),
        ("a/c/e.rs", 3, "a/c/mod.rs"),
        ("x.rs", 2, "a/b.rs"),
        ("x.rs", 2, "a/c/mod.rs"),
        ("x.rs", 2, "a/c/e.rs"),
        ("x.rs", 2, "d.rs"),
        ("x.rs", 3, "a/mod.rs"),
        ("x.rs", 3, "lib.rs"),
    ];
    let want: Vec<(String, usize, String)> = want
        .iter()
        .map(|(f, l, t)| (f.to_string(), *l, t.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn comments_strings_and_test_modules_are_not_imports() {
    let text = "//! t\n\
        // use crate::store;\n\
        /* crate::store /* nested */ crate::deliver */\n\
        const S: &str = \"crate::store\";\n\
        const R: &str = r#\"crate::store \"#;\n\
        const C: char = '\"';\n\
        fn f<'a>(x: &'a str) {}\n\
        #[cfg(test)]\n\
        mod tests {\n\
            use crate::store::Member;\n\
            fn g() { if true { crate::deliver::go(); } }\n\
        }\n\
        #[cfg(test)]\n\
        #[allow(dead_code)]\n\
        pub(crate) mod more_tests { use crate::deliver::go; }\n\
        use crate::web;\n";
    let files = tree_of(&[
        ("model.rs", text),
        ("store/mod.rs", "//! s\n"),
        ("deliver/mod.rs", "//! d\n"),
        ("web.rs", "//! w\n"),
    ]);
    let got: Vec<(usize, String)> = edges(&files).into_iter().map(|e| (e.line, e.to)).collect();
    assert_eq!(got, [(16, "web.rs".to_string())]);
}

#[test]
fn a_cycle_through_three_files_is_reported() {
    let files = tree_of(&[
        ("a.rs", "//! a\nuse crate::b::X;\n"),
        ("b.rs", "//! b\nuse crate::c::X;\n"),
        ("c.rs", "//! c\nuse crate::a::X;\n"),
        ("d.rs", "//! d\nuse crate::a::X;\n"),
    ]);
    let cycle = long_cycle(&edges(&files)).expect("a 3-cycle");
    let hops: Vec<(&str, &str)> = cycle
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(hops, [("a.rs", "b.rs"), ("b.rs", "c.rs"), ("c.rs", "a.rs")]);
    assert!(show_cycle(&cycle).contains("src/c.rs:2: crate::a::X → src/a.rs"));
}

#[test]
fn a_module_and_its_child_may_import_each_other() {
    let files = tree_of(&[
        ("m/mod.rs", "//! m\npub use self::k::K;\n"),
        ("m/k.rs", "//! k\nuse super::Shared;\nuse crate::n::N;\n"),
        ("n.rs", "//! n\n"),
        ("p.rs", "//! p\nuse crate::m::K;\nuse crate::n;\n"),
    ]);
    assert!(long_cycle(&edges(&files)).is_none());
}

#[test]
fn a_long_file_without_a_reason_is_reported() {
    let body = "fn f() {}\n".repeat(LONG);
    let files = tree_of(&[
        ("src/short.rs", "//! Short.\n"),
        ("src/bare.rs", &format!("//! Does things.\n{body}")),
        (
            "src/said.rs",
            &format!("//! Does things.\n//!\n//! Long because the cases share one table.\n{body}"),
        ),
    ]);
    assert_eq!(
        long_without_a_reason(&files),
        [format!("src/bare.rs ({} lines)", LONG + 1)]
    );
}

#[test]
fn stray_files_at_the_root_are_reported() {
    let tracked: Vec<(String, u64)> = [
        ("Cargo.toml", 10),
        ("src/lib.rs", 10),
        ("bench/run", 10),
        ("q10.eml", 0),
        ("run2.sh", 5),
        ("benches/fanout.rs", 5),
        ("tests/data/.gitkeep", 0),
        ("tests/it/empty.rs", 0),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), *s))
    .collect();
    assert_eq!(
        misplaced(&tracked),
        [
            "benches at the repository root is outside the project's layout",
            "q10.eml at the repository root is outside the project's layout",
            "q10.eml is empty",
            "run2.sh at the repository root is outside the project's layout",
            "tests/it/empty.rs is empty",
        ]
    );
}
