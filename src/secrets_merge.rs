//! Three-way merge of a stage file per key, on the decrypted trees (git's merge driver).
//!
//! First the two sides as files: a side that is empty is a deletion, and a side whose
//! recipients or encryption settings are not what `.sops.yaml`'s creation rule asks for (a
//! `sops:` block edited by hand, a file re-encrypted for someone else) is not merged; both are
//! conflicts, found before any key is needed. The merged file is therefore encrypted by the
//! repository's rule, never by a side's metadata.
//!
//! Then per name: the same on both branches, or changed on one branch only → that value;
//! changed differently on both (or changed on one, removed on the other; or added on both with
//! different values) → a conflict, reported by name only. The result is built on our
//! branch's file, so its comments, order and the ciphertext of every value that did not change
//! relative to it are kept; names taken from the other branch are inserted after the name
//! they follow there, with the comment lines directly above them.

use std::path::Path;

use crate::config::CreationRule;
use crate::conformance::{self, Mismatch};
use crate::keys::AgeIdentities;
use crate::sops::{self, DataKey, EncryptedFile, PlainFile};
use crate::store::{self, StoreError};
use crate::yaml::{MapItem, Value};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0}")]
    /// Boxed: `StoreError` is large and these errors travel through many `?`s.
    Store(Box<StoreError>),
    #[error("{0}: a stage file with more than one YAML document can't be merged per key")]
    MultiDoc(String),
}

impl From<StoreError> for MergeError {
    fn from(e: StoreError) -> MergeError {
        MergeError::Store(Box::new(e))
    }
}

impl MergeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            MergeError::Store(e) => e.hint(),
            MergeError::MultiDoc(_) => Some("resolve it by hand with `sops edit`".into()),
        }
    }
}

/// Why a name could not be merged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConflictKind {
    ChangedOnBoth,
    AddedOnBoth,
    ChangedAndRemoved,
}

impl ConflictKind {
    pub fn describe(self) -> &'static str {
        match self {
            ConflictKind::ChangedOnBoth => "changed differently on both branches",
            ConflictKind::AddedOnBoth => "added on both branches with different values",
            ConflictKind::ChangedAndRemoved => "changed on one branch and removed on the other",
        }
    }
}

/// One of the two branches being merged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Ours,
    Theirs,
}

impl Side {
    pub fn describe(self) -> &'static str {
        match self {
            Side::Ours => "this branch",
            Side::Theirs => "the other branch",
        }
    }
}

/// Why the merge stopped. Never holds a value.
pub enum Conflict {
    /// A name changed in ways that can't be combined.
    Key { name: String, kind: ConflictKind },
    /// A side emptied the file: a deletion, as git treats a deleted file against a change.
    Emptied(Side),
    /// A side's file is not what the creation rule asks for.
    Rule {
        side: Side,
        mismatches: Vec<Mismatch>,
    },
}

/// What the merge did. No `Debug`: the file holds secrets.
pub enum Outcome {
    Clean {
        file: Box<PlainFile>,
        /// Names whose value (or absence) came from the other branch.
        from_theirs: Vec<String>,
        /// The other branch rotated the data key and ours did not: its key was adopted.
        took_their_key: bool,
    },
    Conflicts(Vec<Conflict>),
}

/// One version: its label (for errors), text; an empty text is "no such file" (git passes an
/// empty ancestor when both branches added the file).
pub struct Version<'a> {
    pub label: &'a Path,
    pub text: &'a str,
}

impl Version<'_> {
    fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// The file with its values still encrypted: its metadata needs no key.
    fn parse(&self) -> Result<EncryptedFile, MergeError> {
        let file = sops::parse(self.text).map_err(|source| StoreError::Sops {
            path: self.label.to_owned(),
            source,
        })?;
        if file.docs.len() > 1 {
            return Err(MergeError::MultiDoc(self.label.display().to_string()));
        }
        Ok(file)
    }

    fn open(&self, ids: &AgeIdentities) -> Result<Option<PlainFile>, MergeError> {
        if self.is_empty() {
            return Ok(None);
        }
        self.parse()?;
        Ok(Some(store::open_text(self.label, self.text, ids)?))
    }
}

fn get<'a>(f: Option<&'a PlainFile>, name: &str) -> Option<&'a Value> {
    f.and_then(|f| f.get(name))
}

fn names(f: &PlainFile) -> impl Iterator<Item = &str> {
    f.top().iter().filter_map(|i| match i {
        MapItem::Entry(k, _) => Some(k.as_str()),
        MapItem::Comment(_) => None,
    })
}

/// The conflicts the two sides have as files, found before any value is read: a deletion,
/// or metadata that is not the rule's.
fn file_conflicts(
    ours: &Version<'_>,
    theirs: &Version<'_>,
    rule: &CreationRule,
) -> Result<Vec<Conflict>, MergeError> {
    let mut out = Vec::new();
    for (side, version) in [(Side::Ours, ours), (Side::Theirs, theirs)] {
        if version.is_empty() {
            out.push(Conflict::Emptied(side));
            continue;
        }
        let mismatches = conformance::mismatches(&version.parse()?.meta, rule);
        if !mismatches.is_empty() {
            out.push(Conflict::Rule { side, mismatches });
        }
    }
    Ok(out)
}

/// Merges `theirs` into `ours` against their common ancestor `base`. `rule` is the creation
/// rule `.sops.yaml` has for the file: both sides must already be encrypted by it, so the
/// result is too.
pub fn merge(
    base: &Version<'_>,
    ours: &Version<'_>,
    theirs: &Version<'_>,
    rule: &CreationRule,
    ids: &AgeIdentities,
) -> Result<Outcome, MergeError> {
    let conflicts = file_conflicts(ours, theirs, rule)?;
    if !conflicts.is_empty() {
        return Ok(Outcome::Conflicts(conflicts));
    }
    let base = base.open(ids)?;
    let theirs_file = theirs.open(ids)?;
    let mut file = ours.open(ids)?.ok_or_else(|| StoreError::NoStage {
        stage: String::new(),
        path: ours.label.to_owned(),
    })?;
    let (from_theirs, conflicts) = compare_names(base.as_ref(), &file, theirs_file.as_ref());
    if !conflicts.is_empty() {
        return Ok(Outcome::Conflicts(conflicts));
    }
    let theirs_items = theirs_file.as_ref().map_or(&[][..], |f| f.top());
    for name in &from_theirs {
        apply(file.top_mut(), theirs_items, name);
    }
    let took_their_key = match (&base, &theirs_file) {
        (Some(b), Some(t)) => adopt_rotated_key(&mut file, b, t),
        _ => false,
    };
    Ok(Outcome::Clean {
        file: Box::new(file),
        from_theirs,
        took_their_key,
    })
}

/// Every name of either side: the ones to take from theirs, and the ones that conflict.
fn compare_names(
    base: Option<&PlainFile>,
    ours: &PlainFile,
    theirs: Option<&PlainFile>,
) -> (Vec<String>, Vec<Conflict>) {
    let mut all: Vec<&str> = names(ours).collect();
    all.extend(
        theirs
            .into_iter()
            .flat_map(names)
            .filter(|n| ours.get(n).is_none()),
    );
    let mut conflicts = Vec::new();
    let mut from_theirs = Vec::new();
    for name in all {
        let (b, o, t) = (get(base, name), ours.get(name), get(theirs, name));
        if o == t || b == t {
            continue;
        }
        if b == o {
            from_theirs.push(name.to_owned());
            continue;
        }
        let kind = match (b, o, t) {
            (None, _, _) => ConflictKind::AddedOnBoth,
            (_, Some(_), Some(_)) => ConflictKind::ChangedOnBoth,
            _ => ConflictKind::ChangedAndRemoved,
        };
        conflicts.push(Conflict::Key {
            name: name.to_owned(),
            kind,
        });
    }
    (from_theirs, conflicts)
}

/// When the other branch rotated the data key and ours kept the ancestor's, the result uses
/// the new key: a rotation (e.g. after removing someone) must not be undone by a merge.
fn adopt_rotated_key(file: &mut PlainFile, base: &PlainFile, theirs: &PlainFile) -> bool {
    let same = |a: &DataKey, b: &DataKey| a.expose() == b.expose();
    if same(&theirs.key, &base.key) || !same(&file.key, &base.key) {
        return false;
    }
    let Some(key) = DataKey::from_bytes(theirs.key.expose()) else {
        return false;
    };
    file.set_key(key);
    file.meta.set_keys(theirs.meta.keys().to_vec());
    true
}

fn position(items: &[MapItem], name: &str) -> Option<usize> {
    items
        .iter()
        .position(|i| matches!(i, MapItem::Entry(k, _) if k == name))
}

/// Makes `name` in `ours` what it is in `theirs`: replaced in place, removed, or inserted
/// after the entry it follows in `theirs` (at the start when it is first there, at the end
/// when ours has none of the entries before it), with the comment lines directly above it
/// there that ours does not already have at that place.
fn apply(ours: &mut Vec<MapItem>, theirs: &[MapItem], name: &str) {
    let at_theirs = position(theirs, name);
    let at_ours = position(ours, name);
    match (at_ours, at_theirs) {
        (Some(i), Some(j)) => ours[i] = theirs[j].clone(),
        (Some(i), None) => {
            ours.remove(i);
        }
        (None, Some(j)) => {
            let first = (0..j)
                .rev()
                .take_while(|&k| matches!(theirs[k], MapItem::Comment(_)))
                .last()
                .unwrap_or(j);
            let is_entry = |i: &MapItem| matches!(i, MapItem::Entry(..));
            let at = if !theirs[..first].iter().any(is_entry) {
                0
            } else {
                let after = theirs[..first].iter().rev().find_map(|i| match i {
                    MapItem::Entry(k, _) => position(ours, k),
                    MapItem::Comment(_) => None,
                });
                after.map_or(ours.len(), |i| i + 1)
            };
            // A comment that ends the predecessor's block on both sides (a file's trailing
            // comment, say) is there once already.
            let shared = theirs[first..j]
                .iter()
                .zip(&ours[at..])
                .take_while(|(t, o)| t == o)
                .count();
            let at = at + shared;
            for (n, item) in theirs[first + shared..=j].iter().enumerate() {
                ours.insert(at + n, item.clone());
            }
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Text;

    fn entry(k: &str, v: &str) -> MapItem {
        MapItem::Entry(k.into(), Value::Str(Text::new(v.into())))
    }
    fn comment(c: &str) -> MapItem {
        MapItem::Comment(Text::new(c.into()))
    }
    fn keys(items: &[MapItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                MapItem::Entry(k, _) => k.clone(),
                MapItem::Comment(c) => format!("#{}", c.as_str()),
            })
            .collect()
    }

    #[test]
    fn apply_inserts_after_the_predecessor_with_its_comments() {
        let mut ours = vec![entry("A1", "a"), entry("C1", "c")];
        let theirs = vec![
            entry("A1", "a"),
            comment("about B"),
            entry("B1", "b"),
            entry("C1", "c"),
        ];
        apply(&mut ours, &theirs, "B1");
        assert_eq!(keys(&ours), ["A1", "#about B", "B1", "C1"]);
        apply(&mut ours, &[entry("A1", "a")], "C1");
        assert_eq!(keys(&ours), ["A1", "#about B", "B1"]);
        apply(&mut ours, &[entry("Z1", "z")], "Z1");
        assert_eq!(keys(&ours), ["Z1", "A1", "#about B", "B1"]);
        apply(&mut ours, &[entry("Q1", "q"), entry("Y1", "y")], "Y1");
        assert_eq!(keys(&ours), ["Z1", "A1", "#about B", "B1", "Y1"]);
    }

    #[test]
    fn apply_does_not_repeat_comments_ours_has_at_that_place() {
        let mut ours = vec![comment("head"), entry("A1", "a"), comment("end")];
        let theirs = vec![
            comment("head"),
            entry("N1", "n"),
            entry("A1", "a"),
            comment("end"),
            comment("about C"),
            entry("C1", "c"),
        ];
        apply(&mut ours, &theirs, "C1");
        assert_eq!(keys(&ours), ["#head", "A1", "#end", "#about C", "C1"]);
        apply(&mut ours, &theirs, "N1");
        assert_eq!(keys(&ours), ["#head", "N1", "A1", "#end", "#about C", "C1"]);
    }
}
