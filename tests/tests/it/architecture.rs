//! The shape of the code, drawn from its imports: no cycles and no upward
//! arrows (ARCHITECTURE.md, "Boundaries"). The rule is stated here as data
//! and checked against what the sources say, file by file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `archiver`'s top-level modules by layer, lowest first: a module may
/// import modules of lower layers only. Same-layer imports are forbidden
/// too, so that no two modules can ever import each other.
const ARCHIVER_LAYERS: &[&[&str]] = &[
    // Leaves: the record codec, telemetry (metrics, logs, redaction), globs.
    &["record", "telemetry", "topics"],
    // A message's searchable text and the search syntax.
    &["text"],
    // The core: identity and the two storage seams.
    &["identity", "index", "store"],
    // Where messages come from (Kafka, hopauth's topic list).
    &["source"],
    // The ingest pipeline, and configuration (which names sources' types).
    &["config", "pipeline"],
    // Readers of the archive: the HTTP API, and restore (into Kafka or a file).
    &["api", "restore"],
    // The application layer: `archiver run`'s wiring, operator tools.
    &["ops"],
];

/// One import of a module by another, where it was found.
#[derive(Debug, Clone)]
struct Arrow {
    from: String,
    to: String,
    at: String,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The first path segments after each `prefix` in `line` (`crate::a::b` →
/// `a`; `crate::{a, b::c}` → `a`, `b`). Comments are not code.
fn segments_after(line: &str, prefix: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or_default();
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        let names = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or_default().split(',').map(str::trim).collect(),
            None => vec![rest],
        };
        for name in names {
            let ident: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !ident.is_empty() && ident != "self" {
                out.push(ident);
            }
        }
    }
    out
}

/// The arrows between the modules directly under `root` (a directory or
/// file per module), from references written as `prefix` + module name.
fn arrows(root: &Path, prefix: &str) -> Vec<Arrow> {
    let mut out = Vec::new();
    for file in rust_files(root) {
        let relative = file.strip_prefix(root).expect("under the root");
        let Some(first) = relative.components().next() else { continue };
        let from = first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (n, line) in text.lines().enumerate() {
            for to in segments_after(line, prefix) {
                if to != from {
                    let at = format!("{}:{}", file.strip_prefix(workspace()).unwrap_or(&file).display(), n + 1);
                    out.push(Arrow { from: from.clone(), to, at });
                }
            }
        }
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    ARCHIVER_LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The arrows that break the layering: upward, sideways, or to a module
/// the table does not know.
fn violations(arrows: &[Arrow]) -> Vec<String> {
    arrows
        .iter()
        .filter(|a| !matches!((layer_of(&a.from), layer_of(&a.to)), (Some(from), Some(to)) if to < from))
        .map(|a| format!("{} imports {} ({})", a.from, a.to, a.at))
        .collect()
}

/// A cycle among `arrows`, if any, as the modules on it.
fn cycle(arrows: &[Arrow]) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in arrows {
        graph.entry(&a.from).or_default().insert(&a.to);
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            return Some(path[start..].iter().chain([&node]).map(|n| n.to_string()).collect());
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        let found = graph.get(node).into_iter().flatten().find_map(|next| visit(next, graph, path, done));
        path.pop();
        found
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, &graph, &mut Vec::new(), &mut done))
}

#[test]
fn archiver_modules_import_only_lower_layers() {
    let found = arrows(&workspace().join("archiver/src"), "crate::");
    assert!(found.len() > 30, "the scan found only {} imports: is it still reading the sources?", found.len());
    let bad = violations(&found);
    assert!(bad.is_empty(), "imports against the layering of ARCHIVER_LAYERS:\n{}", bad.join("\n"));
}

#[test]
fn mockhop_generator_modules_import_each_other_without_cycles() {
    let root = workspace().join("mockhop/src/generate");
    let mut found = arrows(&root, "super::");
    found.extend(arrows(&root, "crate::generate::"));
    // `super::` inside a subdirectory names that directory's own module.
    found.retain(|a| !a.at.contains("/generate/payloads/"));
    assert!(found.len() > 20, "the scan found only {} imports", found.len());
    assert_eq!(cycle(&found), None, "an import cycle in mockhop's generator");
}

/// The checker itself: it must see the arrows it is meant to forbid.
#[test]
fn the_checker_reports_upward_arrows_and_cycles() {
    let arrow = |from: &str, to: &str| Arrow { from: from.into(), to: to.into(), at: "x.rs:1".into() };
    assert_eq!(segments_after("use crate::{ops::metrics, self, index}; // crate::api", "crate::"), ["ops", "index"]);
    assert_eq!(violations(&[arrow("pipeline", "store"), arrow("store", "telemetry")]), Vec::<String>::new());
    assert_eq!(violations(&[arrow("pipeline", "ops")]), ["pipeline imports ops (x.rs:1)"]);
    assert_eq!(violations(&[arrow("pipeline", "config")]), ["pipeline imports config (x.rs:1)"], "sideways");
    assert_eq!(violations(&[arrow("novel", "record")]).len(), 1, "a module missing from the table");
    let looped = [arrow("a", "b"), arrow("b", "c"), arrow("c", "a"), arrow("c", "d")];
    assert_eq!(cycle(&looped), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    assert_eq!(cycle(&looped[1..]), None);
}
