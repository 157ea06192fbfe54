//! Where each secret goes in the file. Which secret goes where is [`lambda::decide`]'s call
//! (the plugin's too): the scope (`custom.slsSecrets`), the provider environment, the
//! functions that would shadow a secret, every function when the provider environment is a
//! variable. [`plan`] reads the file's shape once, hands it to `lambda`, and finds the places:
//!
//! 1. the document ([`document_root`]): a block mapping, or empty; anything else is refused;
//! 2. the provider ([`plan_provider`]): absent (created), a mapping (its environment:
//!    [`plan_provider_env`]), null (filled in), the `provider: aws` shorthand (written out as
//!    a mapping, [`shorthand_ok`]), or refused (a variable, a list);
//! 3. the functions ([`find_functions`]): a mapping we can walk, or a list / variable;
//! 4. then either
//!    - the provider environment is a `${...}` variable: every function's own environment
//!      receives the service-wide secrets ([`plan_variable_env`], per function
//!      [`plan_function_env`]), or
//!    - the functions that shadow a secret get that key overridden ([`plan_shadowing`], per
//!      function [`plan_shadowed_keys`]; in a `functions:` list it can't be edited and is
//!      refused: [`refuse_listed_shadowing`]);
//! 5. scoped names go to their functions' environments ([`plan_scoped`]).
//!
//! The result is a [`Plan`]: slots (mappings, or places where one is created) and the secret
//! indices each receives. Turning it into bytes is `splice`'s job.

use rustc_hash::FxHashMap as HashMap;

use super::error::{Error, unsupported};
use super::tree::{Kind, NodeId, Tree, effective_entries};
use crate::lambda::{self, Env, PlaceError, Placement, Scope, Service};

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
    /// Per secret: for the whole service (the provider environment and the functions that
    /// would shadow it), or only for the functions of `scoped`.
    pub service_wide: Vec<bool>,
    /// `custom.slsSecrets.functions`: the secrets each named function gets, and no other.
    pub scoped: Vec<(String, Vec<usize>)>,
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

/// Plan where every secret goes. `names` are the secret names in stage-file order, `encoded`
/// their values as they would be written. Which secret goes where is [`lambda::decide`]'s
/// call (scope, shadowing, a variable provider environment); this module finds the places in
/// the file.
pub(crate) fn plan(tree: &Tree<'_>, names: &[&str], encoded: &[&str]) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    if names.is_empty() {
        // Nothing to place: no shape can be refused for it (found by the identity property).
        return Ok(plan);
    }
    let root = document_root(tree)?;
    let functions = find_functions(tree, root);
    let placement = decide(tree, root, &functions, names)?;
    let service_wide: Vec<usize> = (0..names.len())
        .filter(|&i| placement.service_wide[i])
        .collect();
    plan.service_wide = placement.service_wide.clone();
    plan.scoped = placement
        .placement
        .functions
        .iter()
        .filter(|f| !f.scoped.is_empty())
        .map(|f| (f.name.clone(), f.scoped.clone()))
        .collect();
    let variable_env = plan_provider(tree, root, &service_wide, &mut plan)?;
    match variable_env {
        Some(env_node) if !service_wide.is_empty() => {
            plan_variable_env(tree, env_node, &functions, &service_wide, &mut plan)?
        }
        Some(_) => plan.variable_env = true,
        None => plan_shadowing(tree, &functions, names, encoded, &placement, &mut plan)?,
    }
    plan_scoped(tree, &functions, &placement.placement, &mut plan)?;
    Ok(plan)
}

/// [`lambda::decide`] on the file's shape, with which secrets are service-wide.
struct Decided {
    placement: Placement,
    service_wide: Vec<bool>,
}

/// Reads the scope and the environments' shape off the tree and lets [`lambda::decide`]
/// place the secrets. A shape the render can't edit is refused later, where it is found.
fn decide(
    tree: &Tree<'_>,
    root: Option<NodeId>,
    functions: &Functions,
    names: &[&str],
) -> Result<Decided, Error> {
    let (scope, scope_node, _) = scope_of(tree, root, false)?;
    let service = service_shape(tree, root, functions);
    let scope_error = |e: &dyn std::fmt::Display, hint: &str| match scope_node {
        Some(node) => unsupported(tree, node, e.to_string(), hint),
        None => Error::Internal {
            message: e.to_string(),
        },
    };
    let function_names: Option<Vec<&str>> = service
        .functions
        .as_ref()
        .map(|f| f.iter().map(|(n, _)| n.as_str()).collect());
    let scoped = scope
        .apply(names, function_names.as_deref())
        .map_err(|e| scope_error(&e, e.hint()))?;
    let mut service_wide = vec![false; names.len()];
    for &i in &scoped.provider {
        service_wide[i] = true;
    }
    let placement = match lambda::decide(&service, names, &scope) {
        Ok(p) => p,
        // The render refuses this shape itself, naming `functions` or the environment.
        Err(PlaceError::NowhereToGo) => Placement {
            variable_env: true,
            ..Placement::default()
        },
        Err(e) => return Err(scope_error(&e, e.hint())),
    };
    Ok(Decided {
        placement,
        service_wide,
    })
}

/// The environments' shape [`lambda::decide`] reads: the provider's and each function's.
fn service_shape(tree: &Tree<'_>, root: Option<NodeId>, functions: &Functions) -> Service {
    Service {
        provider: provider_env_shape(tree, root),
        functions: match functions {
            Functions::None => Some(Vec::new()),
            Functions::Map(list) => Some(
                list.iter()
                    .map(|(name, fmap, _)| {
                        let env = fmap.map_or(Env::Opaque, |f| env_shape(tree, f));
                        (name.clone(), env)
                    })
                    .collect(),
            ),
            Functions::Opaque(..) => None,
        },
    }
}

/// serverless.yml as `status` reads it (no variable resolved): the environments' shape and
/// the scope, so [`lambda::decide`] places the stage's secrets as `render` and the plugin do,
/// and whether delivery is sealed (which `status` reads, where `render` refuses it).
pub(crate) fn shape(tree: &Tree<'_>) -> Result<(Service, Scope, bool), Error> {
    let root = document_root(tree)?;
    let functions = find_functions(tree, root);
    let (scope, _, sealed) = scope_of(tree, root, true)?;
    Ok((service_shape(tree, root, &functions), scope, sealed))
}

/// `service` (or the older `service.name`), `provider.stackName` and `provider.region`, as
/// written (a `${...}` variable comes back as its text).
pub(crate) fn stack_fields(tree: &Tree<'_>) -> [Option<String>; 3] {
    let root = document_root(tree).ok().flatten();
    let get = |map: Option<NodeId>, key: &str| {
        let (_, _, v) = tree.lookup(map?, key, 0)?;
        Some(tree.deref(v))
    };
    let text = |node: Option<NodeId>| {
        let n = tree.node(node?);
        n.scalar().filter(|_| !n.is_null()).map(str::to_owned)
    };
    let service = get(root, "service");
    let provider = get(root, "provider").filter(|&p| matches!(tree.node(p).kind, Kind::Map { .. }));
    let service_name = match service.map(|s| &tree.node(s).kind) {
        Some(Kind::Map { .. }) => text(get(service, "name")),
        _ => text(service),
    };
    [
        service_name,
        text(get(provider, "stackName")),
        text(get(provider, "region")),
    ]
}

/// The provider environment's shape: absent (also for no provider, a null one or the `aws`
/// shorthand, which the render writes out), a mapping, or anything else (a `${...}` string).
fn provider_env_shape(tree: &Tree<'_>, root: Option<NodeId>) -> Env {
    let Some((_, _, pval)) = root.and_then(|r| tree.lookup(r, "provider", 0)) else {
        return Env::Absent;
    };
    let provider = tree.deref(pval);
    match tree.node(provider).kind {
        Kind::Map { .. } => env_shape(tree, provider),
        _ => Env::Absent,
    }
}

/// The shape of `holder`'s `environment`, with its keys (sizes are the 4 KB check's business).
fn env_shape(tree: &Tree<'_>, holder: NodeId) -> Env {
    let Some((_, _, ev)) = tree.lookup(holder, "environment", 0) else {
        return Env::Absent;
    };
    let env = tree.deref(ev);
    let node = tree.node(env);
    match &node.kind {
        Kind::Map { .. } => Env::Map(
            effective_entries(tree, env)
                .into_iter()
                .map(|(key, _, _)| (key.into_owned(), 0, false))
                .collect(),
        ),
        _ if node.is_null() => Env::Absent,
        _ => Env::Opaque,
    }
}

/// `custom.slsSecrets` read off the tree (names as written: the render resolves no variable),
/// with the node errors point at, and whether `delivery` is `sealed` (refused unless
/// `sealed_ok`).
fn scope_of(
    tree: &Tree<'_>,
    root: Option<NodeId>,
    sealed_ok: bool,
) -> Result<(Scope, Option<NodeId>, bool), Error> {
    let mut scope = Scope::default();
    let mut sealed = false;
    let found = root
        .and_then(|r| tree.lookup(r, "custom", 0))
        .map(|(_, _, custom)| tree.deref(custom))
        .filter(|&custom| matches!(tree.node(custom).kind, Kind::Map { .. }))
        .and_then(|custom| tree.lookup(custom, "slsSecrets", 0));
    let Some((_, key, value)) = found else {
        return Ok((scope, None, false));
    };
    let settings = tree.deref(value);
    if tree.node(settings).is_null() {
        return Ok((scope, Some(key), false));
    }
    if !matches!(tree.node(settings).kind, Kind::Map { .. }) {
        return Err(scope_shape(
            tree,
            settings,
            "custom.slsSecrets is not a mapping",
        ));
    }
    for (name, _, v) in effective_entries(tree, settings) {
        match &*name {
            "include" => scope.include = Some(names_list(tree, v, "custom.slsSecrets.include")?),
            "exclude" => scope.exclude = names_list(tree, v, "custom.slsSecrets.exclude")?,
            "functions" => scope.functions = function_lists(tree, v)?,
            // Read by the plugin; the render leaves `enabled` to `--no-set-env` and seed.yml.
            "enabled" | "kmsKeyArn" => {}
            "delivery" if sealed_ok && tree.node(tree.deref(v)).scalar() == Some("sealed") => {
                sealed = true;
            }
            "delivery" => environment_delivery(tree, v)?,
            other => {
                return Err(scope_shape(
                    tree,
                    v,
                    &format!(
                        "custom.slsSecrets has an unknown key `{other}` (include, exclude, functions, enabled, delivery, kmsKeyArn)"
                    ),
                ));
            }
        }
    }
    Ok((scope, Some(key), sealed))
}

/// `custom.slsSecrets.delivery`: the render writes values into the environment, so it goes on
/// only for `environment`. `sealed` needs what only packaging can do (a KMS-sealed payload in
/// the package, the wrapper layer, the role's `kms:Decrypt`), which is the plugin's; a variable
/// may resolve to `sealed`, so it is refused too (docs/sealed.md).
fn environment_delivery(tree: &Tree<'_>, v: NodeId) -> Result<(), Error> {
    let node = tree.deref(v);
    match tree.node(node).scalar() {
        Some("environment") => Ok(()),
        Some("sealed") => Err(unsupported(
            tree,
            node,
            "custom.slsSecrets.delivery is `sealed`: render writes values into serverless.yml's environment".into(),
            "sealed delivery is done by the Serverless plugin at package time (plugins: [sls-secrets]; docs/sealed.md)",
        )),
        Some(text) if text.contains("${") => Err(unsupported(
            tree,
            node,
            "custom.slsSecrets.delivery holds a variable, which the render can't resolve".into(),
            "write `environment` to render, or use the Serverless plugin, which reads resolved values",
        )),
        _ => Err(scope_shape(
            tree,
            node,
            "custom.slsSecrets.delivery is neither `environment` nor `sealed`",
        )),
    }
}

/// `custom.slsSecrets.functions`: function name → list of secret names.
fn function_lists(tree: &Tree<'_>, v: NodeId) -> Result<Vec<(String, Vec<String>)>, Error> {
    let map = tree.deref(v);
    if !matches!(tree.node(map).kind, Kind::Map { .. }) {
        return Err(scope_shape(
            tree,
            map,
            "custom.slsSecrets.functions is not a mapping of function name to names",
        ));
    }
    effective_entries(tree, map)
        .into_iter()
        .map(|(function, _, list)| {
            let what = format!("custom.slsSecrets.functions.{function}");
            Ok((function.into_owned(), names_list(tree, list, &what)?))
        })
        .collect()
}

/// A list of names or globs (or one written alone), as plain text: a `${...}` variable is
/// refused, since only the plugin sees what it resolves to.
fn names_list(tree: &Tree<'_>, v: NodeId, what: &str) -> Result<Vec<String>, Error> {
    let node = tree.deref(v);
    let items: Vec<NodeId> = match &tree.node(node).kind {
        Kind::Seq { items, .. } => tree.list(*items).to_vec(),
        Kind::Scalar { .. } => vec![node],
        _ => {
            return Err(scope_shape(
                tree,
                node,
                &format!("{what} is not a list of names"),
            ));
        }
    };
    items
        .into_iter()
        .map(|item| {
            let item = tree.deref(item);
            match tree.node(item).scalar() {
                Some(text) if text.contains("${") => Err(unsupported(
                    tree,
                    item,
                    format!("{what} holds a variable, which the render can't resolve"),
                    "write the names in serverless.yml, or use the Serverless plugin, which reads resolved values",
                )),
                Some(text) => Ok(text.to_owned()),
                None => Err(scope_shape(tree, item, &format!("{what} holds something other than a name"))),
            }
        })
        .collect()
}

fn scope_shape(tree: &Tree<'_>, node: NodeId, what: &str) -> Error {
    unsupported(
        tree,
        node,
        what.into(),
        "write custom.slsSecrets as `include: [NAME, ...]`, `exclude: [...]`, `functions: {fn: [NAME, ...]}` (names or globs)",
    )
}

/// `custom.slsSecrets.functions`: each named function's own environment gets its secrets
/// (created when absent, filled when null).
fn plan_scoped(
    tree: &Tree<'_>,
    functions: &Functions,
    placement: &Placement,
    plan: &mut Plan,
) -> Result<(), Error> {
    let Functions::Map(list) = functions else {
        return Ok(());
    };
    for fp in placement.functions.iter().filter(|f| !f.scoped.is_empty()) {
        let Some((name, fmap, knode)) = list.iter().find(|(n, _, _)| *n == fp.name) else {
            return Err(Error::Internal {
                message: format!("function `{}` was placed but not found", fp.name),
            });
        };
        let Some(fmap) = *fmap else {
            return Err(unsupported(
                tree,
                *knode,
                format!("function `{name}` is not a mapping"),
                "define the function inline so its environment can receive its secrets",
            ));
        };
        plan_function_env(tree, name, fmap, &fp.scoped, plan)?;
    }
    Ok(())
}

/// The top-level block mapping, `None` for an empty document.
fn document_root(tree: &Tree<'_>) -> Result<Option<NodeId>, Error> {
    let Some(r) = tree.root.map(|r| tree.deref(r)) else {
        return Ok(None);
    };
    match &tree.node(r).kind {
        Kind::Map { .. } if !tree.node(r).flow => Ok(Some(r)),
        Kind::Map { .. } => Err(unsupported(
            tree,
            r,
            "the document is a flow mapping (`{...}`)".into(),
            "write the top level as a block mapping (one key per line)",
        )),
        Kind::Scalar { value, .. } if value.is_empty() && !tree.node(r).has_tag() => Ok(None),
        _ => Err(unsupported(
            tree,
            r,
            "the document is not a mapping".into(),
            "serverless.yml must be a mapping with `service`, `provider`, `functions`",
        )),
    }
}

/// Plans `provider.environment`. Returns the environment's node when it is a `${...}`
/// variable (the secrets then go to the functions instead).
fn plan_provider(
    tree: &Tree<'_>,
    root: Option<NodeId>,
    all: &[usize],
    plan: &mut Plan,
) -> Result<Option<NodeId>, Error> {
    let Some(root) = root else {
        plan.add_all(Slot::Absent { parent: None }, PROVIDER_ENV, all);
        return Ok(None);
    };
    let Some((holder, pkey, pval)) = tree.lookup(root, "provider", 0) else {
        plan.add_all(Slot::Absent { parent: Some(root) }, PROVIDER_ENV, all);
        return Ok(None);
    };
    let p = tree.deref(pval);
    let pn = tree.node(p);
    if let Some((_, _, nv)) = tree.lookup(p, "name", 0)
        && let Some(name) = tree.node(tree.deref(nv)).scalar()
    {
        note_not_aws(plan, "provider.name", name);
    }
    match &pn.kind {
        Kind::Map { .. } => plan_provider_env(tree, p, all, plan),
        _ if pn.is_null() => {
            let slot = null_slot(tree, holder, pkey, pval, p, "provider")?;
            plan.add_all(slot, ENV, all);
            Ok(None)
        }
        Kind::Scalar { value, .. }
            if shorthand_ok(tree, holder, pkey, pval, p) && !value.contains("${") =>
        {
            note_not_aws(plan, "provider", value);
            let slot = Slot::Shorthand {
                key: pkey,
                value: p,
                parent: holder,
            };
            plan.add_all(slot, ENV, all);
            Ok(None)
        }
        Kind::Scalar { value, .. } if value.contains("${") => Err(unsupported(
            tree,
            p,
            "`provider` is a variable; what it resolves to can't be edited here".into(),
            "write `provider:` as a mapping; variables can stay inside it (e.g. `environment: ${file(env.yml)}`)",
        )),
        _ => Err(unsupported(
            tree,
            p,
            "`provider` is not a mapping".into(),
            "write `provider:` as a mapping (`provider:\\n  name: aws`); secrets go into provider.environment",
        )),
    }
}

/// A provider other than `aws` gets Lambda's rules anyway; say so.
fn note_not_aws(plan: &mut Plan, what: &str, name: &str) {
    if name != "aws" && !name.contains("${") {
        plan.notes.push(format!(
            "{what} is `{}`, not `aws`: the environment was edited with AWS Lambda semantics",
            name.chars().take(40).collect::<String>()
        ));
    }
}

/// `provider` is a mapping `p`: its `environment` receives every secret (created when
/// absent, filled in when null). A `${...}` string is returned for [`plan_variable_env`].
fn plan_provider_env(
    tree: &Tree<'_>,
    p: NodeId,
    all: &[usize],
    plan: &mut Plan,
) -> Result<Option<NodeId>, Error> {
    let Some((eholder, ekey, eval)) = tree.lookup(p, "environment", 0) else {
        plan.add_all(Slot::Absent { parent: Some(p) }, ENV, all);
        return Ok(None);
    };
    let e = tree.deref(eval);
    let en = tree.node(e);
    match &en.kind {
        Kind::Map { .. } => plan.add_all(Slot::Map(e), NONE, all),
        _ if en.is_null() => {
            let slot = null_slot(tree, eholder, ekey, eval, e, "provider.environment")?;
            plan.add_all(slot, NONE, all);
        }
        Kind::Scalar { value, .. } if value.contains("${") && !en.has_tag() => {
            return Ok(Some(e));
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
    Ok(None)
}

fn find_functions(tree: &Tree<'_>, root: Option<NodeId>) -> Functions {
    let Some((_, _, fv)) = root.and_then(|r| tree.lookup(r, "functions", 0)) else {
        return Functions::None;
    };
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

/// The provider environment is a `${...}` variable (`env_node`) we can't edit: every
/// function's own environment receives every secret.
fn plan_variable_env(
    tree: &Tree<'_>,
    env_node: NodeId,
    functions: &Functions,
    all: &[usize],
    plan: &mut Plan,
) -> Result<(), Error> {
    plan.variable_env = true;
    let fns = match functions {
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
        plan_function_env(tree, name, fmap, all, plan)?;
    }
    let n = tree.node(env_node);
    plan.notes.push(format!(
        "provider.environment (line {}) is a variable string, so the secrets were written into the environment of every function ({})",
        n.line(),
        fns.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}

/// Every secret into function `name`'s environment (created when absent, filled when null).
fn plan_function_env(
    tree: &Tree<'_>,
    name: &str,
    fmap: NodeId,
    all: &[usize],
    plan: &mut Plan,
) -> Result<(), Error> {
    let Some((holder, ekey, eval)) = tree.lookup(fmap, "environment", 0) else {
        for &k in all {
            plan.add(Slot::Absent { parent: Some(fmap) }, ENV, k, Some(name));
        }
        return Ok(());
    };
    let e = tree.deref(eval);
    let en = tree.node(e);
    let slot = match &en.kind {
        Kind::Map { .. } => Slot::Map(e),
        _ if en.is_null() => null_slot(tree, holder, ekey, eval, e, "a function environment")?,
        _ => {
            return Err(unsupported(
                tree,
                e,
                format!("the environment of function `{name}` is not a mapping"),
                "make it a mapping of NAME: value",
            ));
        }
    };
    for &k in all {
        plan.add(slot, NONE, k, Some(name));
    }
    Ok(())
}

/// Normal mode: a function whose own environment sets a service-wide secret's name would
/// shadow it (Serverless merges per key, the function wins), so that key is overridden there
/// too ([`lambda::decide`] says which functions and keys).
fn plan_shadowing(
    tree: &Tree<'_>,
    functions: &Functions,
    names: &[&str],
    encoded: &[&str],
    decided: &Decided,
    plan: &mut Plan,
) -> Result<(), Error> {
    match functions {
        Functions::None => {}
        Functions::Opaque(n, how) => {
            refuse_listed_shadowing(tree, *n, names, encoded, &decided.service_wide, plan)?;
            plan.notes.push(format!(
                "`functions` (line {}) is {how}: function-level environments there were not checked for keys that would shadow the secrets",
                tree.node(*n).line()
            ));
        }
        Functions::Map(list) => {
            let shadowed: HashMap<&str, &[usize]> = decided
                .placement
                .functions
                .iter()
                .map(|f| (f.name.as_str(), f.from_provider.as_slice()))
                .collect();
            for (fname, fmap, knode) in list {
                let Some(fmap) = *fmap else {
                    plan.notes.push(format!(
                        "function `{fname}` (line {}) is not a mapping; its environment was not checked for keys that would shadow the secrets",
                        tree.node(*knode).line()
                    ));
                    continue;
                };
                let keys = shadowed.get(fname.as_str()).copied().unwrap_or(&[]);
                plan_shadowed_keys(tree, fname, fmap, names, keys, encoded, plan);
            }
        }
    }
    Ok(())
}

/// The keys of function `fname`'s environment that would shadow a secret (`keys`), overridden
/// there unless the provider's own mapping (merged in) or the value already is the secret.
fn plan_shadowed_keys(
    tree: &Tree<'_>,
    fname: &str,
    fmap: NodeId,
    names: &[&str],
    keys: &[usize],
    encoded: &[&str],
    plan: &mut Plan,
) {
    let Some((_, _, ev)) = tree.lookup(fmap, "environment", 0) else {
        return;
    };
    let e = tree.deref(ev);
    let en = tree.node(e);
    match &en.kind {
        Kind::Map { .. } => {
            for &i in keys {
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

/// `functions:` written as a list can't be edited, but its inline items can be inspected: a
/// key there that would shadow a secret is refused.
fn refuse_listed_shadowing(
    tree: &Tree<'_>,
    functions: NodeId,
    names: &[&str],
    encoded: &[&str],
    service_wide: &[bool],
    plan: &Plan,
) -> Result<(), Error> {
    let Kind::Seq { items, .. } = &tree.node(functions).kind else {
        return Ok(());
    };
    for &item in tree.list(*items) {
        let item = tree.deref(item);
        for (fname, _, fv) in effective_entries(tree, item) {
            let fmap = tree.deref(fv);
            let Some((_, _, ev)) = tree.lookup(fmap, "environment", 0) else {
                continue;
            };
            let e = tree.deref(ev);
            for (i, name) in names.iter().enumerate().filter(|&(i, _)| service_wide[i]) {
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
    Ok(())
}

/// `provider: aws` can be rewritten as a block mapping when it is a one-line scalar written
/// right after the colon of a block-mapping key, with no tag, anchor or alias involved.
fn shorthand_ok(tree: &Tree<'_>, holder: NodeId, key: NodeId, raw: NodeId, value: NodeId) -> bool {
    let n = tree.node(value);
    let src = tree.src.as_bytes();
    raw == value
        && !n.has_tag()
        && n.anchor() == 0
        && matches!(tree.node(holder).kind, Kind::Map { .. })
        && !tree.node(holder).flow
        && !src[n.start()..n.end()].contains(&b'\n')
        && tree
            .colon_after(key)
            .is_some_and(|(colon, _)| colon < n.start() && !src[colon..n.start()].contains(&b'\n'))
}

/// `key: <null>` in `parent`, to be filled in. Only when the null is written directly (not
/// an alias, no anchor): otherwise filling it would change what other aliases see.
fn null_slot(
    tree: &Tree<'_>,
    parent: NodeId,
    key: NodeId,
    raw: NodeId,
    value: NodeId,
    what: &str,
) -> Result<Slot, Error> {
    if raw != value || tree.node(value).anchor() != 0 {
        return Err(unsupported(
            tree,
            raw,
            format!("{what} is an anchored or aliased null value"),
            "write it as an empty mapping `{}` or remove the anchor/alias",
        ));
    }
    Ok(Slot::Null { key, value, parent })
}

/// Whether a value is already written exactly as we would write it.
fn same_value(tree: &Tree<'_>, v: NodeId, encoded: &str) -> bool {
    let n = tree.node(v);
    tree.src.get(n.start()..n.end()) == Some(encoded)
}
