//! What a [`Plan`] does to the original tree, by node: the values it replaces, the mappings
//! it fills in or writes out, the entries it appends. The re-parse check ([`super::reparse`])
//! walks the output's events against the original tree with these changes applied, and the
//! environment checks ([`super::check`]) read the environments after the render from the
//! original tree plus these changes, so no second tree is built.
//!
//! Derived from the plan and the original tree only (never from the edits' bytes): the check
//! must not trust the code that wrote the bytes.

use rustc_hash::FxHashMap as HashMap;

use super::error::Error;
use super::plan::{Plan, Slot};
use super::tree::{NodeId, Tree};

/// What becomes of one original value node.
#[derive(Clone, Copy)]
pub(crate) enum Change<'p> {
    /// The value (with everything inside it) becomes secret `k`, double-quoted.
    Secret(usize),
    /// A null value (or an empty document) becomes a mapping with `path` keys and the entries.
    Fill {
        path: &'static [&'static str],
        keys: &'p [usize],
    },
    /// `provider: aws` becomes a mapping with `name: aws` (the same scalar), `path` keys and
    /// the entries.
    Shorthand {
        path: &'static [&'static str],
        keys: &'p [usize],
    },
}

/// Entries appended at the end of one mapping, under the `path` keys.
pub(crate) struct Append {
    pub map: NodeId,
    pub path: &'static [&'static str],
    pub keys: Vec<usize>,
}

pub(crate) struct Overlay<'p> {
    /// By node id (the order the event walk meets them in).
    pub changes: Vec<(NodeId, Change<'p>)>,
    /// By mapping id; within one mapping, in plan order (the splice's order at one offset).
    pub appends: Vec<Append>,
    /// The document created in an empty stream (no root node).
    pub document: Option<(&'static [&'static str], &'p [usize])>,
    /// Every secret an existing mapping receives (replaced or appended), by mapping.
    pub map_keys: HashMap<NodeId, &'p [usize]>,
    /// Environments created by the plan: keyed by the holder missing the key (`Absent`) or
    /// by the null/shorthand value that becomes a mapping.
    pub created: HashMap<NodeId, (&'static [&'static str], &'p [usize])>,
}

impl<'p> Overlay<'p> {
    pub fn new(tree: &Tree<'_>, plan: &'p Plan, names: &[&str]) -> Result<Self, Error> {
        let mut ov = Overlay {
            changes: Vec::new(),
            appends: Vec::new(),
            document: None,
            map_keys: HashMap::default(),
            created: HashMap::default(),
        };
        for sp in &plan.slots {
            let keys = sp.keys.as_slice();
            match sp.slot {
                Slot::Map(m) => {
                    let mut missing = Vec::new();
                    for &k in keys {
                        match tree.explicit(m, names[k]) {
                            Some((_, v)) => ov.changes.push((v, Change::Secret(k))),
                            None => missing.push(k),
                        }
                    }
                    if !missing.is_empty() {
                        ov.appends.push(Append {
                            map: m,
                            path: sp.path,
                            keys: missing,
                        });
                    }
                    ov.map_keys.insert(m, keys);
                }
                Slot::Null { value, .. } => {
                    ov.changes.push((
                        value,
                        Change::Fill {
                            path: sp.path,
                            keys,
                        },
                    ));
                    ov.created.insert(value, (sp.path, keys));
                }
                Slot::Shorthand { value, .. } => {
                    ov.changes.push((
                        value,
                        Change::Shorthand {
                            path: sp.path,
                            keys,
                        },
                    ));
                    ov.created.insert(value, (sp.path, keys));
                }
                Slot::Absent { parent: Some(p) } => {
                    ov.appends.push(Append {
                        map: p,
                        path: sp.path,
                        keys: keys.to_vec(),
                    });
                    ov.created.insert(p, (sp.path, keys));
                }
                Slot::Absent { parent: None } => match tree.root {
                    // An empty document (`---` alone): its empty scalar becomes the mapping.
                    Some(r) => {
                        ov.changes.push((
                            r,
                            Change::Fill {
                                path: sp.path,
                                keys,
                            },
                        ));
                        ov.created.insert(r, (sp.path, keys));
                    }
                    None => ov.document = Some((sp.path, keys)),
                },
            }
        }
        ov.changes.sort_by_key(|c| c.0);
        // Stable: appends to one mapping keep plan order.
        ov.appends.sort_by_key(|a| a.map);
        if ov.changes.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::Internal {
                message: "two planned changes to one value".into(),
            });
        }
        Ok(ov)
    }

    /// Environment created at `at` with exactly `path` above the entries.
    pub fn created_at(&self, at: NodeId, path: &[&str]) -> Option<&'p [usize]> {
        self.created
            .get(&at)
            .filter(|(p, _)| *p == path)
            .map(|(_, k)| *k)
    }
}
