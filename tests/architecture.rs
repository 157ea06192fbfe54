//! Architecture rules, checked on the source text itself (std only, no cargo metadata).
//!
//! `src/` is read at run time, so the rules follow refactors without edits: the test
//! rebuilds the module trees of the library (`src/lib.rs`) and of the binary
//! (`src/main.rs`), the file-level and folder-level import graphs, function lengths in all of
//! `src/`, and the command-layer layout.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 120;
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A module path, or a path as written (`crate::render::edit::Plan`), by segments.
type Segs = Vec<String>;

fn src_dir() -> PathBuf {
    Path::new(ROOT).join("src")
}

/// Path relative to the crate, e.g. `src/render/mod.rs`, for messages and graph nodes.
fn rel(path: &Path) -> String {
    format!("{}", path.strip_prefix(ROOT).unwrap_or(path).display())
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Blanks comments, string and char literals, keeping newlines so line numbers survive,
/// so that `crate::x` or a `}` inside them is never taken for code.
fn strip(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let at = |i: usize, ch: char| s.get(i) == Some(&ch);
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < s.len() {
        let start = i;
        if at(i, '/') && at(i + 1, '/') {
            i = find(&s, i, '\n');
        } else if at(i, '/') && at(i + 1, '*') {
            // block comments nest in Rust
            let mut depth = 0;
            while i < s.len() {
                let step = (at(i, '/') && at(i + 1, '*'), at(i, '*') && at(i + 1, '/'));
                depth += i32::from(step.0) - i32::from(step.1);
                i += if step.0 || step.1 { 2 } else { 1 };
                if depth == 0 {
                    break;
                }
            }
        } else if let Some((hashes, body)) = raw_string_start(&s, i) {
            // r"..", r#".."#, br"..": no escapes; ends at `"` plus the same number of `#`
            let end = (body..s.len()).find(|&k| at(k, '"') && (1..=hashes).all(|h| at(k + h, '#')));
            i = end.unwrap_or(s.len()) + 1 + hashes;
        } else if at(i, '"') {
            // also covers b"..", c"..": the prefix letter stays as a harmless token
            i += 1;
            while i < s.len() && s[i] != '"' {
                i += if s[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if at(i, '\'') && at(i + 1, '\\') {
            // escaped char '\'' '\n' '\u{0}': skip the escaped char, then find the quote
            i = find(&s, i + 3, '\'') + 1;
        } else if at(i, '\'') && at(i + 2, '\'') {
            i += 3; // 'x'; a lifetime `'a` is never followed by a quote two chars later
        } else {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let end = i.min(s.len());
        out.extend(s[start..end].iter().map(blank));
        i = end;
    }
    out
}

fn blank(c: &char) -> char {
    if *c == '\n' { '\n' } else { ' ' }
}

/// Index of the first `ch` at or after `from`, or the end.
fn find(s: &[char], from: usize, ch: char) -> usize {
    (from..s.len()).find(|&k| s[k] == ch).unwrap_or(s.len())
}

/// If a raw string starts at `i` (`r`, `br` or `cr`, then `#`*, then `"`), returns
/// the number of `#` and the index of its first content char.
fn raw_string_start(s: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && is_ident_char(s[i - 1]) {
        return None; // the `r` ends some identifier
    }
    let r = if matches!(s[i], 'b' | 'c') { i + 1 } else { i };
    if s.get(r) != Some(&'r') {
        return None;
    }
    let hashes = s[r + 1..].iter().take_while(|&&c| c == '#').count();
    (s.get(r + 1 + hashes) == Some(&'"')).then_some((hashes, r + 2 + hashes))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_alphabetic() || c == '_') && s.chars().all(is_ident_char)
}

struct Tok {
    text: String,
    line: usize,
}

/// Identifiers, `::`, and single punctuation chars, each with its 1-based line.
fn tokenize(src: &str) -> Vec<Tok> {
    let s: Vec<char> = strip(src).chars().collect();
    let (mut toks, mut line, mut i) = (Vec::new(), 1, 0);
    while i < s.len() {
        let start = i;
        line += usize::from(s[i] == '\n');
        if s[i].is_whitespace() {
            i += 1;
            continue;
        }
        i += match s[i] {
            c if is_ident_char(c) => s[i..].iter().take_while(|&&c| is_ident_char(c)).count(),
            ':' if s.get(i + 1) == Some(&':') => 2,
            _ => 1,
        };
        let text = s[start..i].iter().collect();
        toks.push(Tok { text, line });
    }
    toks
}

fn text(toks: &[Tok], i: usize) -> &str {
    toks.get(i).map_or("", |t| t.text.as_str())
}

/// A path used in a file; `inline` is the stack of inline `mod x { .. }` around it.
struct PathRef {
    inline: Segs,
    segs: Segs,
    line: usize,
}

/// What one file declares (`mod name;`, with the inline modules around it) and uses.
#[derive(Default)]
struct Scan {
    mods: Vec<(Segs, String)>,
    paths: Vec<PathRef>,
}

fn scan(toks: &[Tok]) -> Scan {
    let t = |i: usize| text(toks, i);
    let mut out = Scan::default();
    let mut inline: Vec<(String, usize)> = Vec::new(); // (name, brace depth outside it)
    let names = |inline: &[(String, usize)]| inline.iter().map(|m| m.0.clone()).collect();
    let (mut depth, mut i) = (0usize, 0);
    while i < toks.len() {
        // a path start: not mid-path (`a::b`) nor a method turbofish (`x.f::<T>()`)
        if is_ident(t(i)) && t(i + 1) == "::" && (i == 0 || !matches!(t(i - 1), "::" | ".")) {
            let mut found = Vec::new();
            let next = parse_path(toks, i, Vec::new(), &mut found);
            for segs in found {
                let (inline, line) = (names(&inline), toks[i].line);
                out.paths.push(PathRef { inline, segs, line });
            }
            i = next;
            continue;
        }
        match (t(i), is_ident(t(i + 1)), t(i + 2)) {
            ("{", ..) => depth += 1,
            ("}", ..) => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
            }
            ("mod", true, ";") => out.mods.push((names(&inline), t(i + 1).to_string())),
            ("mod", true, "{") => inline.push((t(i + 1).to_string(), depth)),
            _ => {}
        }
        i += 1;
    }
    out
}

/// Expands the path at `toks[i]` into its leaves: `crate::{a::{b, c}, d}` gives
/// `crate::a::b`, `crate::a::c`, `crate::d`. Returns the index after the path.
fn parse_path(toks: &[Tok], mut i: usize, mut prefix: Segs, out: &mut Vec<Segs>) -> usize {
    let t = |i: usize| text(toks, i);
    while is_ident(t(i)) {
        prefix.push(t(i).to_string());
        if t(i + 1) != "::" {
            out.push(prefix);
            return i + 1;
        }
        i += 2;
    }
    if t(i) != "{" {
        out.push(prefix); // `crate::x::*` or `crate::f::<T>()`
        return if t(i) == "*" { i + 1 } else { i };
    }
    i += 1;
    while !matches!(t(i), "}" | "") {
        match t(i) {
            "self" | "*" if t(i + 1) != "::" => {
                out.push(prefix.clone());
                i += 1;
            }
            "as" => i += 2, // `x as alias`: the alias is no module
            s if is_ident(s) => i = parse_path(toks, i, prefix.clone(), out),
            _ => i += 1,
        }
    }
    i + 1
}

/// Absolute module path named by `segs` when used in module `cur`.
fn absolute(cur: &[String], segs: &[String]) -> Segs {
    let mut abs = cur.to_vec();
    for (k, seg) in segs.iter().enumerate() {
        match seg.as_str() {
            "crate" | "sls_secrets" if k == 0 => abs.clear(),
            "self" => {}
            "super" => drop(abs.pop()),
            _ => abs.push(seg.clone()),
        }
    }
    abs
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Krate {
    Lib,
    Bin,
}

struct ModFile {
    krate: Krate,
    module: Segs,
    rel: String,
    scan: Scan,
}

#[derive(Default)]
struct Tree {
    files: Vec<ModFile>,
    /// (crate, module path) -> file defining that module.
    map: BTreeMap<(Krate, Segs), String>,
}

/// Follows `mod x;` from src/lib.rs and src/main.rs to `x.rs` or `x/mod.rs`.
fn load_tree() -> Tree {
    let src = src_dir();
    let mut tree = Tree::default();
    let mut todo = vec![
        (Krate::Lib, vec![], src.join("lib.rs")),
        (Krate::Bin, vec![], src.join("main.rs")),
    ];
    while let Some((krate, module, path)) = todo.pop() {
        // a missing file (mid-refactor) is the compiler's to report; it stays a module node
        let scan = if path.is_file() {
            scan(&tokenize(&read(&path)))
        } else {
            Scan::default()
        };
        // children of a crate root or mod.rs sit beside it; children of foo.rs in foo/
        let dir = if module.is_empty() || path.ends_with("mod.rs") {
            path.parent().unwrap_or(&src).to_path_buf()
        } else {
            path.with_extension("")
        };
        for (inline, child) in &scan.mods {
            let base = inline.iter().fold(dir.clone(), |d, m| d.join(m));
            let options = [
                base.join(format!("{child}.rs")),
                base.join(child).join("mod.rs"),
            ];
            let file = options.iter().find(|p| p.is_file()).unwrap_or(&options[0]);
            let child = [module.clone(), inline.clone(), vec![child.clone()]].concat();
            todo.push((krate, child, file.clone()));
        }
        let rel = rel(&path);
        tree.map.insert((krate, module.clone()), rel.clone());
        tree.files.push(ModFile {
            krate,
            module,
            rel,
            scan,
        });
    }
    tree
}

/// Import edges (from file, to file), each with the first `file:line path` causing it.
fn import_edges(tree: &Tree) -> BTreeMap<(String, String), String> {
    let mut edges = BTreeMap::new();
    for f in &tree.files {
        for p in &f.scan.paths {
            let cur = [f.module.clone(), p.inline.clone()].concat();
            let first = p.segs[0].clone();
            let (krate, abs) = match (first.as_str(), f.krate) {
                ("sls_secrets", Krate::Bin) => (Krate::Lib, absolute(&cur, &p.segs)),
                ("sls_secrets", Krate::Lib) => continue, // not a path to this crate
                ("crate" | "super" | "self", _) => (f.krate, absolute(&cur, &p.segs)),
                // 2018 paths may start at a child module (`edit::plan()` in render/mod.rs);
                // the file's own module also counts, for `use super::*` in inline tests
                _ => {
                    let child = |m: &&Segs| {
                        let key = (f.krate, [m.to_vec(), vec![first.clone()]].concat());
                        tree.map.contains_key(&key)
                    };
                    match [&cur, &f.module].into_iter().find(child) {
                        Some(m) => (f.krate, [m.clone(), p.segs.clone()].concat()),
                        None => continue, // std::, an extern crate, a type or enum
                    }
                }
            };
            // the deepest module along the path that is a file (the crate root always is)
            let to = (0..=abs.len())
                .rev()
                .find_map(|n| tree.map.get(&(krate, abs[..n].to_vec())));
            if let Some(to) = to.filter(|&to| *to != f.rel) {
                let why = format!("{}:{} uses `{}`", f.rel, p.line, p.segs.join("::"));
                edges.entry((f.rel.clone(), to.clone())).or_insert(why);
            }
        }
    }
    edges
}

/// Breadth-first predecessors of every node reachable from `from` by at least one edge.
fn bfs<'a>(adj: &BTreeMap<&'a str, Vec<&'a str>>, from: &'a str) -> BTreeMap<&'a str, &'a str> {
    let (mut pred, mut queue) = (BTreeMap::new(), VecDeque::from([from]));
    while let Some(node) = queue.pop_front() {
        for &next in adj.get(node).into_iter().flatten() {
            if !pred.contains_key(next) {
                pred.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    pred
}

/// The shortest cycle through each file that is on one, without repeats.
fn find_cycles(edges: &BTreeMap<(String, String), String>) -> Vec<Segs> {
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        adj.entry(from.as_str()).or_default().push(to.as_str());
    }
    let mut cycles = BTreeSet::new();
    for &node in adj.keys() {
        let pred = bfs(&adj, node);
        let Some(&last) = pred.get(node) else {
            continue;
        };
        // walk the predecessors back to `node`, then turn the walk forwards
        let (mut cycle, mut cur) = (vec![node.to_string()], last);
        while cur != node {
            cycle.push(cur.to_string());
            cur = pred[cur];
        }
        cycle.reverse();
        // the same cycle found from another of its files is written the same way
        let start = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap_or(0);
        cycle.rotate_left(start);
        cycle.push(cycle[0].clone());
        cycles.insert(cycle);
    }
    cycles.into_iter().collect()
}

fn nesting(tok: &str) -> i32 {
    match tok {
        "(" | "[" | "{" => 1,
        ")" | "]" | "}" => -1,
        _ => 0,
    }
}

/// `(name, line of `fn`, line count)` of every `fn` item that has a body.
fn fn_lengths(toks: &[Tok]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for (i, tok) in toks.iter().enumerate() {
        let name = text(toks, i + 1);
        if tok.text != "fn" || !is_ident(name) {
            continue; // also skips `fn(u8) -> u8` pointer types
        }
        // the body is the first `{` outside (..) and [..]; a `;` first means no body
        let mut nest = 0;
        let open = toks[i..].iter().position(|t| {
            let top = nest == 0;
            nest += nesting(&t.text);
            top && (t.text == "{" || t.text == ";")
        });
        let Some(open) = open.map(|k| i + k).filter(|&k| toks[k].text == "{") else {
            continue;
        };
        let mut depth = 0;
        let close = toks[open..].iter().find(|t| {
            depth += nesting(&t.text);
            depth == 0
        });
        if let Some(close) = close {
            out.push((name.to_string(), tok.line, close.line - tok.line + 1));
        }
    }
    out
}

/// All `.rs` files under `dir`, recursively, sorted.
fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rs_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn no_import_cycles_between_source_files() {
    let edges = import_edges(&load_tree());
    let cycles = find_cycles(&edges);
    let report: Vec<String> = cycles
        .iter()
        .map(|c| {
            let hops = c
                .windows(2)
                .map(|w| format!("\n      {}", edges[&(w[0].clone(), w[1].clone())]));
            format!("  {}{}", c.join(" -> "), hops.collect::<String>())
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between source files (shortest cycle through each file on one):\n{}",
        report.join("\n")
    );
}

#[test]
fn library_never_imports_the_command_layer() {
    let tree = load_tree();
    let lib = tree.files.iter().filter(|f| f.krate == Krate::Lib);
    let bad: Vec<&str> = lib
        .map(|f| f.rel.as_str())
        .filter(|rel| rel.starts_with("src/commands/") || *rel == "src/cli.rs")
        .collect();
    assert!(
        bad.is_empty(),
        "src/lib.rs must export the library only, but its module tree contains command-layer \
         files (declare them from src/main.rs instead): {}",
        bad.join(", ")
    );
}

/// The top-level module a source file belongs to: `src/keys/age.rs` is `keys`, `src/config.rs`
/// is `config`; the crate roots and the binary's own files are `main`.
fn folder_of(rel: &str) -> String {
    let inner = rel.trim_start_matches("src/");
    match inner.split_once('/') {
        Some((folder, _)) => folder.to_string(),
        None if matches!(inner, "lib.rs" | "main.rs" | "cli.rs") => "main".to_string(),
        None => inner.trim_end_matches(".rs").to_string(),
    }
}

#[test]
fn no_import_cycles_between_folders() {
    // File-level cycles are caught above; two folders can still import each other through
    // different files (config -> keys -> config), which ties them into one layer.
    let edges = import_edges(&load_tree());
    let mut folder_edges = BTreeMap::new();
    for ((from, to), why) in &edges {
        let (a, b) = (folder_of(from), folder_of(to));
        if a != b && a != "main" && b != "main" {
            folder_edges.entry((a, b)).or_insert_with(|| why.clone());
        }
    }
    let cycles = find_cycles(&folder_edges);
    let report: Vec<String> = cycles
        .iter()
        .map(|c| {
            let hops = c
                .windows(2)
                .map(|w| format!("\n      {}", folder_edges[&(w[0].clone(), w[1].clone())]));
            format!("  {}{}", c.join(" -> "), hops.collect::<String>())
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}",
        report.join("\n")
    );
}

/// Functions over [`MAX_FN_LINES`] today, each with why it is still long. The list may only
/// shrink: a function over the cap that is not here fails the test, and so does an entry whose
/// function is gone or now short enough (remove the entry).
const LONG_FUNCTIONS: &[(&str, &str, &str)] = &[];

#[test]
fn no_long_functions_anywhere_in_src() {
    let mut long = Vec::new();
    let mut found = BTreeSet::new();
    for file in rs_files(&src_dir()) {
        let rel = rel(&file);
        for (name, line, len) in fn_lengths(&tokenize(&read(&file))) {
            if len <= MAX_FN_LINES {
                continue;
            }
            found.insert((rel.clone(), name.clone()));
            if !LONG_FUNCTIONS
                .iter()
                .any(|(f, n, _)| *f == rel && *n == name)
            {
                long.push(format!("  {rel}:{line} fn {name} ({len} lines)"));
            }
        }
    }
    let stale: Vec<String> = LONG_FUNCTIONS
        .iter()
        .filter(|(f, n, _)| !found.contains(&(f.to_string(), n.to_string())))
        .map(|(f, n, _)| format!("  {f} fn {n}"))
        .collect();
    assert!(
        long.is_empty(),
        "functions longer than {MAX_FN_LINES} lines (split them; the allowlist only shrinks):\n{}",
        long.join("\n")
    );
    assert!(
        stale.is_empty(),
        "allowlisted long functions that are gone or short now (remove them from LONG_FUNCTIONS):\n{}",
        stale.join("\n")
    );
}

#[test]
fn command_files_are_one_per_subcommand() {
    let dir = src_dir().join("commands");
    assert!(dir.is_dir(), "src/commands/ is missing");
    let mut missing = Vec::new();
    for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("mod.rs") {
            continue;
        }
        let toks: Vec<String> = tokenize(&read(&path)).into_iter().map(|t| t.text).collect();
        let code = toks.join(" ") + " ";
        if !code.contains("pub fn run ") && !code.contains("pub ( crate ) fn run ") {
            missing.push(rel(&path));
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "every command file needs its entry point `pub(crate) fn run`; missing in: {}",
        missing.join(", ")
    );
}

// Unit tests of the parser, on inline sources.

fn paths_of(src: &str) -> Vec<String> {
    scan(&tokenize(src))
        .paths
        .iter()
        .map(|p| p.segs.join("::"))
        .collect()
}

#[test]
fn parser_nested_use_groups() {
    let abcdef = ["crate::a::b", "crate::a::c", "crate::e", "crate::f"];
    assert_eq!(paths_of("use crate::{a::{b, c as d}, e, f::*};"), abcdef);
    let plan = ["super::Error", "super::edit::Plan"];
    assert_eq!(paths_of("use super::{Error, edit::Plan};"), plan);
    assert_eq!(
        paths_of("use crate::yaml::{self, X};"),
        ["crate::yaml", "crate::yaml::X"]
    );
}

#[test]
fn parser_ignores_strings_and_comments() {
    let src = r####"
        let a = r#"crate::raw "quoted" }"#; let b = r"crate::raw2"; let c = br##"crate::b"#"##;
        let d = "crate::esc \" crate::still {"; let e = b"crate::bytes";
        // crate::line
        /* crate::block /* nested crate::n */ still comment } */
        /// crate::doc
        crate::real::thing();
    "####;
    assert_eq!(paths_of(src), ["crate::real::thing"]);
}

#[test]
fn parser_lifetimes_are_not_chars() {
    let src = "fn f<'a>(x: &'a str) -> &'static str {\n let q = '\"'; let e = '\\''; \
               let n = '\\n';\n let u = '\\u{0}'; let b = '{';\n crate::ok::it()\n}";
    assert_eq!(paths_of(src), ["crate::ok::it"]);
    assert_eq!(fn_lengths(&tokenize(src)), [("f".to_string(), 1, 5)]);
}

#[test]
fn parser_inline_test_module_super_is_own_module() {
    let src = "use super::Up;\n#[cfg(test)]\nmod tests {\n use super::*;\n}\n\
               pub(crate) mod child;\nfn g() { self::child::h() }";
    let s = scan(&tokenize(src));
    assert_eq!(s.mods, [(vec![], "child".to_string())]);
    let file = vec!["render".to_string(), "edit".to_string()];
    let at = |p: &PathRef| absolute(&[file.clone(), p.inline.clone()].concat(), &p.segs).join("::");
    let resolved: Vec<String> = s.paths.iter().map(at).collect();
    assert_eq!(
        resolved,
        ["render::Up", "render::edit", "render::edit::child::h"]
    );
}

#[test]
fn parser_macro_argument_path() {
    let src = r#"format!("{} crate::no", crate::x::y(), v = sls_secrets::cli::Cli::parse());"#;
    assert_eq!(
        paths_of(src),
        ["crate::x::y", "sls_secrets::cli::Cli::parse"]
    );
}

#[test]
fn parser_relative_child_paths() {
    let src = "use check::RESERVED;\nfn f() { edit::plan(); x.collect::<Vec<_>>(); }";
    assert_eq!(paths_of(src), ["check::RESERVED", "edit::plan"]);
}

#[test]
fn parser_function_lengths_and_declarations() {
    let src = "trait T {\n fn decl(&self) -> [u8; 4];\n}\n\
               fn long(f: fn(u8) -> u8) {\n let s = \"}\";\n\n}\n";
    assert_eq!(fn_lengths(&tokenize(src)), [("long".to_string(), 4, 4)]);
}

#[test]
fn parser_finds_a_cycle() {
    let edge = |&(a, b): &(&str, &str)| ((a.to_string(), b.to_string()), String::new());
    let pairs = [
        ("a.rs", "b.rs"),
        ("b.rs", "c.rs"),
        ("c.rs", "a.rs"),
        ("c.rs", "d.rs"),
    ];
    let edges = pairs.iter().map(edge).collect();
    assert_eq!(find_cycles(&edges), [["a.rs", "b.rs", "c.rs", "a.rs"]]);
}
