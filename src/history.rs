//! When each secret's value last changed, read from the git history of its stage file: the
//! offboarding report's answer to "which secrets did the leaver know, and are they still the
//! same?".
//!
//! Ciphertexts can't answer it: every `set` re-encrypts the value with a new IV and every
//! `rotate` re-encrypts all of them. So each committed version is decrypted (with the caller's
//! identities; a data key is unwrapped once per distinct wrapping) and the values compared in
//! memory. Values never leave this module; only names, commit ids and dates do.

use std::path::Path;

use crate::git::{self, GitError};
use crate::keys::{self, AgeIdentities};
use crate::sops::{self, DataKey, PlainFile};
use crate::yaml::Value;

/// When one name's current value was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastChange {
    pub name: String,
    pub changed: Changed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    /// The oldest commit from which the value is the same up to now (`date` is the
    /// committer date, RFC 3339).
    Commit { date: String, commit: String },
    /// The working file's value is not in any commit yet.
    Uncommitted,
    /// History does not tell: not in git, or an older version can't be opened. `since`: the
    /// value is the same at least since this commit date.
    Unknown { since: Option<String>, why: String },
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Git(#[from] GitError),
}

/// One committed version of the stage file, newest first.
struct Version {
    commit: String,
    date: String,
    /// The file's path in that commit: it may have been renamed since.
    path: String,
}

/// An older version, as the walk sees it.
enum Older {
    Opened(Box<PlainFile>),
    /// The file is not in that commit (deleted there): the newer value was set after it.
    Missing,
    /// It is there but can't be read: why.
    Unreadable(&'static str),
}

/// For each of `names`, when its value in the file at `path` (the working file) last
/// changed. The working file must open with `ids`.
pub fn last_changes(
    path: &Path,
    names: &[String],
    ids: &AgeIdentities,
) -> Result<Vec<LastChange>, HistoryError> {
    let text = crate::files::read_text(path).unwrap_or_default();
    let mut keys = Vec::new();
    let Ok(current) = open_version(&text, ids, &mut keys) else {
        return Ok(unknown_all(
            names,
            None,
            "the file can't be opened with your keys",
        ));
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let Ok(root) = git::toplevel(dir) else {
        return Ok(unknown_all(names, None, "not in a git repository"));
    };
    let Some(rel) = git::relative(&root, path) else {
        return Ok(unknown_all(names, None, "outside the repository"));
    };
    // A repository with no commit yet has no history to walk.
    let versions = match git::verify_rev(&root, "HEAD") {
        Ok(()) => log(&root, &rel)?,
        Err(_) => Vec::new(),
    };
    let mut walk = Walk::new(names, &current);
    for version in &versions {
        let older = match git::show(&root, &version.commit, &version.path) {
            Ok(None) => Older::Missing,
            Ok(Some(text)) => match open_version(&text, ids, &mut keys) {
                Ok(file) => Older::Opened(Box::new(file)),
                Err(why) => Older::Unreadable(why),
            },
            Err(GitError::NotText { .. }) => Older::Unreadable("is not text"),
            Err(GitError::TooLarge { .. }) => Older::Unreadable("is larger than 16 MiB"),
            Err(e) => return Err(e.into()),
        };
        if !walk.step(version, &older) {
            break;
        }
    }
    // A shallow clone's oldest commit only seems to add the file: its history was not fetched.
    let shallow = git::shallow_commits(&root)?;
    let cut = versions.last().filter(|v| shallow.contains(&v.commit));
    Ok(walk.finish(cut.is_some()))
}

fn unknown_all(names: &[String], since: Option<String>, why: &str) -> Vec<LastChange> {
    let changed = Changed::Unknown {
        since,
        why: why.to_owned(),
    };
    names
        .iter()
        .map(|name| LastChange {
            name: name.clone(),
            changed: changed.clone(),
        })
        .collect()
}

/// The commits that changed `rel` (under its earlier names too), newest first.
fn log(root: &Path, rel: &str) -> Result<Vec<Version>, HistoryError> {
    let out = git::log_file(root, rel)?;
    let mut versions: Vec<Version> = Vec::new();
    for record in out.split('\0') {
        let record = record.trim_start_matches('\n');
        let header = record.split_once('\t').filter(|(commit, _)| {
            commit.len() >= 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())
        });
        match (header, versions.last_mut()) {
            (Some((commit, date)), last) => {
                // A merge that kept the file lists no name: the newer one holds.
                let path = last.map_or_else(|| rel.to_owned(), |v| v.path.clone());
                versions.push(Version {
                    commit: commit.to_owned(),
                    date: date.to_owned(),
                    path,
                });
            }
            (None, Some(last)) if !record.is_empty() => last.path = record.to_owned(),
            (None, _) => {}
        }
    }
    Ok(versions)
}

/// Decrypts one version; data keys already unwrapped are reused (matched by their wrapped
/// form), so a history of edits under one data key costs one unwrap.
fn open_version(
    text: &str,
    ids: &AgeIdentities,
    known: &mut Vec<(String, DataKey)>,
) -> Result<PlainFile, &'static str> {
    let file = sops::parse(text).map_err(|_| "is not a SOPS file")?;
    let cached = file.meta.keys().iter().find_map(|entry| {
        known
            .iter()
            .find(|(enc, _)| enc == entry.enc())
            .and_then(|(_, key)| DataKey::from_bytes(key.expose()))
    });
    let key = match cached {
        Some(key) => key,
        None => {
            let key = keys::unwrap_data_key(&file.meta, ids)
                .map_err(|_| "can't be opened with your keys")?;
            for entry in file.meta.keys() {
                if let Some(copy) = DataKey::from_bytes(key.expose()) {
                    known.push((entry.enc().to_owned(), copy));
                }
            }
            key
        }
    };
    file.decrypt(key)
        .map_err(|_| "does not decrypt (its MAC or a value does not check)")
}

/// Per name: its current value and how far back it is the same.
struct Walk<'a> {
    names: Vec<(&'a str, Option<&'a Value>, State)>,
}

enum State {
    /// No commit looked at yet.
    Start,
    /// Equal in this commit (and every newer one).
    Same { commit: String, date: String },
    /// The walk back ended.
    Done(Changed),
}

impl State {
    /// The answer when the walk ends here: the value was set in the oldest equal commit,
    /// or is in no commit yet.
    fn ended(&self) -> Changed {
        match self {
            State::Start => Changed::Uncommitted,
            State::Same { commit, date } => Changed::Commit {
                date: date.clone(),
                commit: commit.clone(),
            },
            State::Done(changed) => changed.clone(),
        }
    }

    fn since(&self) -> Option<String> {
        match self {
            State::Same { date, .. } => Some(date.clone()),
            _ => None,
        }
    }
}

impl<'a> Walk<'a> {
    fn new(names: &'a [String], current: &'a PlainFile) -> Walk<'a> {
        let names = names
            .iter()
            .map(|name| (name.as_str(), current.get(name), State::Start))
            .collect();
        Walk { names }
    }

    /// Compares one older version (`None`: it can't be opened); false once every name is
    /// decided.
    fn step(&mut self, version: &Version, older: &Older) -> bool {
        let mut open = false;
        for (name, value, state) in &mut self.names {
            if matches!(state, State::Done(_)) {
                continue;
            }
            let next = match older {
                Older::Unreadable(why) => State::Done(Changed::Unknown {
                    since: state.since(),
                    why: format!(
                        "the version of commit {} {why}",
                        &version.commit[..version.commit.len().min(12)]
                    ),
                }),
                Older::Opened(file) if value.is_some() && file.get(name) == *value => State::Same {
                    commit: version.commit.clone(),
                    date: version.date.clone(),
                },
                Older::Opened(_) | Older::Missing => State::Done(state.ended()),
            };
            open |= !matches!(next, State::Done(_));
            *state = next;
        }
        open
    }

    /// `cut`: the oldest commit is where a shallow clone's history stops.
    fn finish(self, cut: bool) -> Vec<LastChange> {
        self.names
            .into_iter()
            .map(|(name, _, state)| LastChange {
                name: name.to_owned(),
                // Still open: the oldest commit holds the value, so it was set there, unless
                // the history before it was not fetched.
                changed: match state {
                    State::Same { date, .. } if cut => Changed::Unknown {
                        since: Some(date),
                        why: "the clone is shallow: older commits were not fetched (`git fetch --unshallow`)".into(),
                    },
                    state => state.ended(),
                },
            })
            .collect()
    }
}
