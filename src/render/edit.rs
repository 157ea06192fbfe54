//! Splice planning and application: decide which mappings receive which secrets (provider
//! environment, shadowing function keys, or every function when the provider environment is a
//! variable string), turn that into byte-range edits against the original text, and apply them.
//!
//! Edits never touch bytes outside the value they replace or the lines they add. Inserted
//! text is kept as pieces so the same plan renders the real file and a masked copy.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;

use super::Error;
use super::quote::encode_key;
use super::tree::{Kind, NodeId, Tree};

/// A piece of inserted text: literal text, or the value of secret `i`.
#[derive(Clone)]
pub(crate) enum Piece {
    Lit(String),
    Value(usize),
}

pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    /// Nesting depth of the edited mapping: at one offset, inner edits go first (§6.4).
    pub depth: usize,
    pub new: Vec<Piece>,
    /// The old value's byte range when an existing value is replaced (masked in the diff).
    pub old_value: Option<(usize, usize)>,
}

/// Where a group of secrets goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    /// An existing mapping (already dereferenced).
    Map(NodeId),
    /// `key:` with a null value (empty, `~`, `null`) inside `parent`; `path` keys are created.
    Null {
        key: NodeId,
        value: NodeId,
        parent: NodeId,
    },
    /// A key missing from `parent` (`None`: empty document); `path` keys are created.
    Absent { parent: Option<NodeId> },
    /// `provider: aws`, the shorthand Serverless reads as `{name: aws}`: becomes a block
    /// mapping with `name:` (the same text) and the `path` keys.
    Shorthand {
        key: NodeId,
        value: NodeId,
        parent: NodeId,
    },
}

pub(crate) struct SlotPlan {
    pub slot: Slot,
    pub path: &'static [&'static str],
    pub keys: Vec<usize>,
    /// Function name when this slot is a function's environment.
    pub function: Option<String>,
}

/// Planned slots in planning order, deduplicated.
#[derive(Default)]
pub(crate) struct Plan {
    pub slots: Vec<SlotPlan>,
    index: HashMap<(Slot, usize), usize>,
    pub notes: Vec<String>,
    /// Whether the provider environment was a variable string (secrets go to functions).
    pub variable_env: bool,
}

impl Plan {
    fn add_all(&mut self, slot: Slot, path: &'static [&'static str], keys: &[usize]) {
        for &k in keys {
            self.add(slot, path, k, None);
        }
    }

    fn add(
        &mut self,
        slot: Slot,
        path: &'static [&'static str],
        key: usize,
        function: Option<&str>,
    ) {
        let id = (slot, path.len());
        let i = match self.index.get(&id) {
            Some(&i) => i,
            None => {
                self.slots.push(SlotPlan {
                    slot,
                    path,
                    keys: Vec::new(),
                    function: function.map(str::to_string),
                });
                self.index.insert(id, self.slots.len() - 1);
                self.slots.len() - 1
            }
        };
        if !self.slots[i].keys.contains(&key) {
            self.slots[i].keys.push(key);
        }
    }

    fn sets(&self, map: NodeId, key: usize) -> bool {
        self.index
            .get(&(Slot::Map(map), 0))
            .is_some_and(|&i| self.slots[i].keys.contains(&key))
    }
}

pub(crate) fn unsupported(tree: &Tree<'_>, node: NodeId, what: String, hint: &str) -> Error {
    let n = tree.node(node);
    Error::Unsupported {
        line: n.line(),
        col: n.col() + 1,
        what,
        hint: hint.to_string(),
    }
}

const ENV: &[&str] = &["environment"];
const PROVIDER_ENV: &[&str] = &["provider", "environment"];
const NONE: &[&str] = &[];

/// Functions as found in the file.
enum Functions {
    None,
    /// (name, dereferenced function mapping or `None` when it is not a mapping, key node)
    Map(Vec<(String, Option<NodeId>, NodeId)>),
    /// A list or a variable string: cannot be walked; node for messages.
    Opaque(NodeId, &'static str),
}

/// Plan where every secret goes. `names` are the secret names in stage-file order.
pub(crate) fn plan(tree: &Tree<'_>, names: &[&str], encoded: &[&str]) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    if names.is_empty() {
        // Nothing to place: no shape can be refused for it (found by the identity property).
        return Ok(plan);
    }
    let root = match tree.root.map(|r| (r, tree.deref(r))) {
        None => None,
        Some((_, r)) => match &tree.node(r).kind {
            Kind::Map { flow: false, .. } => Some(r),
            Kind::Map { flow: true, .. } => {
                return Err(unsupported(
                    tree,
                    r,
                    "the document is a flow mapping (`{...}`)".into(),
                    "write the top level as a block mapping (one key per line)",
                ));
            }
            Kind::Scalar { value, .. } if value.is_empty() && tree.node(r).tag.is_none() => None,
            _ => {
                return Err(unsupported(
                    tree,
                    r,
                    "the document is not a mapping".into(),
                    "serverless.yml must be a mapping with `service`, `provider`, `functions`",
                ));
            }
        },
    };
    let all: Vec<usize> = (0..names.len()).collect();

    // --- provider.environment
    let mut env_node_for_note = None;
    match root {
        None => {
            for &k in &all {
                plan.add(Slot::Absent { parent: None }, PROVIDER_ENV, k, None);
            }
        }
        Some(root) => match tree.lookup(root, "provider", 0) {
            None => {
                for &k in &all {
                    plan.add(Slot::Absent { parent: Some(root) }, PROVIDER_ENV, k, None);
                }
            }
            Some((holder, pkey, pval)) => {
                let p = tree.deref(pval);
                let pn = tree.node(p);
                if let Some((_, _, nv)) = tree.lookup(p, "name", 0)
                    && let Some(name) = tree.node(tree.deref(nv)).scalar()
                    && name != "aws"
                    && !name.contains("${")
                {
                    plan.notes.push(format!(
                        "provider.name is `{}`, not `aws`: the environment was edited with AWS Lambda semantics",
                        name.chars().take(40).collect::<String>()
                    ));
                }
                match &pn.kind {
                    Kind::Map { .. } => match tree.lookup(p, "environment", 0) {
                        None => {
                            for &k in &all {
                                plan.add(Slot::Absent { parent: Some(p) }, ENV, k, None);
                            }
                        }
                        Some((eholder, ekey, eval)) => {
                            let e = tree.deref(eval);
                            let en = tree.node(e);
                            match &en.kind {
                                Kind::Map { .. } => {
                                    for &k in &all {
                                        plan.add(Slot::Map(e), NONE, k, None);
                                    }
                                }
                                _ if en.is_null() => {
                                    null_slot_ok(tree, eval, e, "provider.environment")?;
                                    plan.add_all(
                                        Slot::Null {
                                            key: ekey,
                                            value: e,
                                            parent: eholder,
                                        },
                                        NONE,
                                        &all,
                                    );
                                }
                                Kind::Scalar { value, .. }
                                    if value.contains("${") && en.tag.is_none() =>
                                {
                                    plan.variable_env = true;
                                    env_node_for_note = Some(e);
                                }
                                _ => {
                                    return Err(unsupported(
                                        tree,
                                        e,
                                        "provider.environment is neither a mapping nor a `${...}` variable".into(),
                                        "make provider.environment a mapping of NAME: value",
                                    ));
                                }
                            }
                        }
                    },
                    _ if pn.is_null() => {
                        null_slot_ok(tree, pval, p, "provider")?;
                        plan.add_all(
                            Slot::Null {
                                key: pkey,
                                value: p,
                                parent: holder,
                            },
                            ENV,
                            &all,
                        );
                    }
                    Kind::Scalar { value, .. }
                        if shorthand_ok(tree, holder, pkey, pval, p) && !value.contains("${") =>
                    {
                        if value != "aws" {
                            plan.notes.push(format!(
                                "provider is `{}`, not `aws`: the environment was edited with AWS Lambda semantics",
                                value.chars().take(40).collect::<String>()
                            ));
                        }
                        plan.add_all(
                            Slot::Shorthand {
                                key: pkey,
                                value: p,
                                parent: holder,
                            },
                            ENV,
                            &all,
                        );
                    }
                    Kind::Scalar { value, .. } if value.contains("${") => {
                        return Err(unsupported(
                            tree,
                            p,
                            "`provider` is a variable; what it resolves to can't be edited here"
                                .into(),
                            "write `provider:` as a mapping; variables can stay inside it (e.g. `environment: ${file(env.yml)}`)",
                        ));
                    }
                    _ => {
                        return Err(unsupported(
                            tree,
                            p,
                            "`provider` is not a mapping".into(),
                            "write `provider:` as a mapping (`provider:\\n  name: aws`); secrets go into provider.environment",
                        ));
                    }
                }
            }
        },
    }

    // --- functions
    let functions = match root.and_then(|r| tree.lookup(r, "functions", 0)) {
        None => Functions::None,
        Some((_, _, fv)) => {
            let f = tree.deref(fv);
            let fnode = tree.node(f);
            match &fnode.kind {
                Kind::Map { .. } => {
                    let mut list = Vec::new();
                    for (name, k, v) in effective_entries(tree, f) {
                        let d = tree.deref(v);
                        let is_map = matches!(tree.node(d).kind, Kind::Map { .. });
                        list.push((name.into_owned(), is_map.then_some(d), k));
                    }
                    Functions::Map(list)
                }
                _ if fnode.is_null() => Functions::None,
                Kind::Seq { .. } => Functions::Opaque(f, "a list"),
                _ => Functions::Opaque(f, "a variable or scalar"),
            }
        }
    };

    if plan.variable_env {
        let env_node = env_node_for_note.unwrap_or(0);
        let fns = match &functions {
            Functions::Map(list) if !list.is_empty() => list,
            Functions::Opaque(n, how) => {
                return Err(unsupported(
                    tree,
                    *n,
                    format!("provider.environment is a variable string and `functions` is {how}"),
                    "secrets would have to go into every function's environment, which cannot be edited here; make provider.environment a mapping",
                ));
            }
            _ => {
                return Err(unsupported(
                    tree,
                    env_node,
                    "provider.environment is a variable string and there are no functions to receive the secrets".into(),
                    "make provider.environment a mapping, or merge the variable with `<<:`",
                ));
            }
        };
        for (name, fmap, knode) in fns {
            let Some(fmap) = *fmap else {
                return Err(unsupported(
                    tree,
                    *knode,
                    format!("function `{name}` is not a mapping"),
                    "define the function inline so its environment can receive the secrets",
                ));
            };
            match tree.lookup(fmap, "environment", 0) {
                None => {
                    for &k in &all {
                        plan.add(Slot::Absent { parent: Some(fmap) }, ENV, k, Some(name));
                    }
                }
                Some((holder, ekey, eval)) => {
                    let e = tree.deref(eval);
                    let en = tree.node(e);
                    match &en.kind {
                        Kind::Map { .. } => {
                            for &k in &all {
                                plan.add(Slot::Map(e), NONE, k, Some(name));
                            }
                        }
                        _ if en.is_null() => {
                            null_slot_ok(tree, eval, e, "a function environment")?;
                            for &k in &all {
                                let slot = Slot::Null {
                                    key: ekey,
                                    value: e,
                                    parent: holder,
                                };
                                plan.add(slot, NONE, k, Some(name));
                            }
                        }
                        _ => {
                            return Err(unsupported(
                                tree,
                                e,
                                format!("the environment of function `{name}` is not a mapping"),
                                "make it a mapping of NAME: value",
                            ));
                        }
                    }
                }
            }
        }
        let n = tree.node(env_node);
        plan.notes.push(format!(
            "provider.environment (line {}) is a variable string, so the secrets were written into the environment of every function ({})",
            n.line(),
            fns.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", ")
        ));
        return Ok(plan);
    }

    // Normal mode: override keys that a function's own environment would shadow.
    let name_index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    match &functions {
        Functions::None => {}
        Functions::Opaque(n, how) => {
            // Inline list items can still be inspected; a shadowing key there we cannot fix.
            if let Kind::Seq { items, .. } = &tree.node(*n).kind {
                for &item in items {
                    let item = tree.deref(item);
                    for (fname, _, fv) in effective_entries(tree, item) {
                        let fmap = tree.deref(fv);
                        if let Some((_, _, ev)) = tree.lookup(fmap, "environment", 0) {
                            let e = tree.deref(ev);
                            for (i, name) in names.iter().enumerate() {
                                if let Some((holder, _, v)) = tree.lookup(e, name, 0)
                                    && !plan.sets(holder, i)
                                    && !same_value(tree, v, encoded[i])
                                {
                                    return Err(unsupported(
                                        tree,
                                        v,
                                        format!(
                                            "function `{fname}` (in a `functions:` list) sets {name}, which would shadow the secret"
                                        ),
                                        "write `functions:` as a mapping, or remove the key from the function's environment",
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            let nn = tree.node(*n);
            plan.notes.push(format!(
                "`functions` (line {}) is {how}: function-level environments there were not checked for keys that would shadow the secrets",
                nn.line()
            ));
        }
        Functions::Map(list) => {
            for (fname, fmap, knode) in list {
                let Some(fmap) = *fmap else {
                    let kn = tree.node(*knode);
                    plan.notes.push(format!(
                        "function `{fname}` (line {}) is not a mapping; its environment was not checked for keys that would shadow the secrets",
                        kn.line()
                    ));
                    continue;
                };
                let Some((_, _, ev)) = tree.lookup(fmap, "environment", 0) else {
                    continue;
                };
                let e = tree.deref(ev);
                let en = tree.node(e);
                match &en.kind {
                    Kind::Map { entries, .. } => {
                        // Which secrets this environment sets. Without merge keys its entries
                        // are exactly what `lookup` searches, so look its few keys up among
                        // the names instead of every name among its keys.
                        let candidates: Vec<usize> =
                            if entries.iter().any(|&(k, _)| tree.is_merge_key(k)) {
                                (0..names.len()).collect()
                            } else {
                                let mut c: Vec<usize> = entries
                                    .iter()
                                    .filter_map(|&(k, _)| {
                                        tree.node(k).scalar().and_then(|s| name_index.get(s))
                                    })
                                    .copied()
                                    .collect();
                                c.sort_unstable();
                                c
                            };
                        for i in candidates {
                            if let Some((holder, _, v)) = tree.lookup(e, names[i], 0)
                                && !plan.sets(holder, i)
                                && !same_value(tree, v, encoded[i])
                            {
                                plan.add(Slot::Map(e), NONE, i, Some(fname));
                            }
                        }
                    }
                    _ if en.is_null() => {}
                    _ => {
                        plan.notes.push(format!(
                            "the environment of function `{fname}` (line {}) is not a mapping; it was not checked for keys that would shadow the secrets",
                            en.line()
                        ));
                    }
                }
            }
        }
    }
    Ok(plan)
}

/// `provider: aws` can be rewritten as a block mapping when it is a one-line scalar written
/// right after the colon of a block-mapping key, with no tag, anchor or alias involved.
fn shorthand_ok(tree: &Tree<'_>, holder: NodeId, key: NodeId, raw: NodeId, value: NodeId) -> bool {
    let n = tree.node(value);
    let src = tree.src.as_bytes();
    raw == value
        && n.tag.is_none()
        && n.anchor() == 0
        && matches!(tree.node(holder).kind, Kind::Map { flow: false, .. })
        && !src[n.start()..n.end()].contains(&b'\n')
        && tree
            .colon_after(key)
            .is_some_and(|(colon, _)| colon < n.start() && !src[colon..n.start()].contains(&b'\n'))
}

/// A null value can be filled in only when it is written directly (not an alias, no anchor):
/// otherwise filling it would change what other aliases see.
fn null_slot_ok(tree: &Tree<'_>, raw: NodeId, deref: NodeId, what: &str) -> Result<(), Error> {
    if raw != deref || tree.node(deref).anchor() != 0 {
        return Err(unsupported(
            tree,
            raw,
            format!("{what} is an anchored or aliased null value"),
            "write it as an empty mapping `{}` or remove the anchor/alias",
        ));
    }
    Ok(())
}

/// One effective entry: key text (borrowed from the tree for scalar keys), key node, value.
pub(crate) type Entry<'t> = (Cow<'t, str>, NodeId, NodeId);

/// Effective entries of a mapping: explicit keys, then merged keys not already present.
pub(crate) fn effective_entries<'t>(tree: &'t Tree<'_>, map: NodeId) -> Vec<Entry<'t>> {
    let mut out: Vec<Entry<'t>> = Vec::new();
    if let Kind::Map { entries, .. } = &tree.node(map).kind
        && !entries.iter().any(|&(k, _)| tree.is_merge_key(k))
    {
        // Common case: no merge keys, and duplicates were already rejected by the parser.
        out.extend(entries.iter().map(|&(k, v)| (key_repr(tree, k), k, v)));
        return out;
    }
    let mut seen = HashSet::default();
    let mut visited = HashSet::default();
    collect_entries(tree, map, &mut out, &mut seen, &mut visited, 0);
    out
}

fn collect_entries<'t>(
    tree: &'t Tree<'_>,
    map: NodeId,
    out: &mut Vec<Entry<'t>>,
    seen: &mut HashSet<Cow<'t, str>>,
    visited: &mut HashSet<NodeId>,
    depth: usize,
) {
    // A map merged twice adds nothing the first time did not (and re-walking it doubles the
    // work at every level of a `<<: [*a, *a]` chain).
    if depth > super::tree::MAX_DEPTH || !visited.insert(map) {
        return;
    }
    if let Kind::Map { entries, .. } = &tree.node(map).kind {
        for &(k, v) in entries {
            if tree.is_merge_key(k) {
                continue;
            }
            let key = key_repr(tree, k);
            if seen.insert(key.clone()) {
                out.push((key, k, v));
            }
        }
        for m in tree.merge_sources(map) {
            collect_entries(tree, m, out, seen, visited, depth + 1);
        }
    }
}

/// Scalar keys compare by value; anything else by its source text (rare, never edited).
pub(crate) fn key_repr<'t>(tree: &'t Tree<'_>, k: NodeId) -> Cow<'t, str> {
    let n = tree.node(k);
    match n.scalar() {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(format!("\u{0}{}", &tree.src[n.start()..n.end()])),
    }
}

/// Whether a value is already written exactly as we would write it.
fn same_value(tree: &Tree<'_>, v: NodeId, encoded: &str) -> bool {
    let n = tree.node(v);
    tree.src.get(n.start()..n.end()) == Some(encoded)
}

/// Position of the line break (CR of a CRLF) ending the line that holds `pos`, or EOF.
fn line_end(b: &[u8], pos: usize) -> usize {
    let i = b[pos.min(b.len())..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| pos + p);
    if i > pos && b[i - 1] == b'\r' {
        i - 1
    } else {
        i
    }
}

/// Position just after the line break of the line holding `pos`; `None` at EOF without one.
fn line_after(b: &[u8], pos: usize) -> Option<usize> {
    b[pos.min(b.len())..]
        .iter()
        .position(|&c| c == b'\n')
        .map(|p| pos + p + 1)
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

/// Block lines for `path` keys followed by the entries, starting at indentation `base`.
fn block_lines(
    base: usize,
    step: usize,
    path: &[&str],
    keys: &[usize],
    names: &[&str],
) -> Vec<Vec<Piece>> {
    let mut lines = Vec::new();
    let mut ind = base;
    for seg in path {
        lines.push(vec![Piece::Lit(format!("{}{seg}:", spaces(ind)))]);
        ind += step;
    }
    for &k in keys {
        lines.push(vec![
            Piece::Lit(format!("{}{}: ", spaces(ind), encode_key(names[k]))),
            Piece::Value(k),
        ]);
    }
    lines
}

/// `K: v, K2: v2` wrapped in `path: {...}` layers.
fn flow_text(path: &[&str], keys: &[usize], names: &[&str]) -> Vec<Piece> {
    let mut out = Vec::new();
    for seg in path {
        out.push(Piece::Lit(format!("{seg}: {{")));
    }
    for (i, &k) in keys.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        out.push(Piece::Lit(format!("{sep}{}: ", encode_key(names[k]))));
        out.push(Piece::Value(k));
    }
    for _ in path {
        out.push(Piece::Lit("}".into()));
    }
    out
}

/// Join lines for insertion at `pos` (after a line break) or at EOF without a final newline.
fn join_lines(lines: Vec<Vec<Piece>>, eol: &str, at_eof_without_newline: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        if at_eof_without_newline || i > 0 {
            out.push(Piece::Lit(eol.to_string()));
        }
        out.extend(line);
    }
    if !at_eof_without_newline {
        out.push(Piece::Lit(eol.to_string()));
    }
    out
}

/// Indentation step of the file (2 or 4 in practice): first nested block mapping's offset.
pub(crate) fn indent_step(tree: &Tree<'_>) -> usize {
    let Some(root) = tree.root.map(|r| tree.deref(r)) else {
        return 2;
    };
    let Some(base) = tree.key_col(root) else {
        return 2;
    };
    if let Kind::Map { entries, .. } = &tree.node(root).kind {
        for &(_, v) in entries {
            let v = tree.deref(v);
            if matches!(tree.node(v).kind, Kind::Map { flow: false, .. })
                && let Some(c) = tree.key_col(v)
                && c > base
                && c - base <= 8
            {
                return c - base;
            }
        }
    }
    2
}

/// Turn a plan into edits. Returns the edits and, per slot, the keys whose text changed.
pub(crate) fn edits(
    tree: &Tree<'_>,
    plan: &Plan,
    names: &[&str],
    encoded: &[&str],
) -> Result<(Vec<Edit>, Vec<Vec<usize>>), Error> {
    let b = tree.src.as_bytes();
    let eol = tree.eol;
    let step = indent_step(tree);
    let mut out = Vec::new();
    let mut changed = Vec::new();
    for sp in &plan.slots {
        let mut slot_changed = Vec::new();
        match sp.slot {
            Slot::Map(m) => {
                let node = tree.node(m);
                let flow = matches!(node.kind, Kind::Map { flow: true, .. });
                let mut missing = Vec::new();
                for &k in &sp.keys {
                    match tree.explicit(m, names[k]) {
                        Some((kn, vn)) => {
                            if let Some(e) = replace_value(tree, kn, vn, k, encoded[k])? {
                                out.push(e);
                                slot_changed.push(k);
                            }
                        }
                        None => missing.push(k),
                    }
                }
                if !missing.is_empty() {
                    slot_changed.extend(&missing);
                    let depth = node.depth() + 1;
                    if flow {
                        out.push(flow_append(tree, m, NONE, &missing, names, depth));
                    } else {
                        let base = tree.key_col(m).unwrap_or(0);
                        let lines = block_lines(base, step, NONE, &missing, names);
                        out.push(block_append(b, node.end(), lines, eol, depth));
                    }
                }
            }
            Slot::Null { key, value, parent } => {
                slot_changed.extend(&sp.keys);
                let pnode = tree.node(parent);
                let vnode = tree.node(value);
                let depth = pnode.depth() + 1;
                if matches!(pnode.kind, Kind::Map { flow: true, .. }) {
                    let mut new = vec![Piece::Lit("{".into())];
                    let inner = flow_text(sp.path, &sp.keys, names);
                    new.extend(inner);
                    new.push(Piece::Lit("}".into()));
                    let (start, end) = if vnode.start() == vnode.end() {
                        new.insert(0, Piece::Lit(" ".into()));
                        let (colon, _) = tree.colon_after(key).ok_or_else(|| {
                            unsupported(tree, key, "a key without `:`".into(), "write `KEY: value`")
                        })?;
                        (colon + 1, colon + 1)
                    } else {
                        (vnode.start(), vnode.end())
                    };
                    out.push(Edit {
                        start,
                        end,
                        depth,
                        new,
                        old_value: None,
                    });
                } else {
                    let base = tree.node(key).col() + step;
                    let lines = block_lines(base, step, sp.path, &sp.keys, names);
                    // Drop the null token; keep a trailing comment, but no dangling blanks.
                    let start = match tree.colon_after(key) {
                        Some((colon, _))
                            if colon < vnode.start() && !has_comment_after(tree, value) =>
                        {
                            colon + 1
                        }
                        _ => vnode.start(),
                    };
                    out.push(block_after_value(tree, start, value, lines, depth));
                }
            }
            Slot::Shorthand { key, value, parent } => {
                slot_changed.extend(&sp.keys);
                let vnode = tree.node(value);
                let base = tree.node(key).col() + step;
                let name = &tree.src[vnode.start()..vnode.end()];
                let mut lines = vec![vec![Piece::Lit(format!("{}name: {name}", spaces(base)))]];
                lines.extend(block_lines(base, step, sp.path, &sp.keys, names));
                let (colon, _) = tree.colon_after(key).ok_or_else(|| {
                    unsupported(tree, key, "a key without `:`".into(), "write `KEY: value`")
                })?;
                let depth = tree.node(parent).depth() + 1;
                out.push(block_after_value(tree, colon + 1, value, lines, depth));
            }
            Slot::Absent { parent: None } => {
                slot_changed.extend(&sp.keys);
                let lines = block_lines(0, step, sp.path, &sp.keys, names);
                let no_nl = !b.is_empty() && b[b.len() - 1] != b'\n';
                out.push(Edit {
                    start: b.len(),
                    end: b.len(),
                    depth: 0,
                    new: join_lines(lines, eol, no_nl),
                    old_value: None,
                });
            }
            Slot::Absent { parent: Some(p) } => {
                slot_changed.extend(&sp.keys);
                let node = tree.node(p);
                let depth = node.depth() + 1;
                if matches!(node.kind, Kind::Map { flow: true, .. }) {
                    out.push(flow_append(tree, p, sp.path, &sp.keys, names, depth));
                } else {
                    let base = tree.key_col(p).unwrap_or(0);
                    let lines = block_lines(base, step, sp.path, &sp.keys, names);
                    out.push(block_append(b, node.end(), lines, eol, depth));
                }
            }
        }
        changed.push(slot_changed);
    }
    // Sort by position; at one offset the innermost edit first, then planning order.
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|&x, &y| {
        let (a, c) = (&out[x], &out[y]);
        (a.start, a.end, std::cmp::Reverse(a.depth), x).cmp(&(
            c.start,
            c.end,
            std::cmp::Reverse(c.depth),
            y,
        ))
    });
    let mut sorted: Vec<Option<Edit>> = out.into_iter().map(Some).collect();
    let edits: Vec<Edit> = order.into_iter().filter_map(|i| sorted[i].take()).collect();
    for w in edits.windows(2) {
        if w[1].start < w[0].end {
            return Err(Error::Internal {
                message: format!(
                    "overlapping edits at bytes {}..{} and {}..{}",
                    w[0].start, w[0].end, w[1].start, w[1].end
                ),
            });
        }
    }
    Ok((edits, changed))
}

fn block_append(
    b: &[u8],
    content_end: usize,
    lines: Vec<Vec<Piece>>,
    eol: &str,
    depth: usize,
) -> Edit {
    let (pos, no_nl) = match line_after(b, content_end) {
        Some(p) => (p, false),
        None => (b.len(), true),
    };
    Edit {
        start: pos,
        end: pos,
        depth,
        new: join_lines(lines, eol, no_nl),
        old_value: None,
    }
}

fn flow_append(
    tree: &Tree<'_>,
    m: NodeId,
    path: &[&str],
    keys: &[usize],
    names: &[&str],
    depth: usize,
) -> Edit {
    let node = tree.node(m);
    let mut new = flow_text(path, keys, names);
    let pos = match &node.kind {
        Kind::Map { entries, .. } if !entries.is_empty() => {
            new.insert(0, Piece::Lit(", ".into()));
            let (_, v) = entries[entries.len() - 1];
            tree.node(v).end()
        }
        _ => node.start() + 1,
    };
    Edit {
        start: pos,
        end: pos,
        depth,
        new,
        old_value: None,
    }
}

/// Replace an existing value: only the value text (tag/anchor/header included); the key,
/// spacing and trailing comment stay. `None` when the value is already written that way.
fn replace_value(
    tree: &Tree<'_>,
    key: NodeId,
    value: NodeId,
    k: usize,
    encoded: &str,
) -> Result<Option<Edit>, Error> {
    let b = tree.src.as_bytes();
    let (colon, vstart) = tree.colon_after(key).ok_or_else(|| {
        unsupported(
            tree,
            key,
            "an environment key without `:`".into(),
            "write the entry as `KEY: value`",
        )
    })?;
    let vn = tree.node(value);
    let depth = vn.depth();
    if vn.is_empty_plain() {
        return Ok(Some(Edit {
            start: colon + 1,
            end: colon + 1,
            depth,
            new: vec![Piece::Lit(" ".into()), Piece::Value(k)],
            old_value: None,
        }));
    }
    if vstart > vn.start() || vn.end() < vstart {
        return Err(Error::Internal {
            message: format!(
                "value span of the entry at line {} is inconsistent",
                vn.line()
            ),
        });
    }
    let same_line = !b[colon..vstart].contains(&b'\n');
    if same_line {
        if &tree.src[vstart..vn.end()] == encoded {
            return Ok(None);
        }
        return Ok(Some(Edit {
            start: vstart,
            end: vn.end(),
            depth,
            new: vec![Piece::Value(k)],
            old_value: Some((vstart, vn.end())),
        }));
    }
    // Value on a later line (block mapping, `KEY:\n  value`): join it onto the key's line,
    // keeping a comment that followed the `:`.
    let le = line_end(b, colon + 1);
    let tail = &tree.src[colon + 1..le];
    let keep = if tail.trim().is_empty() { "" } else { tail };
    Ok(Some(Edit {
        start: colon + 1,
        end: vn.end(),
        depth,
        new: vec![
            Piece::Lit(" ".into()),
            Piece::Value(k),
            Piece::Lit(keep.to_string()),
        ],
        old_value: Some((vstart, vn.end())),
    }))
}

/// Whether anything but blanks follows `value` on its line (a comment).
fn has_comment_after(tree: &Tree<'_>, value: NodeId) -> bool {
    let end = tree.node(value).end();
    !tree.src[end..line_end(tree.src.as_bytes(), end)]
        .trim()
        .is_empty()
}

/// Replaces `start..` the end of `value`'s line with block `lines` below it, keeping a comment
/// that followed the value.
fn block_after_value(
    tree: &Tree<'_>,
    start: usize,
    value: NodeId,
    lines: Vec<Vec<Piece>>,
    depth: usize,
) -> Edit {
    let end = tree.node(value).end();
    let le = line_end(tree.src.as_bytes(), end);
    let keep = if has_comment_after(tree, value) {
        &tree.src[end..le]
    } else {
        ""
    };
    let mut new = vec![Piece::Lit(keep.to_string())];
    new.extend(join_lines(lines, tree.eol, true));
    Edit {
        start,
        end: le,
        depth,
        new,
        old_value: None,
    }
}

/// Apply sorted, non-overlapping edits; `value(i)` gives the text for secret `i`.
pub(crate) fn apply<'v>(src: &str, edits: &[Edit], value: impl Fn(usize) -> &'v str) -> String {
    splice(src, edits.iter(), value)
}

fn splice<'e, 'v>(
    src: &str,
    edits: impl Iterator<Item = &'e Edit> + Clone,
    value: impl Fn(usize) -> &'v str,
) -> String {
    let extra: usize = edits
        .clone()
        .map(|e| {
            e.new
                .iter()
                .map(|p| match p {
                    Piece::Lit(s) => s.len(),
                    Piece::Value(i) => value(*i).len(),
                })
                .sum::<usize>()
        })
        .sum();
    let mut out = String::with_capacity(src.len() + extra);
    let mut pos = 0;
    for e in edits {
        out.push_str(&src[pos..e.start]);
        for p in &e.new {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Value(i) => out.push_str(value(*i)),
            }
        }
        pos = e.end;
    }
    out.push_str(&src[pos..]);
    out
}

/// The original with every replaced old value, and every span in `masks`, written as `mask`
/// (old values may be secrets from an earlier render).
pub(crate) fn mask_original(
    src: &str,
    edits: &[Edit],
    masks: &[(usize, usize)],
    mask: &str,
) -> String {
    let mut spans: Vec<(usize, usize)> = edits
        .iter()
        .filter_map(|e| e.old_value)
        .chain(masks.iter().copied())
        .collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(src.len());
    let mut pos = 0;
    for (s, t) in spans {
        if s < pos {
            // Inside a span already masked (a replaced value is also a secret span).
            continue;
        }
        out.push_str(&src[pos..s]);
        out.push_str(mask);
        pos = t;
    }
    out.push_str(&src[pos..]);
    out
}

/// The output with every secret written as `masked_value` and every span in `masks` that no
/// edit replaces written as `mask`, so lines the render leaves alone read the same as in
/// [`mask_original`].
pub(crate) fn mask_output(
    src: &str,
    edits: &[Edit],
    masks: &[(usize, usize)],
    masked_value: &str,
    mask: &str,
) -> String {
    // Edits are sorted and disjoint: only the last one starting before `t` can reach past `s`.
    let overlaps = |&(s, t): &(usize, usize)| {
        let before = edits.partition_point(|e| e.start < t);
        before > 0 && edits[before - 1].end > s
    };
    let extra: Vec<Edit> = masks
        .iter()
        .filter(|m| !overlaps(m))
        .map(|&(s, t)| Edit {
            start: s,
            end: t,
            depth: 0,
            new: vec![Piece::Lit(mask.to_string())],
            old_value: None,
        })
        .collect();
    if extra.is_empty() {
        return apply(src, edits, |_| masked_value);
    }
    let mut all: Vec<&Edit> = edits.iter().chain(extra.iter()).collect();
    // Stable: at one offset a zero-width insert (from `edits`) stays before a mask starting there.
    all.sort_by_key(|e| e.start);
    splice(src, all.into_iter(), |_| masked_value)
}
