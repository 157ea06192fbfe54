//! Safety checks around an edit:
//! - before: an edited mapping shared through anchors/aliases/merge keys must only be seen at
//!   environment paths, and replaced values must not define anchors used elsewhere;
//! - after: the re-parsed output, with aliases and merge keys resolved, must equal the original
//!   except for the intended environment entries, each of which must be exactly the secret;
//! - the merged environment of every function: key names, reserved names, the 4 KB limit.

use std::borrow::Cow;
// Keys come from the user's own files: a fast hash matters more than flood resistance here.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use saphyr_parser::ScalarStyle;

use super::error::{Error, unsupported};
use super::overlay::Overlay;
use super::plan::{Plan, Slot};
use super::splice::Edit;
use super::tree::{Children, Entry, Kind, MAX_DEPTH, NodeId, Tree, effective_entries, key_repr};

/// Upper bound on nodes visited while resolving aliases (guards against alias bombs).
const BUDGET: usize = 4_000_000;

fn budget_error() -> Error {
    Error::Unsupported {
        line: 1,
        col: 1,
        what: format!("the document expands to more than {BUDGET} nodes through aliases"),
        hint: "reduce alias nesting (a \"billion laughs\" style file cannot be checked safely)"
            .into(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    Root,
    Provider,
    Functions,
    Function,
    ProviderEnv,
    FunctionEnv,
    Other,
}

fn child_ctx(ctx: Ctx, key: &str) -> Ctx {
    match (ctx, key) {
        (Ctx::Root, "provider") => Ctx::Provider,
        (Ctx::Root, "functions") => Ctx::Functions,
        (Ctx::Provider, "environment") => Ctx::ProviderEnv,
        (Ctx::Functions, _) => Ctx::Function,
        (Ctx::Function, "environment") => Ctx::FunctionEnv,
        _ => Ctx::Other,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// An environment mapping we add keys to.
    Env,
    /// A provider/function mapping that gains an `environment` key.
    Holder,
}

/// Refuse edits whose effect would leak to other places through anchors; return notes for
/// environment mappings that are shared between several environments.
pub(crate) fn check_sharing(
    tree: &Tree<'_>,
    plan: &Plan,
    edits: &[Edit],
) -> Result<Vec<String>, Error> {
    if !tree.has_alias {
        return Ok(Vec::new());
    }
    let targets: HashSet<NodeId> = tree
        .nodes
        .iter()
        .filter_map(|n| match n.kind {
            Kind::Alias { target } => Some(target),
            _ => None,
        })
        .collect();
    // A replaced value that defines an anchor used by an alias would break that alias.
    for e in edits {
        if let Some((s, t)) = e.old_value {
            for &id in &targets {
                let n = tree.node(id);
                if n.start() >= s && n.start() < t {
                    return Err(unsupported(
                        tree,
                        id,
                        "a value to be replaced defines an anchor that is used elsewhere".into(),
                        "move the anchor to another node, or stop reusing this value",
                    ));
                }
            }
        }
    }
    let mut watch: HashMap<NodeId, Need> = HashMap::default();
    for sp in &plan.slots {
        match sp.slot {
            Slot::Map(m) => {
                watch.insert(m, Need::Env);
            }
            Slot::Null { parent, .. }
            | Slot::Shorthand { parent, .. }
            | Slot::Absent {
                parent: Some(parent),
            } => {
                watch.insert(parent, Need::Holder);
            }
            Slot::Absent { parent: None } => {}
        }
    }
    let mut seen: HashMap<NodeId, Vec<String>> = HashMap::default();
    let mut budget = BUDGET;
    let mut path = Vec::new();
    if let Some(root) = tree.root {
        walk(
            tree,
            root,
            Ctx::Root,
            &mut path,
            &watch,
            &mut seen,
            &mut budget,
            0,
        )?;
    }
    let mut notes = Vec::new();
    let mut shared: Vec<_> = seen.into_iter().filter(|(_, p)| p.len() > 1).collect();
    shared.sort();
    for (id, paths) in shared {
        if watch.get(&id) == Some(&Need::Env) {
            notes.push(format!(
                "the environment mapping at line {} is shared through an anchor; the secrets appear at {}",
                tree.node(id).line(),
                paths.join(", ")
            ));
        }
    }
    Ok(notes)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    tree: &Tree<'_>,
    id: NodeId,
    ctx: Ctx,
    path: &mut Vec<String>,
    watch: &HashMap<NodeId, Need>,
    seen: &mut HashMap<NodeId, Vec<String>>,
    budget: &mut usize,
    depth: usize,
) -> Result<(), Error> {
    *budget = budget.checked_sub(1).ok_or_else(budget_error)?;
    if depth > MAX_DEPTH * 4 {
        return Err(budget_error());
    }
    let id = tree.deref(id);
    if let Some(&need) = watch.get(&id) {
        let ok = match need {
            Need::Env => matches!(ctx, Ctx::ProviderEnv | Ctx::FunctionEnv),
            Need::Holder => matches!(ctx, Ctx::Provider | Ctx::Function | Ctx::Root),
        };
        let shown = if path.is_empty() {
            "the top level".to_string()
        } else {
            path.join(".")
        };
        if !ok {
            return Err(unsupported(
                tree,
                id,
                format!(
                    "this mapping is edited but is also used at `{shown}` through an anchor/alias"
                ),
                "editing it would change that place too; give the environment its own mapping (e.g. `<<: *anchor` plus the keys) instead of sharing it",
            ));
        }
        seen.entry(id).or_default().push(shown);
    }
    match &tree.node(id).kind {
        Kind::Map { entries, .. } => {
            for &(k, v) in tree.pairs(*entries) {
                if tree.is_merge_key(k) {
                    for m in tree.merge_sources(id) {
                        walk(tree, m, ctx, path, watch, seen, budget, depth + 1)?;
                    }
                    continue;
                }
                let key = tree.node(k).scalar().unwrap_or("?").to_string();
                if tree.node(k).scalar().is_none() {
                    // A collection or alias as a key: an edited mapping inside it would change
                    // the key (found by fuzzing, run 21: `? vars: &vars` and `environment:
                    // *vars`).
                    path.push(format!("{key} (a key)"));
                    walk(tree, k, Ctx::Other, path, watch, seen, budget, depth + 1)?;
                    path.pop();
                }
                let c = child_ctx(ctx, &key);
                path.push(key);
                walk(tree, v, c, path, watch, seen, budget, depth + 1)?;
                path.pop();
            }
        }
        Kind::Seq { items, .. } => {
            for (i, &it) in tree.list(*items).iter().enumerate() {
                path.push(format!("[{i}]"));
                walk(tree, it, Ctx::Other, path, watch, seen, budget, depth + 1)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// What the output must contain.
pub(crate) struct Expect<'x> {
    pub names: &'x [&'x str],
    /// YAML string each secret must resolve to (after v3 escaping, before YAML quoting).
    pub yaml_values: &'x [&'x str],
    /// Every key must be present in provider.environment (normal mode) or in every
    /// function's environment (variable-string provider environment).
    pub variable_env: bool,
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
struct Cmp<'a, 'b, 'x> {
    a: &'a Tree<'a>,
    b: &'b Tree<'b>,
    exp: &'x Expect<'x>,
    /// Secret name → index in `exp.names`.
    name_index: HashMap<&'x str, usize>,
    budget: usize,
}

/// Key lookup over one mapping's effective entries: a scan for the usual handful of keys, a
/// hash map for large mappings (no allocation at all in the common case).
#[cfg_attr(not(debug_assertions), allow(dead_code))]
struct Keys<'e> {
    entries: &'e [Entry<'e>],
    /// Key → (key node, value).
    hash: Option<HashMap<&'e str, (NodeId, NodeId)>>,
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
impl<'e> Keys<'e> {
    fn new(entries: &'e [Entry<'e>]) -> Self {
        let hash = (entries.len() > 16).then(|| {
            let mut m = HashMap::default();
            for (k, kn, v) in entries {
                m.entry(&**k).or_insert((*kn, *v));
            }
            m
        });
        Keys { entries, hash }
    }

    /// The first entry with this key: its key node and value.
    fn find(&self, key: &str) -> Option<(NodeId, NodeId)> {
        match &self.hash {
            None => self
                .entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|e| (e.1, e.2)),
            Some(m) => m.get(key).copied(),
        }
    }

    /// The value of the first entry with this key.
    fn get(&self, key: &str) -> Option<NodeId> {
        self.find(key).map(|(_, v)| v)
    }

    /// The entry that pairs with `from[i]`: its key node and value. A scalar key pairs with
    /// the same key. Non-scalar keys pair by their order among the mapping's non-scalar
    /// keys, which a render never adds, removes or moves; their text cannot pair them: two
    /// may be equal (`[]: a` and `[]: b`, found by fuzzing, run 19), and a collection's text
    /// runs to the next token, which the render may have written (run 23). The caller
    /// compares the two keys' structure.
    fn pair(&self, from: &[Entry<'_>], i: usize) -> Option<(NodeId, NodeId)> {
        let key = &*from[i].0;
        if !is_node_key(key) {
            return self.find(key);
        }
        let nth = from[..i].iter().filter(|e| is_node_key(&e.0)).count();
        let mut keys = self.entries.iter().filter(|e| is_node_key(&e.0));
        keys.nth(nth).map(|e| (e.1, e.2))
    }
}

/// A key that is not a scalar: [`key_repr`] marks its text with a leading NUL.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn is_node_key(key: &str) -> bool {
    key.starts_with('\0')
}

/// One step of the path being compared, resolved to text only for an error message.
#[derive(Clone, Copy)]
#[cfg_attr(not(debug_assertions), allow(dead_code))]
enum Seg {
    /// A key node of the original.
    A(NodeId),
    /// A key node of the output.
    B(NodeId),
    /// A sequence index.
    Item(usize),
    /// A secret's name.
    Name(usize),
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
enum Mismatch {
    At(String),
    Budget,
}

/// Compare original and output with aliases and merge keys resolved.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub(crate) fn verify(a: &Tree<'_>, b: &Tree<'_>, exp: &Expect<'_>) -> Result<(), Error> {
    let mut c = Cmp {
        a,
        b,
        exp,
        name_index: exp.names.iter().enumerate().map(|(i, n)| (*n, i)).collect(),
        budget: BUDGET,
    };
    let mut path = Vec::new();
    match c.node(a.root, b.root, Ctx::Root, &mut path, 0) {
        Ok(()) => Ok(()),
        Err(Mismatch::Budget) => Err(budget_error()),
        Err(Mismatch::At(msg)) => Err(Error::Internal {
            message: format!("the edited file does not re-parse to the intended change: {msg}"),
        }),
    }
}

#[cfg_attr(not(debug_assertions), allow(dead_code))]
impl Cmp<'_, '_, '_> {
    fn tick(&mut self) -> Result<(), Mismatch> {
        self.budget = self.budget.checked_sub(1).ok_or(Mismatch::Budget)?;
        Ok(())
    }

    /// The path is rendered only here, on failure: the walk itself allocates nothing per node.
    fn fail(&self, path: &[Seg], what: &str) -> Mismatch {
        let parts: Vec<String> = path
            .iter()
            .map(|s| match *s {
                Seg::A(k) => key_repr(self.a, k).into_owned(),
                Seg::B(k) => key_repr(self.b, k).into_owned(),
                Seg::Item(i) => format!("[{i}]"),
                Seg::Name(i) => self.exp.names[i].to_string(),
            })
            .collect();
        Mismatch::At(format!("{what} at `{}`", parts.join(".")))
    }

    fn node(
        &mut self,
        a: Option<NodeId>,
        b: Option<NodeId>,
        ctx: Ctx,
        path: &mut Vec<Seg>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        self.tick()?;
        if depth > MAX_DEPTH * 4 {
            return Err(Mismatch::Budget);
        }
        let a = a.map(|x| self.a.deref(x));
        let b = b.map(|x| self.b.deref(x));
        let a_null = a.is_none_or(|x| self.a.node(x).is_null());
        let b_null = b.is_none_or(|x| self.b.node(x).is_null());
        let a_map = a.filter(|&x| matches!(self.a.node(x).kind, Kind::Map { .. }));
        let b_map = b.filter(|&x| matches!(self.b.node(x).kind, Kind::Map { .. }));
        match ctx {
            Ctx::Root | Ctx::Provider | Ctx::Function | Ctx::ProviderEnv | Ctx::FunctionEnv
                if (a_null || a_map.is_some()) && (b_null || b_map.is_some()) =>
            {
                if a_null && b_null && a.is_some() == b.is_some() {
                    // Identical nulls; an env still has to receive required keys.
                    if !self.required(ctx) {
                        return self.same(a, b, path, depth);
                    }
                }
                let ea = a_map
                    .map(|m| effective_entries(self.a, m))
                    .unwrap_or_default();
                let eb = b_map
                    .map(|m| effective_entries(self.b, m))
                    .unwrap_or_default();
                if matches!(ctx, Ctx::ProviderEnv | Ctx::FunctionEnv) {
                    return self.env(&ea, &eb, ctx, path, depth);
                }
                let mb = Keys::new(&eb);
                let ma = Keys::new(&ea);
                for (i, (k, kn, v)) in ea.iter().enumerate() {
                    path.push(Seg::A(*kn));
                    let c = child_ctx(ctx, k);
                    match mb.pair(&ea, i) {
                        Some((kb, w)) => {
                            self.same_key(*kn, kb, path, depth)?;
                            self.node(Some(*v), Some(w), c, path, depth + 1)?;
                        }
                        None => return Err(self.fail(path, "entry missing in the output")),
                    }
                    path.pop();
                }
                for (i, (k, kn, w)) in eb.iter().enumerate() {
                    if ma.pair(&eb, i).is_some() {
                        continue;
                    }
                    path.push(Seg::B(*kn));
                    let c = child_ctx(ctx, k);
                    let creatable = matches!(
                        (ctx, c),
                        (Ctx::Root, Ctx::Provider)
                            | (Ctx::Provider, Ctx::ProviderEnv)
                            | (Ctx::Function, Ctx::FunctionEnv)
                    );
                    if !creatable {
                        return Err(self.fail(path, "unexpected new entry"));
                    }
                    self.node(None, Some(*w), c, path, depth + 1)?;
                    path.pop();
                }
                // The environment that must receive the secrets has to exist in the output:
                // the walk above only checks environments present on either side (found by
                // fuzzing: an insert that landed inside a comment verified as "unchanged").
                let holds = match ctx {
                    Ctx::Root if !self.exp.variable_env => Some("provider"),
                    Ctx::Provider if !self.exp.variable_env => Some("environment"),
                    Ctx::Function if self.exp.variable_env => Some("environment"),
                    _ => None,
                };
                if let Some(key) = holds
                    && !self.exp.names.is_empty()
                    && mb.get(key).is_none()
                {
                    return Err(
                        self.fail(path, &format!("`{key}` missing: secret entries missing"))
                    );
                }
                Ok(())
            }
            Ctx::Provider
                if !self.exp.variable_env
                    && let (Some(x), Some(m)) = (a, b_map)
                    && matches!(self.a.node(x).kind, Kind::Scalar { .. })
                    && !self.a.node(x).is_null()
                    && !self.a.node(x).has_tag() =>
            {
                // `provider: aws` written out as `name: aws` plus the environment.
                let eb = effective_entries(self.b, m);
                let mut name = false;
                let mut env = None;
                for (k, kn, w) in &eb {
                    path.push(Seg::B(*kn));
                    match &**k {
                        "name" => {
                            self.same(Some(x), Some(*w), path, depth + 1)?;
                            name = true;
                        }
                        "environment" => env = Some((*kn, *w)),
                        _ => return Err(self.fail(path, "unexpected new entry")),
                    }
                    path.pop();
                }
                if !name {
                    return Err(self.fail(path, "`name` missing from the expanded provider"));
                }
                match env {
                    Some((kn, w)) => {
                        path.push(Seg::B(kn));
                        self.node(None, Some(w), Ctx::ProviderEnv, path, depth + 1)?;
                        path.pop();
                        Ok(())
                    }
                    None => self.node(None, None, Ctx::ProviderEnv, path, depth + 1),
                }
            }
            Ctx::Functions => match (a_map, b_map) {
                (Some(fa), Some(fb)) => {
                    let ea = effective_entries(self.a, fa);
                    let eb = effective_entries(self.b, fb);
                    if ea.len() != eb.len() {
                        return Err(self.fail(path, "different number of functions"));
                    }
                    for ((ka, kn, va), (kb, knb, vb)) in ea.iter().zip(eb.iter()) {
                        // Non-scalar names compare by structure: their text runs to the next
                        // token, which the render may have written.
                        if is_node_key(ka) != is_node_key(kb) || !is_node_key(ka) && ka != kb {
                            return Err(self.fail(path, "function names differ"));
                        }
                        self.same_key(*kn, *knb, path, depth)?;
                        path.push(Seg::A(*kn));
                        self.node(Some(*va), Some(*vb), Ctx::Function, path, depth + 1)?;
                        path.pop();
                    }
                    Ok(())
                }
                _ => self.same(a, b, path, depth),
            },
            _ => self.same(a, b, path, depth),
        }
    }

    fn required(&self, ctx: Ctx) -> bool {
        match ctx {
            Ctx::ProviderEnv => !self.exp.variable_env,
            Ctx::FunctionEnv => self.exp.variable_env,
            _ => false,
        }
    }

    fn env(
        &mut self,
        ea: &[Entry<'_>],
        eb: &[Entry<'_>],
        ctx: Ctx,
        path: &mut Vec<Seg>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        let mb = Keys::new(eb);
        let ma = Keys::new(ea);
        // Driven by the environment's own entries (a few) rather than by every secret name,
        // so checking 2,000 function environments against 200 secrets stays linear.
        if self.required(ctx) {
            for (i, name) in self.exp.names.iter().enumerate() {
                if mb.get(name).is_none() {
                    path.push(Seg::Name(i));
                    return Err(self.fail(path, "secret entry missing"));
                }
            }
        }
        for (k, _, w) in eb {
            let Some(&i) = self.name_index.get(&**k) else {
                continue;
            };
            let n = self.b.node(*w);
            let ok = matches!(&n.kind, Kind::Scalar { value } if value == self.exp.yaml_values[i])
                && n.style == ScalarStyle::DoubleQuoted
                && !n.has_tag();
            if !ok {
                path.push(Seg::Name(i));
                return Err(self.fail(path, "secret entry does not resolve to the secret"));
            }
        }
        for (j, (k, kn, v)) in ea.iter().enumerate() {
            if let Some(&i) = self.name_index.get(&**k) {
                if mb.get(k).is_none() {
                    path.push(Seg::Name(i));
                    return Err(self.fail(path, "entry removed from the environment"));
                }
                continue;
            }
            path.push(Seg::A(*kn));
            let Some((kb, w)) = mb.pair(ea, j) else {
                return Err(self.fail(path, "entry missing in the output"));
            };
            self.same_key(*kn, kb, path, depth)?;
            self.node(Some(*v), Some(w), Ctx::Other, path, depth + 1)?;
            path.pop();
        }
        for (j, (k, kn, _)) in eb.iter().enumerate() {
            if ma.pair(eb, j).is_none() && !self.name_index.contains_key(&**k) {
                path.push(Seg::B(*kn));
                return Err(self.fail(path, "unexpected new entry"));
            }
        }
        Ok(())
    }

    /// Paired keys: equal scalars already (they paired by value); a non-scalar key must have
    /// the same structure on both sides.
    fn same_key(
        &mut self,
        ka: NodeId,
        kb: NodeId,
        path: &mut Vec<Seg>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        match (self.a.node(ka).scalar(), self.b.node(kb).scalar()) {
            // Paired by value, unless the value begins with the NUL that marks a non-scalar
            // key's text: compare them anyway.
            (Some(x), Some(y)) if x == y => Ok(()),
            _ => self.same(Some(ka), Some(kb), path, depth + 1),
        }
    }

    /// Same keys in the same order on both sides, and no merge keys.
    fn same_plain_keys(&self, a: Children, b: Children) -> bool {
        let (a, b) = (self.a.pairs(a), self.b.pairs(b));
        a.len() == b.len()
            && a.iter().zip(b).all(|(&(ka, _), &(kb, _))| {
                !self.a.is_merge_key(ka)
                    && !self.b.is_merge_key(kb)
                    && key_repr(self.a, ka) == key_repr(self.b, kb)
            })
    }

    /// Structural equality (after resolving aliases and merges).
    fn same(
        &mut self,
        a: Option<NodeId>,
        b: Option<NodeId>,
        path: &mut Vec<Seg>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        self.tick()?;
        if depth > MAX_DEPTH * 4 {
            return Err(Mismatch::Budget);
        }
        let (a, b) = match (a, b) {
            (None, None) => return Ok(()),
            (Some(a), Some(b)) => (self.a.deref(a), self.b.deref(b)),
            _ => return Err(self.fail(path, "entry present on one side only")),
        };
        let (na, nb) = (self.a.node(a), self.b.node(b));
        if self.a.tag(a) != self.b.tag(b) {
            return Err(self.fail(path, "tag differs"));
        }
        match (&na.kind, &nb.kind) {
            (Kind::Scalar { value: va }, Kind::Scalar { value: vb }) => {
                let plain_a = na.style == ScalarStyle::Plain;
                let plain_b = nb.style == ScalarStyle::Plain;
                if va != vb || plain_a != plain_b {
                    return Err(self.fail(path, "value differs"));
                }
                Ok(())
            }
            (Kind::Map { entries: xa, .. }, Kind::Map { entries: xb, .. })
                if self.same_plain_keys(*xa, *xb) =>
            {
                // Same keys in the same order and no merge keys (nearly every mapping outside
                // the environments): pairwise, without collecting effective entries.
                for (&(kn, v), &(_, w)) in self.a.pairs(*xa).iter().zip(self.b.pairs(*xb)) {
                    path.push(Seg::A(kn));
                    self.same(Some(v), Some(w), path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            (Kind::Map { .. }, Kind::Map { .. }) => {
                let ea = effective_entries(self.a, a);
                let eb = effective_entries(self.b, b);
                if ea.len() != eb.len() {
                    return Err(self.fail(path, "mapping size differs"));
                }
                if ea.iter().zip(eb.iter()).all(|(x, y)| x.0 == y.0) {
                    // Untouched mappings keep their key order: compare pairwise.
                    for ((_, kn, v), (_, _, w)) in ea.iter().zip(eb.iter()) {
                        path.push(Seg::A(*kn));
                        self.same(Some(*v), Some(*w), path, depth + 1)?;
                        path.pop();
                    }
                    return Ok(());
                }
                let mb = Keys::new(&eb);
                for (i, (_, kn, v)) in ea.iter().enumerate() {
                    path.push(Seg::A(*kn));
                    let Some((kb, w)) = mb.pair(&ea, i) else {
                        return Err(self.fail(path, "key missing"));
                    };
                    self.same_key(*kn, kb, path, depth)?;
                    self.same(Some(*v), Some(w), path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            (Kind::Seq { items: ia, .. }, Kind::Seq { items: ib, .. }) => {
                let (ia, ib) = (self.a.list(*ia), self.b.list(*ib));
                if ia.len() != ib.len() {
                    return Err(self.fail(path, "sequence length differs"));
                }
                for (i, (&x, &y)) in ia.iter().zip(ib.iter()).enumerate() {
                    path.push(Seg::Item(i));
                    self.same(Some(x), Some(y), path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Err(self.fail(path, "node kind differs")),
        }
    }
}

/// Reserved by Lambda: one list for the store and render.
pub use crate::envname::RESERVED;

/// Check one name; `location` says where it comes from. One rule for the store and render
/// ([`crate::envname::check`]): Lambda's key pattern and its reserved names.
pub(crate) fn check_name(name: &str, location: &str) -> Result<(), Error> {
    check_name_at(name, || location.to_string())
}

/// [`check_name`] with the location written only for an error (a large file has thousands
/// of keys).
fn check_name_at(name: &str, location: impl FnOnce() -> String) -> Result<(), Error> {
    match crate::envname::check(name) {
        Ok(()) => Ok(()),
        // `check` never says `SopsBlock`: that is the stage file's rule, not Lambda's.
        Err(crate::envname::NameError::Invalid(_) | crate::envname::NameError::SopsBlock) => {
            Err(Error::InvalidName {
                name: name.chars().take(80).collect(),
                location: location(),
            })
        }
        Err(crate::envname::NameError::Reserved(_)) => Err(Error::Reserved {
            name: name.to_string(),
            location: location(),
        }),
    }
}

/// The environments of the original file: (label, entries) for the provider and each function.
/// (provider environment mapping, provider environment is an unknown variable, functions with
/// their environment mapping)
pub(crate) type EnvMaps = (Option<NodeId>, bool, Vec<(String, Option<NodeId>)>);

pub(crate) fn env_maps(tree: &Tree<'_>) -> EnvMaps {
    let mut provider = None;
    let mut provider_unknown = false;
    let mut functions = Vec::new();
    let Some(root) = tree.root.map(|r| tree.deref(r)) else {
        return (None, false, functions);
    };
    if !matches!(tree.node(root).kind, Kind::Map { .. }) {
        return (None, false, functions);
    }
    if let Some((_, _, p)) = tree.lookup(root, "provider", 0) {
        let p = tree.deref(p);
        if let Some((_, _, e)) = tree.lookup(p, "environment", 0) {
            let e = tree.deref(e);
            match tree.node(e).kind {
                Kind::Map { .. } => provider = Some(e),
                _ => provider_unknown = !tree.node(e).is_null(),
            }
        }
    }
    if let Some((_, _, f)) = tree.lookup(root, "functions", 0) {
        let f = tree.deref(f);
        if matches!(tree.node(f).kind, Kind::Map { .. }) {
            for (name, _, fv) in effective_entries(tree, f) {
                let fv = tree.deref(fv);
                let env = tree
                    .lookup(fv, "environment", 0)
                    .map(|(_, _, e)| tree.deref(e))
                    .filter(|&e| matches!(tree.node(e).kind, Kind::Map { .. }));
                functions.push((name.into_owned(), env));
            }
        }
    }
    (provider, provider_unknown, functions)
}

/// Source spans of environment values that already hold a secret (rendered earlier, or equal
/// to a secret under another name). Unchanged lines still show as context in a diff, so the
/// masked texts hide these too. `values` holds each secret as written (escaped) and raw.
pub(crate) fn secret_spans(
    tree: &Tree<'_>,
    (provider, _, functions): &EnvMaps,
    values: &[&str],
) -> Vec<(usize, usize)> {
    let wanted: HashSet<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
    let maps = provider
        .iter()
        .chain(functions.iter().filter_map(|(_, e)| e.as_ref()))
        .copied();
    let mut spans = Vec::new();
    for m in maps {
        for (_, _, v) in effective_entries(tree, m) {
            let n = tree.node(tree.deref(v));
            if n.scalar().is_some_and(|s| wanted.contains(s)) {
                spans.push((n.start(), n.end()));
            }
        }
    }
    spans.sort_unstable();
    spans.dedup();
    spans
}

/// Key names in the original file's environments (the secrets' names are checked separately).
pub(crate) fn check_names(
    tree: &Tree<'_>,
    (provider, _, functions): &EnvMaps,
) -> Result<Vec<String>, Error> {
    let mut notes = Vec::new();
    // (function name or none for the provider, environment): labels are written only for
    // a note or an error, not for each of a large file's thousands of keys.
    let mut maps: Vec<(Option<&str>, NodeId)> = Vec::new();
    if let Some(p) = *provider {
        maps.push((None, p));
    }
    for (name, env) in functions {
        if let Some(e) = *env {
            maps.push((Some(name), e));
        }
    }
    let label = |function: Option<&str>| match function {
        None => "provider.environment".to_string(),
        Some(name) => format!("functions.{name}.environment"),
    };
    for (function, m) in maps {
        for (key, k, _) in effective_entries(tree, m) {
            let kn = tree.node(k);
            if kn.scalar().is_none() {
                // `? [a]: x` or `*alias: x`: Lambda takes names only, and the 4 KB check and the
                // edit planning compare keys as names.
                return Err(unsupported(
                    tree,
                    k,
                    format!("{} has a key that is not a plain name", label(function)),
                    "write the key as a variable name (`NAME: value`)",
                ));
            }
            if key.contains("${") {
                continue;
            }
            let loc = || format!("{} (line {}:{})", label(function), kn.line(), kn.col() + 1);
            check_name_at(&key, loc)?;
            if key == "TZ" {
                let loc = loc();
                notes.push(format!(
                    "{loc} sets TZ; older Lambda docs list it as reserved, check that your runtime honours it"
                ));
            }
        }
    }
    Ok(notes)
}

/// An environment after the render, read from the original tree and the plan's overlay.
#[derive(Clone, Copy)]
enum EnvAfter<'p> {
    /// An existing mapping (dereferenced): its entries plus the secrets planned for it.
    Map(NodeId),
    /// Created by the plan, holding exactly these secrets.
    Created(&'p [usize]),
    /// A `${...}` string or another value: contents unknown.
    Unknown,
    Missing,
}

const ENV: &[&str] = &["environment"];
const PROVIDER_ENV: &[&str] = &["provider", "environment"];

fn created<'p>(ov: &Overlay<'p>, at: NodeId, path: &[&str]) -> EnvAfter<'p> {
    ov.created_at(at, path)
        .map_or(EnvAfter::Missing, EnvAfter::Created)
}

/// The `environment` of a provider or function mapping `holder`.
fn env_of<'p>(tree: &Tree<'_>, ov: &Overlay<'p>, holder: NodeId) -> EnvAfter<'p> {
    let Some((_, _, raw)) = tree.lookup(holder, "environment", 0) else {
        return created(ov, holder, ENV);
    };
    let e = tree.deref(raw);
    let n = tree.node(e);
    match n.kind {
        Kind::Map { .. } => EnvAfter::Map(e),
        _ if n.is_null() => created(ov, e, &[]),
        _ => EnvAfter::Unknown,
    }
}

fn provider_env<'p>(tree: &Tree<'_>, ov: &Overlay<'p>) -> EnvAfter<'p> {
    let root = tree.root.map(|r| tree.deref(r));
    let Some(root) = root.filter(|&r| matches!(tree.node(r).kind, Kind::Map { .. })) else {
        return match (ov.document, tree.root) {
            (Some((path, keys)), _) if path == PROVIDER_ENV => EnvAfter::Created(keys),
            (_, Some(r)) => created(ov, r, PROVIDER_ENV),
            _ => EnvAfter::Missing,
        };
    };
    let Some((_, _, raw)) = tree.lookup(root, "provider", 0) else {
        return created(ov, root, PROVIDER_ENV);
    };
    let p = tree.deref(raw);
    match tree.node(p).kind {
        Kind::Map { .. } => env_of(tree, ov, p),
        // Null, or the `provider: aws` shorthand: written out with the environment.
        _ => created(ov, p, ENV),
    }
}

/// The functions of the original (name, dereferenced value); none unless a mapping.
fn functions<'t>(tree: &'t Tree<'_>) -> Vec<(Cow<'t, str>, NodeId)> {
    let Some(root) = tree.root.map(|r| tree.deref(r)) else {
        return Vec::new();
    };
    if !matches!(tree.node(root).kind, Kind::Map { .. }) {
        return Vec::new();
    }
    let Some((_, _, f)) = tree.lookup(root, "functions", 0) else {
        return Vec::new();
    };
    let f = tree.deref(f);
    if !matches!(tree.node(f).kind, Kind::Map { .. }) {
        return Vec::new();
    }
    effective_entries(tree, f)
        .into_iter()
        .map(|(name, _, v)| (name, tree.deref(v)))
        .collect()
}

fn function_env<'p>(tree: &Tree<'_>, ov: &Overlay<'p>, f: NodeId) -> EnvAfter<'p> {
    let n = tree.node(f);
    match n.kind {
        Kind::Map { .. } => env_of(tree, ov, f),
        _ if n.is_null() => created(ov, f, ENV),
        _ => EnvAfter::Missing,
    }
}

/// Whether secret `k` resolves to its value in `env` after the render: planned for the
/// mapping itself or for the merge source the key resolves from, or already written as the
/// secret (double-quoted) where the key resolves from.
fn holds(tree: &Tree<'_>, ov: &Overlay<'_>, exp: &Expect<'_>, env: EnvAfter<'_>, k: usize) -> bool {
    let planned = |m: NodeId| ov.map_keys.get(&m).is_some_and(|ks| ks.contains(&k));
    match env {
        EnvAfter::Map(e) => {
            planned(e) || tree.lookup(e, exp.names[k], 0).is_some_and(|(h, _, v)| {
                planned(h) || {
                    let n = tree.node(v);
                    !n.has_tag()
                        && n.style == ScalarStyle::DoubleQuoted
                        && matches!(&n.kind, Kind::Scalar { value } if value == exp.yaml_values[k])
                }
            })
        }
        EnvAfter::Created(keys) => keys.contains(&k),
        EnvAfter::Unknown | EnvAfter::Missing => false,
    }
}

fn not_intended(what: String) -> Error {
    Error::Internal {
        message: format!("the edited file does not re-parse to the intended change: {what}"),
    }
}

/// The plan covers what the render promises, read on the original tree with the overlay (the
/// re-parse check then proves the output is exactly that): every secret in
/// `provider.environment` (or in every function's environment when the provider's is a
/// variable), and every function environment entry named like a secret resolves to it.
pub(crate) fn check_coverage(
    tree: &Tree<'_>,
    ov: &Overlay<'_>,
    exp: &Expect<'_>,
) -> Result<(), Error> {
    let names = exp.names;
    if names.is_empty() {
        return Ok(());
    }
    if !exp.variable_env {
        let env = provider_env(tree, ov);
        if let Some(k) = (0..names.len()).find(|&k| !holds(tree, ov, exp, env, k)) {
            return Err(not_intended(format!(
                "secret entry missing at `provider.environment.{}`",
                names[k]
            )));
        }
    }
    let name_index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    for (fname, f) in functions(tree) {
        let env = function_env(tree, ov, f);
        if exp.variable_env
            && let Some(k) = (0..names.len()).find(|&k| !holds(tree, ov, exp, env, k))
        {
            return Err(not_intended(format!(
                "secret entry missing at `functions.{fname}.environment.{}`",
                names[k]
            )));
        }
        if let EnvAfter::Map(e) = env {
            for (key, _, _) in effective_entries(tree, e) {
                if let Some(&k) = name_index.get(&*key)
                    && !holds(tree, ov, exp, env, k)
                {
                    return Err(not_intended(format!(
                        "`functions.{fname}.environment.{key}` does not resolve to the secret"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// (key, bytes, whether the size is an estimate) of one environment entry.
type SizedEntry<'a> = (Cow<'a, str>, usize, bool);

/// Size of an entry the render leaves as it is: a value already holding a secret counts as
/// the secret (Lambda sees the unescaped value).
fn size_of_value(
    tree: &Tree<'_>,
    v: NodeId,
    secret: Option<usize>,
    yaml_values: &[&str],
    raw_len: &[usize],
) -> (usize, bool) {
    let n = tree.node(tree.deref(v));
    if let Some(i) = secret
        && n.scalar() == Some(yaml_values[i])
    {
        return (raw_len[i], false);
    }
    if n.is_null() {
        return (0, false);
    }
    match n.scalar() {
        Some(s) => (s.len(), s.contains("${") || n.has_tag()),
        // A CloudFormation intrinsic (long form): count its source text.
        None => (n.end().saturating_sub(n.start()), true),
    }
}

/// What Lambda will count for each secret: its raw value, and the values in the stage file.
pub(crate) struct Sizes<'x> {
    pub raw_len: &'x [usize],
    pub limit: usize,
}

/// 4 KB check on the merged environment of every function after the render (or the provider
/// environment alone when there are no functions), from the original tree and the plan's
/// overlay: a replaced or added secret counts its raw length, everything else its value.
pub(crate) fn check_sizes(
    tree: &Tree<'_>,
    ov: &Overlay<'_>,
    exp: &Expect<'_>,
    sz: &Sizes<'_>,
) -> Result<(), Error> {
    let name_index: HashMap<&str, usize> =
        exp.names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let entries = |env: EnvAfter<'_>| -> Vec<SizedEntry<'_>> {
        match env {
            EnvAfter::Map(e) => {
                let mut out: Vec<SizedEntry<'_>> = effective_entries(tree, e)
                    .into_iter()
                    .map(|(key, _, v)| {
                        let k = name_index.get(&*key).copied();
                        let (s, est) = match k {
                            Some(k) if holds(tree, ov, exp, env, k) => (sz.raw_len[k], false),
                            _ => size_of_value(tree, v, k, exp.yaml_values, sz.raw_len),
                        };
                        (key, s, est)
                    })
                    .collect();
                if let Some(keys) = ov.map_keys.get(&e) {
                    let present: HashSet<&str> = if keys.len() > 16 {
                        out.iter().map(|e| &*e.0).collect()
                    } else {
                        HashSet::default()
                    };
                    let mut added = Vec::new();
                    for &k in keys.iter() {
                        let name = exp.names[k];
                        let found = if keys.len() > 16 {
                            present.contains(name)
                        } else {
                            out.iter().any(|e| e.0 == name)
                        };
                        if !found {
                            added.push((Cow::Borrowed(name), sz.raw_len[k], false));
                        }
                    }
                    out.extend(added);
                }
                out
            }
            EnvAfter::Created(keys) => keys
                .iter()
                .map(|&k| (Cow::Borrowed(exp.names[k]), sz.raw_len[k], false))
                .collect(),
            EnvAfter::Unknown | EnvAfter::Missing => Vec::new(),
        }
    };
    let provider = provider_env(tree, ov);
    let per_function = functions(tree)
        .into_iter()
        .map(|(name, f)| (name.into_owned(), entries(function_env(tree, ov, f))));
    merged_sizes(
        entries(provider),
        matches!(provider, EnvAfter::Unknown),
        per_function,
        sz.limit,
    )
}

/// The same check on a parsed output (the former way; kept as the reference the streamed
/// check is compared with in debug builds).
#[cfg(debug_assertions)]
pub(crate) fn check_sizes_of_output(
    b: &Tree<'_>,
    exp: &Expect<'_>,
    sz: &Sizes<'_>,
) -> Result<(), Error> {
    let (provider, provider_unknown, functions) = env_maps(b);
    let name_index: HashMap<&str, usize> =
        exp.names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let entries = |m: Option<NodeId>| -> Vec<SizedEntry<'_>> {
        m.map(|m| {
            effective_entries(b, m)
                .into_iter()
                .map(|(key, _, v)| {
                    let k = name_index.get(&*key).copied();
                    let (s, est) = size_of_value(b, v, k, exp.yaml_values, sz.raw_len);
                    (key, s, est)
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let functions = functions.into_iter().map(|(name, e)| (name, entries(e)));
    merged_sizes(entries(provider), provider_unknown, functions, sz.limit)
}

/// Linear: each function's total is the provider total adjusted by the function's own
/// entries; the merged list (for the message) is built only for a function over the limit.
fn merged_sizes<'a>(
    provider_entries: Vec<SizedEntry<'a>>,
    provider_unknown: bool,
    functions: impl ExactSizeIterator<Item = (String, Vec<SizedEntry<'a>>)>,
    limit: usize,
) -> Result<(), Error> {
    let provider_at: HashMap<&str, usize> = provider_entries
        .iter()
        .enumerate()
        .map(|(i, e)| (&*e.0, i))
        .collect();
    let provider_total: usize = provider_entries.iter().map(|(k, s, _)| k.len() + s).sum();
    let too_large = |label: &str, entries: Vec<(String, usize, bool)>| -> Error {
        let total: usize = entries.iter().map(|(k, s, _)| k.len() + s).sum();
        let mut largest: Vec<(String, usize)> = entries
            .iter()
            .map(|(k, s, _)| (k.clone(), k.len() + s))
            .collect();
        largest.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        largest.truncate(3);
        Error::TooLarge {
            function: label.to_string(),
            bytes: total,
            limit,
            largest_keys: largest,
            estimated: provider_unknown || entries.iter().any(|e| e.2),
        }
    };
    let owned = |entries: &[SizedEntry<'_>]| -> Vec<(String, usize, bool)> {
        entries
            .iter()
            .map(|(k, s, e)| (k.to_string(), *s, *e))
            .collect()
    };
    if functions.len() == 0 {
        if provider_total > limit {
            return Err(too_large("provider.environment", owned(&provider_entries)));
        }
        return Ok(());
    }
    for (name, own) in functions {
        let mut total = provider_total;
        for (key, s, _) in &own {
            if let Some(&i) = provider_at.get(&**key) {
                total = total.saturating_sub(key.len() + provider_entries[i].1);
            }
            total += key.len() + s;
        }
        if total > limit {
            let mut merged = owned(&provider_entries);
            for (key, s, est) in own {
                match merged.iter_mut().find(|x| x.0 == key) {
                    Some(slot) => *slot = (key.into_owned(), s, est),
                    None => merged.push((key.into_owned(), s, est)),
                }
            }
            return Err(too_large(&name, merged));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn verify_src(a: &str, b: &str) -> Result<(), Error> {
        let ta = Tree::parse(a).ok().expect("a parses");
        let tb = Tree::parse(b).ok().expect("b parses");
        let expect = Expect {
            names: &["DB_PASSWORD"],
            yaml_values: &["s3cret"],
            variable_env: false,
        };
        verify(&ta, &tb, &expect)
    }

    #[track_caller]
    fn assert_refused(a: &str, bad: &[String]) {
        for b in bad {
            assert!(
                matches!(verify_src(a, b), Err(Error::Internal { .. })),
                "accepted: {b}"
            );
        }
    }

    /// An input, the intended output for secret `DB_PASSWORD=s3cret`, and outputs that are
    /// not it (every check of the output must refuse them).
    pub(crate) fn wrong_outputs() -> (&'static str, &'static str, Vec<String>) {
        let a = "service: s\nprovider:\n  name: aws\n  environment:\n    LOG: info\n";
        let good = "service: s\nprovider:\n  name: aws\n  environment:\n    LOG: info\n    DB_PASSWORD: \"s3cret\"\n";
        let bad = vec![
            good.replace("service: s", "service: t"),
            good.replace("\"s3cret\"", "\"other\""),
            // Plain style could change the value's type.
            good.replace("\"s3cret\"", "s3cret"),
            good.replace("    LOG: info\n", ""),
            good.replace("  name: aws\n", "  name: aws\n  extra: 1\n"),
            good.replace("    DB_PASSWORD", "    OTHER_NEW: x\n    DB_PASSWORD"),
            a.to_string(),
        ];
        (a, good, bad)
    }

    #[test]
    fn verify_refuses_anything_but_the_intended_change() {
        let (a, good, bad) = wrong_outputs();
        assert!(verify_src(a, good).is_ok());
        assert_refused(a, &bad);
    }

    #[test]
    fn verify_accepts_the_provider_shorthand_only_as_the_same_name() {
        let a = "service: s\nprovider: aws # short\n";
        let good = "service: s\nprovider: # short\n  name: aws\n  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        assert!(verify_src(a, good).is_ok());
        assert_refused(
            a,
            &[
                good.replace("name: aws", "name: gcp"),
                good.replace("  name: aws\n", ""),
                good.replace("  name: aws\n", "  name: aws\n  region: x\n"),
                good.replace("\"s3cret\"", "\"other\""),
            ],
        );
    }

    #[test]
    fn verify_pairs_repeated_non_scalar_keys_by_occurrence() {
        let env = "  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        for (a, good) in [
            (
                "[x]: 1\n[x]: 2\nprovider:\n  name: aws\n".to_string(),
                format!("[x]: 1\n[x]: 2\nprovider:\n  name: aws\n{env}"),
            ),
            (
                "provider:\n  name: aws\n  [x]: 1\n  [x]: 2\n".to_string(),
                format!("provider:\n  name: aws\n  [x]: 1\n  [x]: 2\n{env}"),
            ),
            (
                "provider:\n  environment:\n    [x]: 1\n    [x]: 2\n".to_string(),
                "provider:\n  environment:\n    [x]: 1\n    [x]: 2\n    DB_PASSWORD: \"s3cret\"\n"
                    .to_string(),
            ),
        ] {
            assert!(verify_src(&a, &good).is_ok(), "{good}");
            assert_refused(
                &a,
                &[
                    good.replace(": 1\n", ": 3\n"),
                    good.replace(": 2\n", ": 1\n"),
                    good.replacen("[x]: 1\n", "[x]: 2\n", 1),
                    {
                        // The second entry written twice, at its own indentation.
                        let line = good.lines().find(|l| l.ends_with("[x]: 2")).unwrap();
                        good.replacen(line, &format!("{line}\n{line}"), 1)
                    },
                ],
            );
        }
    }

    #[test]
    fn verify_compares_complex_keys_by_structure_not_by_text() {
        // The key's text runs to the next token: to the end of `a`, to `provider` in `good`.
        let a = "s: a\n? ? k\n";
        let good = "s: a\n? ? k\nprovider:\n  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        assert!(verify_src(a, good).is_ok());
        assert_refused(
            a,
            &[
                good.replace("? ? k", "? ? j"),
                good.replace("? ? k", "? [k]"),
                good.replace("? ? k", "? ? k\n  : v"),
                good.replace("? ? k\n", ""),
            ],
        );
        // The same as a function's name, and scalar keys that begin with a NUL.
        let a = "s: a\nfunctions:\n  ? ? k\n";
        let good =
            "s: a\nfunctions:\n  ? ? k\nprovider:\n  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        assert!(verify_src(a, good).is_ok());
        assert_refused(a, &[good.replace("? ? k", "? ? j")]);
        let a = "c: {\"\\0a\": 1, \"\\0b\": 2}\n";
        let good = format!("{a}provider:\n  environment:\n    DB_PASSWORD: \"s3cret\"\n");
        assert!(verify_src(a, &good).is_ok());
        assert_refused(
            a,
            &[
                good.replace("1, ", "3, "),
                good.replace("\"\\0a\": 1, \"\\0b\": 2", "\"\\0b\": 1, \"\\0a\": 2"),
            ],
        );
    }

    fn coverage_without(
        src: &str,
        spoil: impl Fn(&mut super::super::plan::Plan),
    ) -> Result<(), Error> {
        let names = ["DB_PASSWORD", "API_KEY"];
        let written = ["\"a\"", "\"b\""];
        let tree = Tree::parse(src).ok().expect("parses");
        let mut plan = super::super::plan::plan(&tree, &names, &written)?;
        spoil(&mut plan);
        let ov = Overlay::new(&tree, &plan, &names)?;
        let expect = Expect {
            names: &names,
            yaml_values: &["a", "b"],
            variable_env: plan.variable_env,
        };
        check_coverage(&tree, &ov, &expect)
    }

    #[test]
    fn coverage_refuses_a_plan_that_misses_an_environment() {
        let src = "provider:\n  environment:\n    LOG: x\nfunctions:\n  f:\n    environment:\n      API_KEY: old\n";
        assert!(coverage_without(src, |_| {}).is_ok());
        // A secret left out of provider.environment.
        let r = coverage_without(src, |p| p.slots[0].keys.retain(|&k| k != 0));
        assert!(
            matches!(r, Err(Error::Internal { .. })),
            "missing provider entry"
        );
        // The function's own API_KEY would shadow the secret.
        let r = coverage_without(src, |p| p.slots.truncate(1));
        assert!(matches!(r, Err(Error::Internal { .. })), "shadowing left");
        // Variable provider environment: every function needs every secret.
        let var = "provider:\n  environment: ${file(env.yml)}\nfunctions:\n  f:\n    handler: h\n  g:\n    environment:\n      LOG: x\n";
        assert!(coverage_without(var, |_| {}).is_ok());
        let r = coverage_without(var, |p| {
            p.slots.pop();
        });
        assert!(
            matches!(r, Err(Error::Internal { .. })),
            "function left out"
        );
    }
}
