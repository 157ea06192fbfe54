//! Three-way merge of a stage file per key, on the decrypted trees (git's merge driver).
//!
//! For each name: the same on both branches, or changed on one branch only → that value;
//! changed differently on both (or changed on one, removed on the other; or added on both with
//! different values) → a conflict, reported by name only. The result is built on our
//! branch's file, so its comments, order and the ciphertext of every value that did not change
//! relative to it are kept; names taken from the other branch are inserted after the name
//! they follow there, with the comment lines directly above them.

use std::path::Path;

use crate::config::CreationRule;
use crate::keys::AgeIdentities;
use crate::sops::{DataKey, PlainFile};
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

/// What the merge did. No `Debug`: the file holds secrets.
pub enum Outcome {
    Clean {
        file: Box<PlainFile>,
        /// Names whose value (or absence) came from the other branch.
        from_theirs: Vec<String>,
        /// The other branch rotated the data key and ours did not: its key was adopted.
        took_their_key: bool,
    },
    Conflicts(Vec<(String, ConflictKind)>),
}

/// One version: its label (for errors), text; an empty text is "no such file" (git passes an
/// empty ancestor when both branches added the file).
pub struct Version<'a> {
    pub label: &'a Path,
    pub text: &'a str,
}

fn open(v: &Version<'_>, ids: &AgeIdentities) -> Result<Option<PlainFile>, MergeError> {
    if v.text.trim().is_empty() {
        return Ok(None);
    }
    let file = store::open_text(v.label, v.text, ids)?;
    if file.docs.len() > 1 {
        return Err(MergeError::MultiDoc(v.label.display().to_string()));
    }
    Ok(Some(file))
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

/// Merges `theirs` into `ours` against their common ancestor `base`.
pub fn merge(
    base: &Version<'_>,
    ours: &Version<'_>,
    theirs: &Version<'_>,
    ids: &AgeIdentities,
) -> Result<Outcome, MergeError> {
    let base = open(base, ids)?;
    let theirs_file = open(theirs, ids)?;
    let Some(mut file) = open(ours, ids)? else {
        // Deleted on our side with a change on theirs is git's modify/delete, never ours.
        return Err(StoreError::NoStage {
            stage: String::new(),
            path: ours.label.to_owned(),
        }
        .into());
    };
    let their_names: Vec<String> = theirs_file
        .iter()
        .flat_map(names)
        .map(str::to_owned)
        .collect();
    let mut all: Vec<String> = names(&file).map(str::to_owned).collect();
    all.extend(
        their_names
            .iter()
            .filter(|n| file.get(n).is_none())
            .cloned(),
    );

    let mut conflicts = Vec::new();
    let mut from_theirs = Vec::new();
    for name in &all {
        let (b, o, t) = (
            get(base.as_ref(), name),
            file.get(name),
            get(theirs_file.as_ref(), name),
        );
        if o == t || b == t {
            continue;
        }
        if b != o {
            let kind = match (b, o, t) {
                (None, _, _) => ConflictKind::AddedOnBoth,
                (_, Some(_), Some(_)) => ConflictKind::ChangedOnBoth,
                _ => ConflictKind::ChangedAndRemoved,
            };
            conflicts.push((name.clone(), kind));
            continue;
        }
        from_theirs.push(name.clone());
    }
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
    file.meta.set_age(theirs.meta.age.clone());
    file.meta.set_kms(theirs.meta.kms.clone());
    true
}

fn position(items: &[MapItem], name: &str) -> Option<usize> {
    items
        .iter()
        .position(|i| matches!(i, MapItem::Entry(k, _) if k == name))
}

/// Makes `name` in `ours` what it is in `theirs`: replaced in place, removed, or inserted
/// after the entry it follows in `theirs` (with the comment lines directly above it there).
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
            let after = theirs[..first].iter().rev().find_map(|i| match i {
                MapItem::Entry(k, _) => position(ours, k),
                MapItem::Comment(_) => None,
            });
            let at = after.map_or(ours.len(), |i| i + 1);
            for (n, item) in theirs[first..=j].iter().enumerate() {
                ours.insert(at + n, item.clone());
            }
        }
        (None, None) => {}
    }
}

/// Wraps the file's data key for the keys `rule` asks for, when they differ from the file's
/// (values and their ciphertexts stay). Returns whether anything changed.
pub fn align_recipients(
    path: &Path,
    file: &mut PlainFile,
    rule: &CreationRule,
) -> Result<bool, StoreError> {
    let mut have: Vec<&str> = file.meta.age.iter().map(|a| a.recipient.as_str()).collect();
    let mut want: Vec<&str> = rule.age.iter().map(String::as_str).collect();
    let mut have_kms: Vec<&str> = file.meta.kms.iter().map(|k| k.arn.as_str()).collect();
    let mut want_kms: Vec<&str> = rule.kms.iter().map(|k| k.arn.as_str()).collect();
    for v in [&mut have, &mut want, &mut have_kms, &mut want_kms] {
        v.sort_unstable();
        v.dedup();
    }
    if have == want && have_kms == want_kms {
        return Ok(false);
    }
    let (age, kms) = store::wrap_for_rule(path, &file.key, rule)?;
    file.meta.set_age(age);
    file.meta.set_kms(kms);
    Ok(true)
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
        assert_eq!(keys(&ours), ["A1", "#about B", "B1", "Z1"]);
    }
}
