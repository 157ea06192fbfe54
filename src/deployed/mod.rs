//! What is deployed against what git holds (`status`): each function of a stage's stack is
//! compared, in memory, with the environment the stage's secrets would give it, placed by
//! Lambda's rules exactly as `render` and the plugin place them ([`crate::lambda::decide`] on
//! serverless.yml as the render reads it, [`crate::render::read_service_file`]).
//!
//! Per function, each name is one of [`State`]: `current`, `stale` (the deployed value
//! differs), `missing` (git places it there, the function doesn't have it), `extra` (the
//! function has it, but neither the stage's placement nor serverless.yml's environments
//! (provider's and the function's own) account for it: a secret removed from git, or scoped
//! away, still deployed). Only names leave this module; values are compared and dropped.

pub mod aws;
mod error;
mod json;
mod xml;

use std::collections::{HashMap, HashSet};

pub use aws::{FunctionEnv, StackResource};
pub use error::DeployedError;

use crate::lambda::{self, Env, PlaceError};
use crate::render::ServiceFile;
use crate::yaml::Text;

/// Variables the plugin sets for sealed delivery: ours, never `extra`.
const PLUMBING: [&str; 2] = [crate::sealed::PAYLOAD_VAR, "AWS_LAMBDA_EXEC_WRAPPER"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Current,
    Stale,
    Missing,
    Extra,
}

impl State {
    pub const ALL: [State; 4] = [State::Current, State::Stale, State::Missing, State::Extra];

    pub fn name(self) -> &'static str {
        match self {
            State::Current => "current",
            State::Stale => "stale",
            State::Missing => "missing",
            State::Extra => "extra",
        }
    }
}

/// One function of serverless.yml against its deployed configuration. Names only.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStatus {
    /// The function's key under `functions:`.
    pub function: String,
    /// Its deployed name (the stack's physical ID); `None`: the stack has no such function.
    pub deployed_as: Option<String>,
    /// Each name's state, by state then name.
    pub names: Vec<(String, State)>,
    /// serverless.yml's environment is a variable here: `extra` can't be told.
    pub extra_unknown: bool,
}

impl FunctionStatus {
    pub fn with(&self, state: State) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(move |(_, s)| *s == state)
            .map(|(n, _)| n.as_str())
    }
}

/// A stage's functions; [`StageStatus::behind`] when any name is stale or missing.
#[derive(Debug, Clone, PartialEq)]
pub struct StageStatus {
    pub functions: Vec<FunctionStatus>,
}

impl StageStatus {
    pub fn behind(&self) -> bool {
        self.functions.iter().any(|f| {
            f.names
                .iter()
                .any(|(_, s)| matches!(s, State::Stale | State::Missing))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{0}")]
    Place(#[from] PlaceError),
    #[error("{0}")]
    Deployed(#[from] DeployedError),
    #[error("`functions` in serverless.yml is not a mapping, so its functions can't be named")]
    NoFunctions,
}

impl StatusError {
    pub fn hint(&self) -> Option<String> {
        match self {
            StatusError::Place(e) => Some(e.hint().to_owned()),
            StatusError::Deployed(e) => e.hint(),
            StatusError::NoFunctions => {
                Some("write `functions:` as a mapping of name to function".into())
            }
        }
    }
}

/// What `status` reads from AWS (the real one is [`aws::Aws`]; tests fake it).
pub trait Deployed {
    fn stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, DeployedError>;
    fn function_env(&self, name: &str) -> Result<FunctionEnv, DeployedError>;
}

impl Deployed for aws::Aws {
    fn stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, DeployedError> {
        self.list_stack_resources(stack)
    }
    fn function_env(&self, name: &str) -> Result<FunctionEnv, DeployedError> {
        aws::Aws::function_env(self, name)
    }
}

/// The stack's logical ID Serverless gives function `name`: `hello-world_2` →
/// `HelloDashworldUnderscore2LambdaFunction` (its naming.getLambdaLogicalId).
pub fn logical_id(name: &str) -> String {
    let normalized = name.replace('-', "Dash").replace('_', "Underscore");
    let mut chars = normalized.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!(
        "{}{}LambdaFunction",
        first.unwrap_or_default(),
        chars.as_str()
    )
}

/// The stack's name: `provider.stackName` as written, else `<service>-<stage>`.
pub fn stack_name(file: &ServiceFile, stage: &str) -> Option<String> {
    match (&file.stack_name, &file.service) {
        (Some(name), _) => Some(name.clone()),
        (None, Some(service)) => Some(format!("{service}-{stage}")),
        (None, None) => None,
    }
}

/// Compares every function of `file` with what `stack` has deployed, for the stage's
/// `secrets` (names and values, in stage-file order).
pub fn stage_status(
    file: &ServiceFile,
    stack: &str,
    secrets: &[(String, Text)],
    deployed: &dyn Deployed,
) -> Result<StageStatus, StatusError> {
    let functions = file
        .shape
        .functions
        .as_deref()
        .ok_or(StatusError::NoFunctions)?;
    let names: Vec<&str> = secrets.iter().map(|(n, _)| n.as_str()).collect();
    let placement = lambda::decide(&file.shape, &names, &file.scope)?;
    let resources = deployed.stack_resources(stack)?;
    let physical: HashMap<&str, &str> = resources
        .iter()
        .filter(|r| r.resource_type == "AWS::Lambda::Function")
        .map(|r| (r.logical_id.as_str(), r.physical_id.as_str()))
        .collect();
    let mut out = Vec::with_capacity(functions.len());
    for (function, env) in functions {
        let mut expected: Vec<usize> = placement.provider.clone();
        if let Some(f) = placement.functions.iter().find(|f| &f.name == function) {
            expected.extend(f.all());
        }
        expected.sort_unstable();
        expected.dedup();
        let (defined, extra_unknown) = defined_keys(&file.shape.provider, env);
        let deployed_as = physical.get(logical_id(function).as_str()).copied();
        let deployed_env = match deployed_as {
            Some(name) => Some(deployed.function_env(name)?),
            None => None,
        };
        let mut status = FunctionStatus {
            function: function.clone(),
            deployed_as: deployed_as.map(str::to_owned),
            names: Vec::new(),
            extra_unknown,
        };
        let want: Vec<(&str, &Text)> = expected
            .iter()
            .map(|&i| (names[i], &secrets[i].1))
            .collect();
        compare(&want, deployed_env.as_ref(), &defined, &mut status);
        out.push(status);
    }
    Ok(StageStatus { functions: out })
}

/// The keys serverless.yml's environments set for a function (the provider's and its own),
/// and whether one is a variable (then anything may be defined: no `extra`).
fn defined_keys<'a>(provider: &'a Env, own: &'a Env) -> (HashSet<&'a str>, bool) {
    let mut keys = HashSet::new();
    let mut unknown = false;
    for env in [provider, own] {
        match env {
            Env::Map(entries) => keys.extend(entries.iter().map(|(k, _, _)| k.as_str())),
            Env::Opaque => unknown = true,
            Env::Absent => {}
        }
    }
    (keys, unknown)
}

/// Each wanted name's state in the deployed environment (all `missing` when the function is
/// not deployed), then the deployed names nothing accounts for (`extra`).
fn compare(
    want: &[(&str, &Text)],
    deployed: Option<&FunctionEnv>,
    defined: &HashSet<&str>,
    status: &mut FunctionStatus,
) {
    let have: HashMap<&str, &Text> = deployed
        .map(|d| d.vars.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default();
    for (name, value) in want {
        let state = match have.get(name) {
            None => State::Missing,
            Some(v) if v.as_bytes() == value.as_bytes() => State::Current,
            Some(_) => State::Stale,
        };
        status.names.push(((*name).to_owned(), state));
    }
    if !status.extra_unknown {
        let wanted: HashSet<&str> = want.iter().map(|(n, _)| *n).collect();
        for name in have.keys() {
            if !wanted.contains(name) && !defined.contains(name) && !PLUMBING.contains(name) {
                status.names.push(((*name).to_owned(), State::Extra));
            }
        }
    }
    status.names.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_as_serverless() {
        assert_eq!(logical_id("hello"), "HelloLambdaFunction");
        assert_eq!(
            logical_id("hello-world_2"),
            "HelloDashworldUnderscore2LambdaFunction"
        );
    }

    struct Fake {
        env: Vec<(&'static str, &'static str)>,
    }

    impl Deployed for Fake {
        fn stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, DeployedError> {
            assert_eq!(stack, "svc-dev");
            Ok(vec![StackResource {
                logical_id: "HelloLambdaFunction".into(),
                physical_id: "svc-dev-hello".into(),
                resource_type: "AWS::Lambda::Function".into(),
            }])
        }
        fn function_env(&self, name: &str) -> Result<FunctionEnv, DeployedError> {
            assert_eq!(name, "svc-dev-hello");
            let vars = self
                .env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Text::new((*v).to_owned())))
                .collect();
            Ok(FunctionEnv { vars })
        }
    }

    fn secrets(pairs: &[(&str, &str)]) -> Vec<(String, Text)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Text::new((*v).to_owned())))
            .collect()
    }

    const YML: &str = "service: svc\nprovider:\n  name: aws\n  environment:\n    PLAIN: x\nfunctions:\n  hello:\n    handler: h.h\n  other:\n    handler: h.h\ncustom:\n  slsSecrets:\n    exclude: [SKIPPED]\n";

    #[test]
    fn states() {
        let file = crate::render::read_service_file(YML).unwrap();
        assert_eq!(stack_name(&file, "dev").as_deref(), Some("svc-dev"));
        let fake = Fake {
            env: vec![
                ("PLAIN", "x"),
                ("SAME", "1"),
                ("OLD", "old"),
                ("GONE", "was"),
                ("SKIPPED", "s"),
                ("SLS_SECRETS_SEALED", "p"),
            ],
        };
        let s = secrets(&[
            ("SAME", "1"),
            ("OLD", "new"),
            ("NEW", "n"),
            ("SKIPPED", "s"),
        ]);
        let status = stage_status(&file, "svc-dev", &s, &fake).unwrap();
        assert!(status.behind());
        let hello = &status.functions[0];
        assert_eq!(hello.deployed_as.as_deref(), Some("svc-dev-hello"));
        let got: Vec<(&str, &str)> = hello
            .names
            .iter()
            .map(|(n, s)| (n.as_str(), s.name()))
            .collect();
        assert_eq!(
            got,
            [
                ("SAME", "current"),
                ("OLD", "stale"),
                ("NEW", "missing"),
                ("GONE", "extra"),
                ("SKIPPED", "extra"),
            ]
        );
        let other = &status.functions[1];
        assert_eq!(other.deployed_as, None);
        assert_eq!(other.with(State::Missing).count(), 3);
    }

    /// Which names each function is expected to have, by `status` (names in order).
    fn expected(yml: &str, names: &[&str]) -> Vec<(String, Vec<String>)> {
        struct Nothing;
        impl Deployed for Nothing {
            fn stack_resources(&self, _: &str) -> Result<Vec<StackResource>, DeployedError> {
                Ok(Vec::new())
            }
            fn function_env(&self, _: &str) -> Result<FunctionEnv, DeployedError> {
                unreachable!("no function is deployed")
            }
        }
        let file = crate::render::read_service_file(yml).unwrap();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, "v")).collect();
        let status = stage_status(&file, "s", &secrets(&pairs), &Nothing).unwrap();
        status
            .functions
            .iter()
            .map(|f| {
                let missing = f.with(State::Missing).map(str::to_owned).collect();
                (f.function.clone(), missing)
            })
            .collect()
    }

    #[test]
    fn stack_names_as_serverless() {
        let file = |y: &str| crate::render::read_service_file(y).unwrap();
        let named = file("service:\n  name: old-form\nprovider:\n  region: eu-west-1\n");
        assert_eq!(stack_name(&named, "prod").as_deref(), Some("old-form-prod"));
        assert_eq!(named.region.as_deref(), Some("eu-west-1"));
        let custom = file("service: s\nprovider:\n  stackName: my-stack\n");
        assert_eq!(stack_name(&custom, "prod").as_deref(), Some("my-stack"));
        assert_eq!(stack_name(&file("provider: {}\n"), "prod"), None);
    }

    #[test]
    fn placed_as_render_places() {
        // Scoped to one function: only that one is expected to have it.
        let yml = "service: s\nfunctions:\n  a:\n    handler: h\n  b:\n    handler: h\ncustom:\n  slsSecrets:\n    functions:\n      b: [ONLY_B]\n";
        assert_eq!(
            expected(yml, &["ALL", "ONLY_B"]),
            [
                ("a".to_owned(), vec!["ALL".to_owned()]),
                ("b".to_owned(), vec!["ALL".to_owned(), "ONLY_B".to_owned()]),
            ]
        );
        // A variable provider environment: every function gets them, `extra` not checked.
        let yml = "service: s\nprovider:\n  environment: ${file(env.yml)}\nfunctions:\n  a:\n    handler: h\n";
        assert_eq!(
            expected(yml, &["X"]),
            [("a".to_owned(), vec!["X".to_owned()])]
        );
        let file = crate::render::read_service_file(yml).unwrap();
        let (_, unknown) = defined_keys(&file.shape.provider, &Env::Absent);
        assert!(unknown);
        // Excluded names are expected nowhere.
        let yml = "service: s\nfunctions:\n  a:\n    handler: h\ncustom:\n  slsSecrets:\n    exclude: [NOT_*]\n";
        assert_eq!(
            expected(yml, &["NOT_ME", "ME"]),
            [("a".to_owned(), vec!["ME".to_owned()])]
        );
    }

    #[test]
    fn current_is_not_behind() {
        let file = crate::render::read_service_file(YML).unwrap();
        let fake = Fake {
            env: vec![("PLAIN", "x"), ("A", "1")],
        };
        let yml_one = YML.replace("  other:\n    handler: h.h\n", "");
        let file_one = crate::render::read_service_file(&yml_one).unwrap();
        let status = stage_status(&file_one, "svc-dev", &secrets(&[("A", "1")]), &fake).unwrap();
        assert!(!status.behind(), "{status:?}");
        assert!(
            stage_status(&file, "svc-dev", &secrets(&[("A", "1")]), &fake)
                .unwrap()
                .behind()
        );
    }
}
