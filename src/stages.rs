//! Stage rules (`.sls-secrets.yml`): where a stage without a secrets file of its own gets its
//! secrets. Seed deploys a stage per branch and pull request; `pr-42` should get `dev`'s
//! secrets (and its own file's on top, when it has one), and a `local` stage none, on purpose.
//!
//! ```yaml
//! stages:
//!   - match: "pr-*"      # a glob on the stage name; the first matching rule wins
//!     from: dev          # dev's secrets, pr-*'s own file layered on top
//!   - match: local
//!     none: true         # no secrets, on purpose
//! ```
//!
//! A stage with its own file and no rule reads that file, as before; a stage with neither is an
//! error (a typo in `prod` must never deploy without secrets). `from` may chain to a small
//! depth; a cycle, a `from` that resolves to nothing, an unknown key or a bad glob is refused
//! with the file and line.

use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::glob::glob_matches;
use crate::keys::AgeIdentities;
use crate::store;
use crate::yaml::Text;

pub const RULES_FILE: &str = ".sls-secrets.yml";
/// `from` chains deeper than this are refused: a few levels (pr → staging → dev) is all a team
/// needs, and a bound keeps a mistake from hiding behind a long chain.
pub const MAX_CHAIN: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}:{line}: {what}")]
    Invalid {
        path: String,
        line: usize,
        what: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl RulesError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RulesError::Invalid { .. } => Some(
                "each rule is `- match: GLOB` with `from: STAGE` or `none: true` (README: Preview and branch stages)"
                    .into(),
            ),
            RulesError::Io { .. } => None,
        }
    }
}

/// What a matching rule does.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// The secrets of another stage, the matching stage's own file on top.
    From(String),
    /// No secrets, on purpose.
    None,
}

/// One rule of the file.
#[derive(Clone, Debug)]
pub struct Rule {
    pub pattern: String,
    pub action: Action,
    /// Where it is written (its `match`), for messages.
    pub line: usize,
    /// Where its `from` or `none` is written, for errors about where it leads.
    pub action_line: usize,
}

/// A parsed `.sls-secrets.yml`.
#[derive(Debug)]
pub struct StageRules {
    pub path: PathBuf,
    pub rules: Vec<Rule>,
}

/// The nearest `.sls-secrets.yml` from `start` up to the repository root (as `secrets/` is
/// found); outside a repository, `start` only.
pub fn find(start: &Path) -> Option<PathBuf> {
    let in_repo = start.ancestors().any(|d| d.join(".git").exists());
    for dir in start.ancestors() {
        let candidate = dir.join(RULES_FILE);
        if candidate.exists() {
            return Some(candidate);
        }
        if !in_repo || dir.join(".git").exists() {
            break;
        }
    }
    None
}

impl StageRules {
    pub fn load(path: &Path) -> Result<StageRules, RulesError> {
        let text = crate::files::read_text(path).map_err(|source| RulesError::Io {
            path: path.display().to_string(),
            source,
        })?;
        StageRules::parse(path, &text)
    }

    /// Parses the text of a rules file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<StageRules, RulesError> {
        let shown = path.display().to_string();
        let invalid = |line: usize, what: String| RulesError::Invalid {
            path: shown.clone(),
            line,
            what,
        };
        let root = read_tree(text).map_err(|(line, what)| invalid(line, what))?;
        let mut rules = Vec::new();
        let Some(root) = root else {
            return Ok(StageRules {
                path: path.to_owned(),
                rules,
            });
        };
        let Node::Map(entries) = &root.node else {
            return Err(invalid(
                root.line,
                "expected a mapping with `stages:`".into(),
            ));
        };
        for (key, value) in entries {
            if key.text != "stages" {
                return Err(invalid(
                    key.line,
                    format!("unknown key `{}` (the file holds `stages:`)", key.text),
                ));
            }
            let Node::Seq(items) = &value.node else {
                return Err(invalid(
                    value.line,
                    "`stages` must be a list of rules".into(),
                ));
            };
            for item in items {
                rules.push(parse_rule(item).map_err(|(line, what)| invalid(line, what))?);
            }
        }
        Ok(StageRules {
            path: path.to_owned(),
            rules,
        })
    }

    /// The first rule whose glob matches `stage`.
    pub fn rule_for(&self, stage: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| glob_matches(&r.pattern, stage))
    }
}

fn parse_rule(item: &Located) -> Result<Rule, (usize, String)> {
    let Node::Map(entries) = &item.node else {
        return Err((item.line, "a rule is a mapping: `- match: GLOB`".into()));
    };
    let (mut pattern, mut from, mut none) = (None, None, None);
    for (key, value) in entries {
        let Node::Scalar(text) = &value.node else {
            return Err((value.line, format!("`{}` takes a single value", key.text)));
        };
        match key.text.as_str() {
            "match" => pattern = Some(text.clone()),
            "from" => from = Some((text.clone(), value.line)),
            "none" if text == "true" => none = Some((true, value.line)),
            "none" if text == "false" => none = Some((false, value.line)),
            "none" => return Err((value.line, "`none` takes true or false".into())),
            other => {
                return Err((
                    key.line,
                    format!("unknown key `{other}` in a rule (match, from, none)"),
                ));
            }
        }
    }
    let pattern = pattern.ok_or((item.line, "a rule without `match`".to_owned()))?;
    check_glob(&pattern).map_err(|why| (item.line, why))?;
    let (action, action_line) = match (from, none) {
        (Some(_), Some((true, _))) => {
            return Err((
                item.line,
                "a rule has `from` or `none: true`, not both".into(),
            ));
        }
        (Some((parent, line)), _) => {
            store::check_stage(&parent).map_err(|e| (line, format!("from: {e}")))?;
            (Action::From(parent), line)
        }
        (None, Some((true, line))) => (Action::None, line),
        (None, _) => {
            return Err((
                item.line,
                format!("rule `{pattern}` says neither `from: STAGE` nor `none: true`"),
            ));
        }
    };
    Ok(Rule {
        pattern,
        action,
        line: item.line,
        action_line,
    })
}

/// A glob may use the characters of a stage name and `*` (any run) and `?` (one character).
fn check_glob(pattern: &str) -> Result<(), String> {
    let ok = !pattern.is_empty()
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_*?".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{pattern}` is not a stage glob (letters, digits, `-`, `_`, `*` for any run, `?` for one character)"
        ))
    }
}

/// A rule as named in messages: `rule "pr-*", .sls-secrets.yml:2`.
pub fn describe_rule(rules: &StageRules, rule: &Rule) -> String {
    let file = rules.path.file_name().map_or_else(
        || rules.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!("rule \"{}\", {file}:{}", rule.pattern, rule.line)
}

/// One stage file a stage's secrets are read from; later layers win.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub stage: String,
    pub path: PathBuf,
}

/// Where a stage's secrets come from.
#[derive(Debug)]
pub struct Resolution {
    pub stage: String,
    /// Base first; the stage's own file, when it has one, last.
    pub layers: Vec<Layer>,
    /// The rules followed, first the stage's own: for "secrets from dev (rule ...)".
    pub rules: Vec<Rule>,
    /// A `none: true` rule matched: no secrets, on purpose.
    pub none: bool,
}

impl Resolution {
    /// Whether the secrets are not simply the stage's own file.
    pub fn by_rule(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The stage's own file, when it has one.
    pub fn own_file(&self) -> Option<&Layer> {
        self.layers.last().filter(|l| l.stage == self.stage)
    }

    /// `stage pr-42: secrets from dev (rule "pr-*", .sls-secrets.yml:2), its own file on top`
    /// for stderr and the plugin's log; `None` for a stage that simply has its own file.
    pub fn describe(&self, rules: Option<&StageRules>) -> Option<String> {
        let rules_file = rules?;
        let first = self.rules.first()?;
        let rule = describe_rule(rules_file, first);
        if self.none {
            return Some(format!(
                "stage {}: no secrets, on purpose ({rule})",
                self.stage
            ));
        }
        let sources: Vec<&str> = self
            .layers
            .iter()
            .filter(|l| l.stage != self.stage)
            .map(|l| l.stage.as_str())
            .collect();
        let on_top = if self.own_file().is_some() {
            ", its own file on top"
        } else {
            ""
        };
        Some(format!(
            "stage {}: secrets from {} ({rule}){on_top}",
            self.stage,
            sources.join(" + ")
        ))
    }
}

/// One secret of a resolved stage and the stage whose file it came from. No `Debug`: it holds
/// a value.
pub struct Sourced {
    pub name: String,
    pub value: Text,
    pub stage: String,
    pub path: PathBuf,
}

impl Resolution {
    /// The stage's secrets: each layer's file opened with `ids`, later layers winning; names in
    /// the order they first appear (the base file's order, then each new name).
    pub fn open(&self, ids: &AgeIdentities) -> Result<Vec<Sourced>, store::StoreError> {
        let mut out: Vec<Sourced> = Vec::new();
        for layer in &self.layers {
            let file = store::open(&layer.path, ids)?;
            for (name, value) in store::stage_env(&layer.path, &file)? {
                match out.iter_mut().find(|s| s.name == name) {
                    Some(existing) => {
                        existing.value = value;
                        existing.stage.clone_from(&layer.stage);
                        existing.path.clone_from(&layer.path);
                    }
                    None => out.push(Sourced {
                        name,
                        value,
                        stage: layer.stage.clone(),
                        path: layer.path.clone(),
                    }),
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Store(Box<store::StoreError>),
    /// A rule leads nowhere: a `from` that resolves to nothing, a loop, a chain too deep.
    #[error("{file}:{line}: {what}")]
    Rule {
        file: String,
        line: usize,
        what: String,
        /// The stage the `from` names (for the hint).
        parent: String,
    },
}

impl From<store::StoreError> for ResolveError {
    fn from(e: store::StoreError) -> ResolveError {
        ResolveError::Store(Box::new(e))
    }
}

impl ResolveError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ResolveError::Store(e) => e.hint(),
            ResolveError::Rule { parent, .. } => Some(format!(
                "point `from` at a stage with a secrets file of its own, or create one (`sls-secrets set --stage {parent} NAME`)"
            )),
        }
    }
}

/// Where `stage`'s secrets come from, given the secrets folder and the rules (if any).
pub fn resolve(
    stage: &str,
    secrets_dir: &Path,
    rules: Option<&StageRules>,
) -> Result<Resolution, ResolveError> {
    store::check_stage(stage)?;
    let mut out = Resolution {
        stage: stage.to_owned(),
        layers: Vec::new(),
        rules: Vec::new(),
        none: false,
    };
    let mut chain = vec![stage.to_owned()];
    collect(stage, secrets_dir, rules, &mut chain, &mut out)?;
    Ok(out)
}

/// Adds `stage`'s layers (its `from` chain first, its own file last) to `out`.
fn collect(
    stage: &str,
    dir: &Path,
    rules: Option<&StageRules>,
    chain: &mut Vec<String>,
    out: &mut Resolution,
) -> Result<(), ResolveError> {
    let own = store::stage_path(dir, stage)?;
    let own = own.exists().then(|| Layer {
        stage: stage.to_owned(),
        path: own,
    });
    let top = chain.len() == 1;
    let rule = rules.and_then(|r| r.rule_for(stage).map(|rule| (r, rule)));
    let Some((rules_file, rule)) = rule else {
        return match own {
            Some(layer) => {
                out.layers.push(layer);
                Ok(())
            }
            None if top => Err(store::StoreError::NoStage {
                stage: stage.to_owned(),
                path: store::stage_path(dir, stage)?,
            }
            .into()),
            None => Err(nothing(
                out,
                rules,
                chain,
                "it has no secrets file and no rule",
            )),
        };
    };
    out.rules.push(rule.clone());
    let file = rules_file.path.display().to_string();
    match &rule.action {
        Action::None if top => {
            out.none = true;
            Ok(())
        }
        Action::None => Err(nothing(
            out,
            rules,
            chain,
            &format!("its {} says `none: true`", describe_rule(rules_file, rule)),
        )),
        Action::From(parent) => {
            let looped = chain.contains(parent);
            chain.push(parent.clone());
            let what = if looped {
                Some(format!("the `from` rules loop: {}", chain.join(" -> ")))
            } else if chain.len() > MAX_CHAIN + 1 {
                Some(format!(
                    "the `from` chain {} is deeper than {MAX_CHAIN} stages",
                    chain.join(" -> ")
                ))
            } else {
                None
            };
            if let Some(what) = what {
                return Err(ResolveError::Rule {
                    file,
                    line: rule.action_line,
                    what,
                    parent: parent.clone(),
                });
            }
            collect(parent, dir, rules, chain, out)?;
            chain.pop();
            out.layers.extend(own);
            Ok(())
        }
    }
}

/// The error for a `from` whose stage (the last of `chain`) has no secrets.
fn nothing(
    out: &Resolution,
    rules: Option<&StageRules>,
    chain: &[String],
    why: &str,
) -> ResolveError {
    let (stage, parent) = (&chain[chain.len() - 2], &chain[chain.len() - 1]);
    ResolveError::Rule {
        file: rules.map_or_else(String::new, |r| r.path.display().to_string()),
        line: out.rules.last().map_or(0, |r| r.action_line),
        what: format!("`from: {parent}` for stage {stage} resolves to nothing: {why}"),
        parent: parent.clone(),
    }
}

/// A node of the rules file with the line it starts on.
struct Located {
    node: Node,
    line: usize,
}

enum Node {
    Scalar(String),
    Seq(Vec<Located>),
    Map(Vec<(ScalarKey, Located)>),
}

struct ScalarKey {
    text: String,
    line: usize,
}

/// The first document as a tree with lines (no anchors, no tags, no complex keys: a rules
/// file needs none, and refusing them keeps the reading simple). `Err((line, why))`.
fn read_tree(text: &str) -> Result<Option<Located>, (usize, String)> {
    let mut events: Vec<(Event<'_>, Span)> = Vec::new();
    for item in Parser::new_from_str(text) {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => return Err((e.marker().line(), format!("invalid YAML: {}", e.info()))),
        }
    }
    let mut at = 0;
    while at < events.len() {
        if matches!(events[at].0, Event::DocumentStart(_)) {
            at += 1;
            return node(&events, &mut at, 0).map(Some);
        }
        at += 1;
    }
    Ok(None)
}

fn node(
    events: &[(Event<'_>, Span)],
    at: &mut usize,
    depth: usize,
) -> Result<Located, (usize, String)> {
    let (event, span) = &events[*at];
    let line = span.start.line();
    *at += 1;
    if depth > 16 {
        return Err((line, "nested too deeply for a rules file".into()));
    }
    match event {
        Event::Scalar(value, style, anchor, tag) => {
            if *anchor != 0 || tag.is_some() {
                return Err((line, "anchors and tags are not used in a rules file".into()));
            }
            // A plain `~`/`null`/empty is no value at all.
            let text = value.to_string();
            let null = *style == ScalarStyle::Plain && matches!(text.as_str(), "" | "~" | "null");
            Ok(Located {
                node: Node::Scalar(if null { String::new() } else { text }),
                line,
            })
        }
        Event::SequenceStart(anchor, _) => {
            no_anchor(*anchor, line)?;
            let mut items = Vec::new();
            while !matches!(events[*at].0, Event::SequenceEnd) {
                items.push(node(events, at, depth + 1)?);
            }
            *at += 1;
            Ok(Located {
                node: Node::Seq(items),
                line,
            })
        }
        Event::MappingStart(anchor, _) => {
            no_anchor(*anchor, line)?;
            let mut entries = Vec::new();
            while !matches!(events[*at].0, Event::MappingEnd) {
                let key = node(events, at, depth + 1)?;
                let Node::Scalar(text) = key.node else {
                    return Err((key.line, "keys are plain words in a rules file".into()));
                };
                let value = node(events, at, depth + 1)?;
                entries.push((
                    ScalarKey {
                        text,
                        line: key.line,
                    },
                    value,
                ));
            }
            *at += 1;
            Ok(Located {
                node: Node::Map(entries),
                line,
            })
        }
        Event::Alias(_) => Err((line, "aliases are not used in a rules file".into())),
        _ => Err((line, "unexpected YAML here".into())),
    }
}

fn no_anchor(anchor: usize, line: usize) -> Result<(), (usize, String)> {
    if anchor == 0 {
        Ok(())
    } else {
        Err((line, "anchors are not used in a rules file".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Result<StageRules, RulesError> {
        StageRules::parse(Path::new(".sls-secrets.yml"), text)
    }

    const EXAMPLE: &str = "stages:\n  - match: \"pr-*\"\n    from: dev\n  - match: feature-*\n    from: staging\n  - match: local\n    none: true\n";

    #[test]
    fn the_example_parses_and_the_first_match_wins() {
        let r = rules(EXAMPLE).unwrap();
        assert_eq!(r.rules.len(), 3);
        assert_eq!(
            r.rule_for("pr-42").unwrap().action,
            Action::From("dev".into())
        );
        assert_eq!(r.rule_for("pr-42").unwrap().line, 2);
        assert_eq!(r.rule_for("local").unwrap().action, Action::None);
        assert!(r.rule_for("prod").is_none());
        assert!(rules("").unwrap().rules.is_empty());
    }

    #[test]
    fn mistakes_are_refused_with_their_line() {
        for (text, line, what) in [
            (
                "stages:\n  - match: pr-*\n    form: dev\n",
                3,
                "unknown key `form`",
            ),
            (
                "stages:\n  - match: pr-[0-9]\n    from: dev\n",
                2,
                "not a stage glob",
            ),
            (
                "stages:\n  - match: pr-*\n",
                2,
                "neither `from: STAGE` nor `none: true`",
            ),
            ("stages:\n  - from: dev\n", 2, "without `match`"),
            (
                "stages:\n  - match: a\n    from: dev\n    none: true\n",
                2,
                "not both",
            ),
            ("stage:\n  - match: a\n", 1, "unknown key `stage`"),
            (
                "stages:\n  - match: a\n    from: ../prod\n",
                3,
                "not a valid stage name",
            ),
            (
                "stages:\n  - match: a\n    from: [dev]\n",
                3,
                "takes a single value",
            ),
            ("stages: [\n", 2, "invalid YAML"),
        ] {
            let e = rules(text).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(".sls-secrets.yml:{line}: ")) && e.contains(what),
                "{text:?}: {e}"
            );
        }
    }

    fn stage_dir(stages: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for s in stages {
            std::fs::write(dir.path().join(format!("{s}.yml")), "x").unwrap();
        }
        dir
    }

    fn layer_stages(r: &Resolution) -> Vec<&str> {
        r.layers.iter().map(|l| l.stage.as_str()).collect()
    }

    #[test]
    fn stages_resolve_to_their_layers() {
        let dir = stage_dir(&["dev", "staging", "pr-7", "prod"]);
        let text = "stages:\n  - match: pr-*\n    from: staging\n  - match: staging\n    from: dev\n  - match: local\n    none: true\n";
        let r = rules(text).unwrap();
        let res = |s: &str| resolve(s, dir.path(), Some(&r));
        assert_eq!(layer_stages(&res("prod").unwrap()), ["prod"]);
        assert!(!res("prod").unwrap().by_rule());
        assert_eq!(layer_stages(&res("pr-42").unwrap()), ["dev", "staging"]);
        assert_eq!(
            layer_stages(&res("pr-7").unwrap()),
            ["dev", "staging", "pr-7"]
        );
        assert!(res("local").unwrap().none);
        assert_eq!(
            res("pr-7").unwrap().describe(Some(&r)).unwrap(),
            "stage pr-7: secrets from dev + staging (rule \"pr-*\", .sls-secrets.yml:2), its own file on top"
        );
        // No rule, no file: still an error.
        assert!(matches!(res("prdo"), Err(ResolveError::Store(_))));
        assert!(matches!(
            resolve("pr-1", dir.path(), None),
            Err(ResolveError::Store(_))
        ));
    }

    #[test]
    fn cycles_dead_ends_and_long_chains_are_refused() {
        let dir = stage_dir(&["dev"]);
        let cycle =
            rules("stages:\n  - match: a\n    from: b\n  - match: b\n    from: a\n").unwrap();
        let e = resolve("a", dir.path(), Some(&cycle))
            .unwrap_err()
            .to_string();
        assert!(e.contains("loop: a -> b -> a"), "{e}");
        let dead = rules("stages:\n  - match: pr-*\n    from: qa\n").unwrap();
        let e = resolve("pr-1", dir.path(), Some(&dead))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3: `from: qa` for stage pr-1 resolves to nothing"),
            "{e}"
        );
        let to_none =
            rules("stages:\n  - match: pr-*\n    from: local\n  - match: local\n    none: true\n")
                .unwrap();
        let e = resolve("pr-1", dir.path(), Some(&to_none))
            .unwrap_err()
            .to_string();
        assert!(e.contains("says `none: true`"), "{e}");
        let long = rules(
            "stages:\n  - match: s1\n    from: s2\n  - match: s2\n    from: s3\n  - match: s3\n    from: s4\n  - match: s4\n    from: s5\n  - match: s5\n    from: dev\n",
        )
        .unwrap();
        let e = resolve("s1", dir.path(), Some(&long))
            .unwrap_err()
            .to_string();
        assert!(e.contains("deeper than 4"), "{e}");
        assert!(resolve("s2", dir.path(), Some(&long)).is_ok());
    }
}
