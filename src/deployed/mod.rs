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
use crate::sealed::{MacVarError, SealError, SealedMac};
use crate::yaml::Text;

/// Variables the plugin sets for sealed delivery: ours, never `extra`.
const PLUMBING: [&str; 3] = [
    crate::sealed::PAYLOAD_VAR,
    crate::sealed::MAC_VAR,
    crate::sealed::WRAPPER_VAR,
];

/// Why a sealed function's names are all `stale` (its MAC can't tell which name differs).
pub const SEALED_DIFFERS: &str =
    "sealed: the deployed payload differs from git (which names, its MAC can't tell): redeploy";
/// A sealed function deployed without [`crate::sealed::MAC_VAR`].
pub const SEALED_UNCOMPARABLE: &str = "sealed: deployed without SLS_SECRETS_SEALED_MAC, so it can't be compared: redeploy to make it comparable";

/// Compares a sealed function's [`SealedMac`] with the names and values git gives it
/// (`status` opens the MAC with KMS; tests fake it).
pub type SealedCheck<'a> = &'a dyn Fn(&SealedMac, &[(&str, &Text)]) -> Result<bool, SealError>;

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
    /// Why its names are stale as a whole (sealed delivery).
    pub note: Option<&'static str>,
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
    #[error("function `{function}` ({deployed_as}): {source}")]
    MacVar {
        function: String,
        deployed_as: String,
        #[source]
        source: MacVarError,
    },
    #[error("function `{function}` ({deployed_as}): {source}")]
    Sealed {
        function: String,
        deployed_as: String,
        #[source]
        source: Box<SealError>,
    },
}

impl StatusError {
    pub fn hint(&self) -> Option<String> {
        match self {
            StatusError::Place(e) => Some(e.hint().to_owned()),
            StatusError::Deployed(e) => e.hint(),
            StatusError::NoFunctions => {
                Some("write `functions:` as a mapping of name to function".into())
            }
            StatusError::MacVar { .. } => {
                Some("deploy the service again from its repository (the plugin sets it)".into())
            }
            StatusError::Sealed { source, .. } => source.hint(),
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
/// `secrets` (names and values, in stage-file order). `sealed`: the service's delivery is
/// sealed, and this compares a function's payload (its names all one state).
pub fn stage_status(
    file: &ServiceFile,
    stack: &str,
    secrets: &[(String, Text)],
    deployed: &dyn Deployed,
    sealed: Option<SealedCheck>,
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
        let expected = crate::sealed::share(&placement, function);
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
            note: None,
        };
        let want: Vec<(&str, &Text)> = expected
            .iter()
            .map(|&i| (names[i], &secrets[i].1))
            .collect();
        let whole = match (sealed, &deployed_env) {
            (Some(check), Some(env)) if !want.is_empty() => {
                let state = sealed_state(check, env, &want, &status)?;
                status.note = match state {
                    State::Current => None,
                    _ if env.vars.iter().any(|(k, _)| k == crate::sealed::MAC_VAR) => {
                        Some(SEALED_DIFFERS)
                    }
                    _ => Some(SEALED_UNCOMPARABLE),
                };
                Some(state)
            }
            _ => None,
        };
        compare(&want, deployed_env.as_ref(), &defined, whole, &mut status);
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

/// A deployed sealed function's state as a whole: `current` when its
/// [`crate::sealed::MAC_VAR`] matches `want`, else `stale` (also when it has none).
fn sealed_state(
    check: SealedCheck,
    env: &FunctionEnv,
    want: &[(&str, &Text)],
    status: &FunctionStatus,
) -> Result<State, StatusError> {
    let Some((_, var)) = env.vars.iter().find(|(k, _)| k == crate::sealed::MAC_VAR) else {
        return Ok(State::Stale);
    };
    let deployed_as = status.deployed_as.clone().unwrap_or_default();
    let mac = SealedMac::parse(var.as_str()).map_err(|source| StatusError::MacVar {
        function: status.function.clone(),
        deployed_as: deployed_as.clone(),
        source,
    })?;
    let same = check(&mac, want).map_err(|source| StatusError::Sealed {
        function: status.function.clone(),
        deployed_as,
        source: Box::new(source),
    })?;
    Ok(if same { State::Current } else { State::Stale })
}

/// Each wanted name's state in the deployed environment (all `missing` when the function is
/// not deployed; all `whole` when given: a sealed function), then the deployed names nothing
/// accounts for (`extra`).
fn compare(
    want: &[(&str, &Text)],
    deployed: Option<&FunctionEnv>,
    defined: &HashSet<&str>,
    whole: Option<State>,
    status: &mut FunctionStatus,
) {
    let have: HashMap<&str, &Text> = deployed
        .map(|d| d.vars.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default();
    for (name, value) in want {
        let state = match (whole, have.get(name)) {
            (Some(state), _) => state,
            (None, None) => State::Missing,
            (None, Some(v)) if v.as_bytes() == value.as_bytes() => State::Current,
            (None, Some(_)) => State::Stale,
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
        let status = stage_status(&file, "svc-dev", &s, &fake, None).unwrap();
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
        let status = stage_status(&file, "s", &secrets(&pairs), &Nothing, None).unwrap();
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
        let status =
            stage_status(&file_one, "svc-dev", &secrets(&[("A", "1")]), &fake, None).unwrap();
        assert!(!status.behind(), "{status:?}");
        assert!(
            stage_status(&file, "svc-dev", &secrets(&[("A", "1")]), &fake, None)
                .unwrap()
                .behind()
        );
    }

    #[test]
    fn sealed_functions_are_compared_as_a_whole() {
        let yml = YML.replace("  other:\n    handler: h.h\n", "");
        let file = crate::render::read_service_file(&yml).unwrap();
        let s = secrets(&[("A", "1"), ("B", "2")]);
        let var = "1 arn:aws:kms:eu-west-1:111122223333:key/abc AQID 2026-12-07T02:00:00Z ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str] x";
        let run = |env: Vec<(&'static str, &'static str)>, same: bool| {
            let check = move |_: &SealedMac, want: &[(&str, &Text)]| {
                assert_eq!(want.len(), 2);
                Ok(same)
            };
            stage_status(&file, "svc-dev", &s, &Fake { env }, Some(&check))
        };
        let states = |st: &StageStatus| -> Vec<(String, &'static str)> {
            st.functions[0]
                .names
                .iter()
                .map(|(n, s)| (n.clone(), s.name()))
                .collect()
        };
        let plumbing = vec![
            ("PLAIN", "x"),
            ("SLS_SECRETS_SEALED", "p"),
            ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/w"),
            ("SLS_SECRETS_SEALED_MAC", var),
        ];
        let current = run(plumbing.clone(), true).unwrap();
        assert!(!current.behind());
        assert_eq!(
            states(&current),
            [("A".into(), "current"), ("B".into(), "current")]
        );
        assert_eq!(current.functions[0].note, None);
        let stale = run(plumbing.clone(), false).unwrap();
        assert!(stale.behind());
        assert_eq!(
            states(&stale),
            [("A".into(), "stale"), ("B".into(), "stale")]
        );
        assert_eq!(stale.functions[0].note, Some(SEALED_DIFFERS));
        // Deployed before the variable existed: stale, with the redeploy hint.
        let old = run(plumbing[..3].to_vec(), true).unwrap();
        assert_eq!(states(&old), [("A".into(), "stale"), ("B".into(), "stale")]);
        assert_eq!(old.functions[0].note, Some(SEALED_UNCOMPARABLE));
        // An altered variable is an error naming the function, not a state.
        let mut bad = plumbing.clone();
        bad[3].1 = "1 garbage";
        let e = run(bad, true).unwrap_err();
        assert!(matches!(&e, StatusError::MacVar { function, .. } if function == "hello"));
        assert!(e.to_string().contains("SLS_SECRETS_SEALED_MAC"), "{e}");
    }
}
