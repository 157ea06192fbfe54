//! Lambda's rules for where a stage's secrets go, once for `render` (which reads them off the
//! YAML tree) and the Serverless plugin (which sends the resolved service to `place`):
//!
//! - which secrets a service takes: `custom.slsSecrets.include` / `exclude` (names or globs);
//! - which go only to some functions: `custom.slsSecrets.functions: {fn: [NAME, ...]}`, never
//!   to `provider.environment` (least privilege, and room under the 4 KB);
//! - the rest go to `provider.environment`; a function whose own environment sets one of
//!   their names would shadow it (Serverless merges per key, the function wins), so it is set
//!   there too; when the provider environment is not a mapping (an unresolved variable), every
//!   function's environment gets them instead;
//! - each function's merged environment, keys plus values, is at most 4 KB.
//!
//! Names and reserved names are [`crate::envname`]'s.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::glob::glob_matches;
use crate::yaml::{MapItem, SeqItem, Value};

/// Lambda's limit on a function's environment: keys plus values, in bytes.
pub const ENV_LIMIT: usize = 4096;

/// `custom.slsSecrets` as written in `serverless.yml`.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct Scope {
    /// Names or globs the service takes; `None`: every secret of the stage.
    pub include: Option<Vec<String>>,
    /// Names or globs the service does not take.
    pub exclude: Vec<String>,
    /// Names that go only to these functions' environments.
    pub functions: Vec<(String, Vec<String>)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScopeError {
    #[error(
        "custom.slsSecrets.functions.{function} lists `{name}`, which the stage's secrets don't have"
    )]
    UnknownName { function: String, name: String },
    #[error(
        "custom.slsSecrets.functions.{function} lists `{name}`, which custom.slsSecrets.include/exclude leave out"
    )]
    Excluded { function: String, name: String },
    #[error(
        "custom.slsSecrets.functions names function `{function}`, which serverless.yml does not define"
    )]
    UnknownFunction { function: String },
    #[error(
        "custom.slsSecrets.functions is set, but `functions` is not a mapping of named functions"
    )]
    NoFunctions,
}

impl ScopeError {
    pub fn hint(&self) -> &'static str {
        match self {
            ScopeError::UnknownName { .. } => {
                "add it to the stage (`sls-secrets set --stage STAGE NAME`) or remove it from the list"
            }
            ScopeError::Excluded { .. } => "include it, or remove it from the function's list",
            ScopeError::UnknownFunction { .. } => "use the function's key under `functions:`",
            ScopeError::NoFunctions => "write `functions:` as a mapping of name to function",
        }
    }
}

/// Where the scope sends each secret, by index into the names it was given.
#[derive(Debug, Default, PartialEq)]
pub struct Scoped {
    /// To `provider.environment` (and the functions that would shadow them).
    pub provider: Vec<usize>,
    /// Only to these functions' environments.
    pub functions: Vec<(String, Vec<usize>)>,
}

impl Scope {
    /// Whether the scope says anything (a service without `custom.slsSecrets` takes all).
    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty() && self.functions.is_empty()
    }

    fn takes(&self, name: &str) -> bool {
        let matches = |patterns: &[String]| patterns.iter().any(|p| glob_matches(p, name));
        self.include.as_deref().is_none_or(matches) && !matches(&self.exclude)
    }

    /// Splits the stage's `names` between the provider environment and named functions.
    /// `functions`: the service's function names, `None` when they can't be listed.
    pub fn apply(&self, names: &[&str], functions: Option<&[&str]>) -> Result<Scoped, ScopeError> {
        let mut scoped = Scoped::default();
        let mut function_only = vec![false; names.len()];
        for (function, listed) in &self.functions {
            let known = functions.ok_or(ScopeError::NoFunctions)?;
            if !known.contains(&function.as_str()) {
                return Err(ScopeError::UnknownFunction {
                    function: function.clone(),
                });
            }
            let mut indices = Vec::new();
            for name in listed {
                let Some(index) = names.iter().position(|n| n == name) else {
                    return Err(ScopeError::UnknownName {
                        function: function.clone(),
                        name: name.clone(),
                    });
                };
                if !self.takes(name) {
                    return Err(ScopeError::Excluded {
                        function: function.clone(),
                        name: name.clone(),
                    });
                }
                function_only[index] = true;
                indices.push(index);
            }
            scoped.functions.push((function.clone(), indices));
        }
        scoped.provider = (0..names.len())
            .filter(|&i| !function_only[i] && self.takes(names[i]))
            .collect();
        Ok(scoped)
    }
}

/// An environment as the plugin sees it in the resolved service.
#[derive(Debug, Clone, PartialEq)]
pub enum Env {
    /// No `environment` (or a null one): created when secrets go there.
    Absent,
    /// A mapping: each key with the bytes Lambda will count for its value, and whether that
    /// is an estimate (an intrinsic counted as its JSON text).
    Map(Vec<(String, usize, bool)>),
    /// Not a mapping: an unresolved variable or anything else that can't be edited.
    Opaque,
}

/// The parts of a resolved service that decide where secrets go.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub provider: Env,
    /// Each function's name and environment; `None` when `functions` is not a mapping.
    pub functions: Option<Vec<(String, Env)>>,
}

/// Where each secret goes, by index into the stage's names.
#[derive(Debug, Default, PartialEq)]
pub struct Placement {
    /// Set in `provider.environment` (created when absent).
    pub provider: Vec<usize>,
    /// The provider environment was not a mapping: every function gets the provider secrets.
    pub variable_env: bool,
    /// The functions that get secrets, in the service's order.
    pub functions: Vec<FunctionPlacement>,
}

impl Placement {
    /// What the placement did beyond the provider environment, for a log: names, never values
    /// (function names escaped for the terminal).
    pub fn notes(&self, names: &[&str]) -> Vec<String> {
        let list = |keys: &[usize]| {
            keys.iter()
                .map(|&k| names[k])
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut notes = Vec::new();
        if self.variable_env {
            let functions: Vec<String> = self
                .functions
                .iter()
                .filter(|f| !f.from_provider.is_empty())
                .map(|f| crate::text::escape_control(&f.name).into_owned())
                .collect();
            notes.push(format!(
                "provider.environment is not a mapping, so the secrets were set in the environment of every function ({})",
                functions.join(", ")
            ));
        }
        for f in &self.functions {
            let name = crate::text::escape_control(&f.name);
            if !self.variable_env && !f.from_provider.is_empty() {
                notes.push(format!(
                    "function `{name}` sets {} in its own environment, which would shadow the secret; overridden there too",
                    list(&f.from_provider)
                ));
            }
            if !f.scoped.is_empty() {
                notes.push(format!(
                    "function `{name}` gets {} in its own environment only (custom.slsSecrets.functions)",
                    list(&f.scoped)
                ));
            }
        }
        notes
    }
}

/// What one function's own environment gets (created when absent).
#[derive(Debug, Default, PartialEq)]
pub struct FunctionPlacement {
    pub name: String,
    /// Provider secrets its environment would shadow (every one with `variable_env`).
    pub from_provider: Vec<usize>,
    /// Secrets `custom.slsSecrets.functions` sends to it only.
    pub scoped: Vec<usize>,
}

impl FunctionPlacement {
    /// Every secret set in this function's environment.
    pub fn all(&self) -> impl Iterator<Item = usize> + '_ {
        self.from_provider.iter().chain(&self.scoped).copied()
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlaceError {
    #[error("{0}")]
    Scope(#[from] ScopeError),
    #[error(
        "provider.environment is not a mapping and there are no functions to receive the secrets"
    )]
    NowhereToGo,
    #[error("{0}")]
    TooLarge(#[from] TooLarge),
}

impl PlaceError {
    pub fn hint(&self) -> &'static str {
        match self {
            PlaceError::Scope(e) => e.hint(),
            PlaceError::NowhereToGo => "make provider.environment a mapping of NAME: value",
            PlaceError::TooLarge(_) => {
                "move large values to SSM Parameter Store or Secrets Manager, or send names only to the functions that need them (custom.slsSecrets.functions)"
            }
        }
    }
}

/// Where each of `names` goes in `service` under `scope` (the rules of this module's doc),
/// then the 4 KB check: `value_len[i]` is the bytes Lambda counts for secret `i`, and the
/// merged environment of every function (or the provider's, without functions) must stay
/// under [`ENV_LIMIT`].
pub fn place(
    service: &Service,
    names: &[&str],
    value_len: &[usize],
    scope: &Scope,
) -> Result<Placement, PlaceError> {
    let placement = decide(service, names, scope)?;
    check_placed_sizes(service, names, value_len, &placement)?;
    Ok(placement)
}

/// Where each of `names` goes in `service` under `scope`, sizes aside (`render` checks them
/// on the edited file, where it knows every entry's size as written).
pub fn decide(service: &Service, names: &[&str], scope: &Scope) -> Result<Placement, PlaceError> {
    let function_names: Option<Vec<&str>> = service
        .functions
        .as_ref()
        .map(|f| f.iter().map(|(n, _)| n.as_str()).collect());
    let scoped = scope.apply(names, function_names.as_deref())?;
    let functions = service.functions.as_deref().unwrap_or(&[]);
    let mut placement = Placement {
        variable_env: matches!(service.provider, Env::Opaque),
        ..Placement::default()
    };
    if placement.variable_env && !scoped.provider.is_empty() && functions.is_empty() {
        return Err(PlaceError::NowhereToGo);
    }
    if !placement.variable_env {
        placement.provider.clone_from(&scoped.provider);
    }
    // A function environment's few keys are looked up among the names, not every name among
    // its keys: thousands of functions and hundreds of secrets stay linear.
    let service_wide: HashMap<&str, usize> =
        scoped.provider.iter().map(|&i| (names[i], i)).collect();
    for (name, env) in functions {
        let from_provider: Vec<usize> = match env {
            _ if placement.variable_env => scoped.provider.clone(),
            Env::Map(entries) => {
                let mut keys: Vec<usize> = entries
                    .iter()
                    .filter_map(|(k, _, _)| service_wide.get(k.as_str()).copied())
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                keys
            }
            Env::Absent | Env::Opaque => Vec::new(),
        };
        let scoped_here = scoped
            .functions
            .iter()
            .filter(|(f, _)| f == name)
            .flat_map(|(_, idx)| idx.iter().copied())
            .collect::<Vec<usize>>();
        if !from_provider.is_empty() || !scoped_here.is_empty() {
            placement.functions.push(FunctionPlacement {
                name: name.clone(),
                from_provider,
                scoped: scoped_here,
            });
        }
    }
    Ok(placement)
}

/// The resolved service the plugin sends (JSON, docs/npm.md): each environment as a mapping
/// of key to `[bytes, estimated]` (or `"opaque"`, or null), `functions` as a mapping of name
/// to `{"environment": ...}` (or null when it is not a mapping), and `slsSecrets` as written
/// under `custom`. Errors say which field is wrong.
pub fn read_service(json: &str) -> Result<(Service, Scope), String> {
    let docs = crate::yaml::parse(json).map_err(|e| format!("the service JSON: {e}"))?;
    let root = docs.first().map_or(&[][..], |d| &d.items[..]);
    let provider = match get(root, "provider") {
        Some(Value::Map(p)) => read_env(get(p, "environment"), "provider.environment")?,
        None | Some(Value::Null) => Env::Absent,
        Some(_) => return Err("`provider` must be an object".into()),
    };
    let functions = match get(root, "functions") {
        None => Some(Vec::new()),
        Some(Value::Null) => None,
        Some(Value::Map(list)) => Some(
            entries(list)
                .map(|(name, f)| {
                    let env = match f {
                        Value::Map(f) => read_env(get(f, "environment"), name)?,
                        _ => Env::Opaque,
                    };
                    Ok((name.to_owned(), env))
                })
                .collect::<Result<_, String>>()?,
        ),
        Some(_) => return Err("`functions` must be an object or null".into()),
    };
    let scope = match get(root, "slsSecrets") {
        None | Some(Value::Null) => Scope::default(),
        Some(Value::Map(settings)) => read_scope(settings)?,
        Some(_) => return Err("custom.slsSecrets must be a mapping".into()),
    };
    Ok((
        Service {
            provider,
            functions,
        },
        scope,
    ))
}

fn get<'a>(items: &'a [MapItem], key: &str) -> Option<&'a Value> {
    crate::yaml::value::get(items, key)
}

fn entries(items: &[MapItem]) -> impl Iterator<Item = (&str, &Value)> {
    items.iter().filter_map(|i| match i {
        MapItem::Entry(k, v) => Some((k.as_str(), v)),
        MapItem::Comment(_) => None,
    })
}

fn read_env(value: Option<&Value>, what: &str) -> Result<Env, String> {
    match value {
        None | Some(Value::Null) => Ok(Env::Absent),
        Some(Value::Str(s)) if s.as_str() == "opaque" => Ok(Env::Opaque),
        Some(Value::Map(items)) => entries(items)
            .map(|(key, size)| match size {
                Value::Seq(pair) => match pair.as_slice() {
                    [
                        SeqItem::Value(Value::Int(bytes)),
                        SeqItem::Value(Value::Bool(est)),
                    ] => Ok((key.to_owned(), usize::try_from(*bytes).unwrap_or(0), *est)),
                    _ => Err(format!("{what}.{key}: expected [bytes, estimated]")),
                },
                _ => Err(format!("{what}.{key}: expected [bytes, estimated]")),
            })
            .collect::<Result<_, _>>()
            .map(Env::Map),
        Some(_) => Err(format!("{what}: expected an object, \"opaque\" or null")),
    }
}

fn read_scope(settings: &[MapItem]) -> Result<Scope, String> {
    let names = |v: &Value, what: &str| -> Result<Vec<String>, String> {
        match v {
            Value::Str(s) => Ok(vec![s.to_string()]),
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Value(v) => Some(v),
                    SeqItem::Comment(_) => None,
                })
                .map(|v| match v {
                    Value::Str(s) => Ok(s.to_string()),
                    _ => Err(format!("{what}: expected names")),
                })
                .collect(),
            _ => Err(format!("{what}: expected a list of names")),
        }
    };
    let mut scope = Scope::default();
    for (key, value) in entries(settings) {
        match key {
            "include" => scope.include = Some(names(value, "custom.slsSecrets.include")?),
            "exclude" => scope.exclude = names(value, "custom.slsSecrets.exclude")?,
            "functions" => {
                let Value::Map(list) = value else {
                    return Err("custom.slsSecrets.functions: expected a mapping".into());
                };
                for (function, listed) in entries(list) {
                    let what = format!("custom.slsSecrets.functions.{function}");
                    scope
                        .functions
                        .push((function.to_owned(), names(listed, &what)?));
                }
            }
            // The plugin's: how the secrets are delivered (docs/sealed.md); placement is the same.
            "enabled" | "delivery" | "kmsKeyArn" => {}
            other => {
                return Err(format!(
                    "custom.slsSecrets has an unknown key `{other}` (include, exclude, functions, enabled, delivery, kmsKeyArn)"
                ));
            }
        }
    }
    Ok(scope)
}

/// serverless.yml's own entries of an environment, sized.
fn sized(env: &Env) -> Vec<SizedEntry<'static>> {
    match env {
        Env::Map(entries) => entries
            .iter()
            .map(|(k, size, est)| (Cow::Owned(k.clone()), *size, *est))
            .collect(),
        Env::Absent | Env::Opaque => Vec::new(),
    }
}

/// Sealed delivery's 4 KB check (docs/sealed.md): each sealed function's environment holds
/// serverless.yml's own entries (the provider's and its own) and, instead of the secrets, the
/// plugin's variables `added` (function → name and value bytes).
pub fn check_sealed_sizes(
    service: &Service,
    added: &[(String, Vec<(String, usize)>)],
) -> Result<(), TooLarge> {
    let functions: Vec<(String, Vec<SizedEntry<'static>>)> = service
        .functions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter_map(|(name, env)| {
            let (_, vars) = added.iter().find(|(f, _)| f == name)?;
            let mut out = sized(env);
            for (k, size) in vars {
                out.retain(|e| e.0 != *k);
                out.push((Cow::Owned(k.clone()), *size, false));
            }
            Some((name.clone(), out))
        })
        .collect();
    let unknown = matches!(service.provider, Env::Opaque);
    check_merged_sizes(
        sized(&service.provider),
        unknown,
        functions.into_iter(),
        ENV_LIMIT,
    )
}

/// The 4 KB check on the environments `placement` produces.
fn check_placed_sizes(
    service: &Service,
    names: &[&str],
    value_len: &[usize],
    placement: &Placement,
) -> Result<(), TooLarge> {
    let with = |env: &Env, added: &[usize]| -> Vec<SizedEntry<'static>> {
        let mut out = sized(env);
        for &i in added {
            match out.iter_mut().find(|e| e.0 == names[i]) {
                Some(e) => *e = (Cow::Owned(names[i].to_owned()), value_len[i], false),
                None => out.push((Cow::Owned(names[i].to_owned()), value_len[i], false)),
            }
        }
        out
    };
    let provider = with(&service.provider, &placement.provider);
    let functions: Vec<(String, Vec<SizedEntry<'static>>)> = service
        .functions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|(name, env)| {
            let added: Vec<usize> = placement
                .functions
                .iter()
                .filter(|f| &f.name == name)
                .flat_map(FunctionPlacement::all)
                .collect();
            (name.clone(), with(env, &added))
        })
        .collect();
    let unknown = matches!(service.provider, Env::Opaque);
    check_merged_sizes(provider, unknown, functions.into_iter(), ENV_LIMIT)
}

/// (key, bytes of its value, whether the size is an estimate) of one environment entry.
pub type SizedEntry<'a> = (Cow<'a, str>, usize, bool);

/// A function's merged environment over the limit. Never holds a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", too_large_message(self))]
pub struct TooLarge {
    /// The function, or `provider.environment` for a service without functions.
    pub function: String,
    pub bytes: usize,
    pub limit: usize,
    /// The three largest entries (key and bytes of key plus value).
    pub largest_keys: Vec<(String, usize)>,
    /// Some sizes are estimates (unresolved variables, intrinsics counted as written).
    pub estimated: bool,
}

fn too_large_message(e: &TooLarge) -> String {
    let keys: Vec<String> = e
        .largest_keys
        .iter()
        .map(|(k, s)| format!("{k} ({s} bytes)"))
        .collect();
    let est = if e.estimated {
        " (an estimate: some values are unresolved `${...}` variables or CloudFormation intrinsics, counted as written)"
    } else {
        ""
    };
    format!(
        "function `{}`: merged environment is {} bytes{est}, over the {}-byte Lambda limit; largest keys: {}",
        e.function,
        e.bytes,
        e.limit,
        keys.join(", ")
    )
}

/// Each function's environment merged over the provider's (the function's keys win), checked
/// against `limit`; without functions, the provider's alone. Linear: each function's total is
/// the provider total adjusted by the function's own entries; the merged list (for the
/// message) is built only for a function over the limit.
pub fn check_merged_sizes<'a>(
    provider_entries: Vec<SizedEntry<'a>>,
    provider_unknown: bool,
    functions: impl ExactSizeIterator<Item = (String, Vec<SizedEntry<'a>>)>,
    limit: usize,
) -> Result<(), TooLarge> {
    let provider_at: HashMap<&str, usize> = provider_entries
        .iter()
        .enumerate()
        .map(|(i, e)| (&*e.0, i))
        .collect();
    let provider_total: usize = provider_entries.iter().map(|(k, s, _)| k.len() + s).sum();
    let too_large = |label: &str, entries: Vec<(String, usize, bool)>| -> TooLarge {
        let total: usize = entries.iter().map(|(k, s, _)| k.len() + s).sum();
        let mut largest: Vec<(String, usize)> = entries
            .iter()
            .map(|(k, s, _)| (k.clone(), k.len() + s))
            .collect();
        largest.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        largest.truncate(3);
        TooLarge {
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
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> Env {
        Env::Map(keys.iter().map(|k| ((*k).to_owned(), 1, false)).collect())
    }

    fn service(provider: Env, functions: &[(&str, Env)]) -> Service {
        Service {
            provider,
            functions: Some(
                functions
                    .iter()
                    .map(|(n, e)| ((*n).to_owned(), e.clone()))
                    .collect(),
            ),
        }
    }

    const NAMES: &[&str] = &["DB_PASSWORD", "API_KEY", "STRIPE_KEY"];
    const LENS: &[usize] = &[10, 10, 10];

    #[test]
    fn secrets_go_to_the_provider_and_to_functions_that_would_shadow_them() {
        let s = service(
            map(&["LOG_LEVEL"]),
            &[("api", map(&["API_KEY"])), ("worker", Env::Absent)],
        );
        let p = place(&s, NAMES, LENS, &Scope::default()).unwrap();
        assert_eq!(p.provider, [0, 1, 2]);
        assert_eq!(
            p.functions,
            [FunctionPlacement {
                name: "api".into(),
                from_provider: vec![1],
                scoped: vec![]
            }]
        );
        assert!(!p.variable_env);
    }

    #[test]
    fn a_variable_provider_environment_sends_them_to_every_function() {
        let s = service(
            Env::Opaque,
            &[("api", Env::Absent), ("worker", map(&["X"]))],
        );
        let p = place(&s, NAMES, LENS, &Scope::default()).unwrap();
        assert!(p.provider.is_empty() && p.variable_env);
        assert_eq!(p.functions.len(), 2);
        let none = service(Env::Opaque, &[]);
        assert_eq!(
            place(&none, NAMES, LENS, &Scope::default()),
            Err(PlaceError::NowhereToGo)
        );
    }

    #[test]
    fn scope_narrows_the_service_and_sends_names_to_named_functions_only() {
        let scope = Scope {
            include: Some(vec!["*_KEY".into(), "DB_*".into()]),
            exclude: vec!["API_*".into()],
            functions: vec![("payments".into(), vec!["STRIPE_KEY".into()])],
        };
        let s = service(
            map(&[]),
            &[("payments", Env::Absent), ("web", map(&["STRIPE_KEY"]))],
        );
        let p = place(&s, NAMES, LENS, &scope).unwrap();
        assert_eq!(
            p.provider,
            [0],
            "DB_PASSWORD only: API_KEY excluded, STRIPE_KEY scoped"
        );
        // web sets STRIPE_KEY itself but is not listed: it keeps its own value.
        assert_eq!(
            p.functions,
            [FunctionPlacement {
                name: "payments".into(),
                from_provider: vec![],
                scoped: vec![2]
            }]
        );
    }

    #[test]
    fn scope_mistakes_name_what_is_wrong() {
        let s = service(map(&[]), &[("api", Env::Absent)]);
        let scope = |function: &str, name: &str| Scope {
            functions: vec![(function.into(), vec![name.into()])],
            ..Scope::default()
        };
        assert_eq!(
            place(&s, NAMES, LENS, &scope("api", "NOPE")),
            Err(ScopeError::UnknownName {
                function: "api".into(),
                name: "NOPE".into()
            }
            .into())
        );
        assert_eq!(
            place(&s, NAMES, LENS, &scope("web", "API_KEY")),
            Err(ScopeError::UnknownFunction {
                function: "web".into()
            }
            .into())
        );
        let excluded = Scope {
            exclude: vec!["API_KEY".into()],
            ..scope("api", "API_KEY")
        };
        assert!(matches!(
            place(&s, NAMES, LENS, &excluded),
            Err(PlaceError::Scope(ScopeError::Excluded { .. }))
        ));
        let listed = Service {
            provider: map(&[]),
            functions: None,
        };
        assert_eq!(
            place(&listed, NAMES, LENS, &scope("api", "API_KEY")),
            Err(ScopeError::NoFunctions.into())
        );
    }

    #[test]
    fn the_merged_environment_of_each_function_stays_under_4_kb() {
        let s = service(
            Env::Map(vec![("BIG".into(), 3000, false)]),
            &[("api", Env::Absent)],
        );
        let e = place(&s, NAMES, &[10, 2000, 10], &Scope::default()).unwrap_err();
        let PlaceError::TooLarge(e) = e else {
            panic!("{e}")
        };
        assert_eq!(e.function, "api");
        assert_eq!(e.largest_keys[0], ("BIG".into(), 3003));
        // Sent to one function only, it fits.
        let scope = Scope {
            functions: vec![("api".into(), vec!["API_KEY".into()])],
            exclude: vec!["*".into()],
            ..Scope::default()
        };
        assert!(matches!(
            place(&s, NAMES, &[10, 2000, 10], &scope),
            Err(PlaceError::Scope(ScopeError::Excluded { .. }))
        ));
        let scope = Scope {
            functions: vec![("api".into(), vec!["API_KEY".into()])],
            include: Some(vec!["API_KEY".into()]),
            ..Scope::default()
        };
        let s2 = service(
            Env::Map(vec![("BIG".into(), 1000, false)]),
            &[("api", Env::Absent), ("web", Env::Absent)],
        );
        let p = place(&s2, NAMES, &[10, 2000, 10], &scope).unwrap();
        assert!(p.provider.is_empty());
    }

    #[test]
    fn sealed_variables_count_against_4_kb() {
        let s = service(
            Env::Map(vec![("BIG".into(), 3000, false)]),
            &[("api", Env::Absent), ("cron", Env::Absent)],
        );
        let vars = |mac: usize| vec![("SLS_SECRETS_SEALED_MAC".to_owned(), mac)];
        assert!(check_sealed_sizes(&s, &[("api".into(), vars(600))]).is_ok());
        let e = check_sealed_sizes(&s, &[("api".into(), vars(1100))]).unwrap_err();
        assert_eq!(e.function, "api");
        // Only the function given the variables is counted with them.
        let e = check_sealed_sizes(&s, &[("cron".into(), vars(1100))]).unwrap_err();
        assert_eq!(e.function, "cron");
    }
}
