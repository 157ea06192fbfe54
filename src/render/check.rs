//! The checks every render runs, release builds included, besides the re-parse of the output
//! ([`super::reparse`]):
//! - before the edit: an edited mapping shared through anchors/aliases/merge keys must only be
//!   seen at environment paths, and replaced values must not define anchors used elsewhere;
//! - the plan covers every environment that must hold the secrets, read on the original tree
//!   with the plan's overlay;
//! - the merged environment of every function: key names, reserved names, the 4 KB limit.
//!
//! The tree-against-tree comparison that cross-checks these in tests and debug builds is
//! [`super::reference`]; what it shares with them is here.

use std::borrow::Cow;
// Keys come from the user's own files: a fast hash matters more than flood resistance here.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use saphyr_parser::ScalarStyle;

use super::error::{Error, unsupported};
use super::overlay::Overlay;
use super::plan::{Plan, Slot};
use super::splice::Edit;
use super::tree::{Kind, MAX_DEPTH, NodeId, Tree, effective_entries};

/// Upper bound on nodes visited while resolving aliases (guards against alias bombs).
pub(super) const BUDGET: usize = 4_000_000;

pub(super) fn budget_error() -> Error {
    Error::Unsupported {
        line: 1,
        col: 1,
        what: format!("the document expands to more than {BUDGET} nodes through aliases"),
        hint: "reduce alias nesting (a \"billion laughs\" style file cannot be checked safely)"
            .into(),
    }
}

/// Where a node sits, for what the render may change there.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Ctx {
    Root,
    Provider,
    Functions,
    Function,
    ProviderEnv,
    FunctionEnv,
    Other,
}

pub(super) fn child_ctx(ctx: Ctx, key: &str) -> Ctx {
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
                    // the key (`? vars: &vars` and `environment: *vars`).
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
    /// Every service-wide key must be present in provider.environment (normal mode) or in
    /// every function's environment (variable-string provider environment).
    pub variable_env: bool,
    /// Per secret: for the whole service, or only for the functions of `scoped`.
    pub service_wide: &'x [bool],
    /// `custom.slsSecrets.functions`: the secrets each named function gets, and no other.
    pub scoped: &'x [(String, Vec<usize>)],
}

impl Expect<'_> {
    /// Whether secret `k` must be what a key of that name holds in function `function`'s
    /// environment (`None`: the provider's).
    pub(crate) fn reaches(&self, k: usize, function: Option<&str>) -> bool {
        self.service_wide.get(k).copied().unwrap_or(true)
            || function.is_some_and(|f| {
                self.scoped
                    .iter()
                    .any(|(name, keys)| name == f && keys.contains(&k))
            })
    }

    /// The secrets function `function`'s environment must hold whatever it had: the scoped
    /// ones, and with a variable provider environment every service-wide one.
    pub(crate) fn required_in_function(&self, function: &str) -> Vec<usize> {
        let mut keys: Vec<usize> = if self.variable_env {
            (0..self.names.len())
                .filter(|&k| self.service_wide.get(k).copied().unwrap_or(true))
                .collect()
        } else {
            Vec::new()
        };
        for (name, scoped) in self.scoped {
            if name == function {
                keys.extend(scoped);
            }
        }
        keys
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
        let missing =
            (0..names.len()).find(|&k| exp.reaches(k, None) && !holds(tree, ov, exp, env, k));
        if let Some(k) = missing {
            return Err(not_intended(format!(
                "secret entry missing at `provider.environment.{}`",
                names[k]
            )));
        }
    }
    let name_index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    for (fname, f) in functions(tree) {
        let env = function_env(tree, ov, f);
        let required = exp.required_in_function(&fname);
        if let Some(&k) = required.iter().find(|&&k| !holds(tree, ov, exp, env, k)) {
            return Err(not_intended(format!(
                "secret entry missing at `functions.{fname}.environment.{}`",
                names[k]
            )));
        }
        if let EnvAfter::Map(e) = env {
            for (key, _, _) in effective_entries(tree, e) {
                if let Some(&k) = name_index.get(&*key)
                    && exp.reaches(k, Some(&fname))
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

pub(super) use crate::lambda::SizedEntry;

/// Size of an entry the render leaves as it is: a value already holding a secret counts as
/// the secret (Lambda sees the unescaped value).
pub(super) fn size_of_value(
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

/// [`crate::lambda::check_merged_sizes`], as a render error.
pub(super) fn merged_sizes<'a>(
    provider_entries: Vec<SizedEntry<'a>>,
    provider_unknown: bool,
    functions: impl ExactSizeIterator<Item = (String, Vec<SizedEntry<'a>>)>,
    limit: usize,
) -> Result<(), Error> {
    crate::lambda::check_merged_sizes(provider_entries, provider_unknown, functions, limit)
        .map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            service_wide: &plan.service_wide,
            scoped: &plan.scoped,
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
