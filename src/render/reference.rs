//! The reference the streamed checks are cross-checked with, compiled for tests and debug
//! builds only (so every integration test and `cargo fuzz run -O -a`), never for a release:
//! a second span tree of the output, compared with the original tree with aliases and merge
//! keys resolved, and the 4 KB check read from that tree. The streamed re-parse check
//! ([`super::reparse`]) must never accept an output this comparison refuses, and the two
//! 4 KB checks must agree; otherwise [`cross_check`] panics.

use rustc_hash::FxHashMap as HashMap;

use saphyr_parser::ScalarStyle;

use super::check::{
    BUDGET, Ctx, Expect, SizedEntry, Sizes, budget_error, child_ctx, env_maps, merged_sizes,
    size_of_value,
};
use super::error::Error;
use super::tree::{Children, Entry, Kind, MAX_DEPTH, NodeId, Tree, effective_entries, key_repr};

/// Panics when the streamed checks accepted `output` but the tree comparison refuses it, or
/// when the 4 KB checks disagree (`size_check` is the streamed one's verdict).
pub(super) fn cross_check(
    tree: &Tree<'_>,
    output: &str,
    expect: &Expect<'_>,
    sizes: &Sizes<'_>,
    size_check: &Result<(), Error>,
) {
    let Ok(output_tree) = Tree::parse(output) else {
        panic!("the streamed check accepted an output the span tree refuses");
    };
    match verify(tree, &output_tree, expect) {
        // The tree comparison resolves aliases under a node budget the stream never needs.
        Ok(()) | Err(Error::Unsupported { .. }) => {}
        Err(_) => panic!("the streamed check accepted an output the tree comparison refuses"),
    }
    let reference = check_sizes_of_output(&output_tree, expect, sizes);
    let bytes = |verdict: &Result<(), Error>| match verdict {
        Ok(()) => None,
        Err(Error::TooLarge(too_large)) => Some(too_large.bytes),
        Err(_) => Some(usize::MAX),
    };
    assert_eq!(
        bytes(&reference),
        bytes(size_check),
        "the 4 KB check differs from the one on the parsed output"
    );
}

/// The 4 KB check on a parsed output: each environment's entries as they read there.
fn check_sizes_of_output(
    output: &Tree<'_>,
    expect: &Expect<'_>,
    sizes: &Sizes<'_>,
) -> Result<(), Error> {
    let (provider, provider_unknown, functions) = env_maps(output);
    let name_index: HashMap<&str, usize> = expect
        .names
        .iter()
        .enumerate()
        .map(|(index, name)| (*name, index))
        .collect();
    let entries = |map: Option<NodeId>| -> Vec<SizedEntry<'_>> {
        map.map(|map| {
            effective_entries(output, map)
                .into_iter()
                .map(|(key, _, value)| {
                    let secret = name_index.get(&*key).copied();
                    let (size, estimated) =
                        size_of_value(output, value, secret, expect.yaml_values, sizes.raw_len);
                    (key, size, estimated)
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let functions = functions
        .into_iter()
        .map(|(name, env)| (name, entries(env)));
    merged_sizes(entries(provider), provider_unknown, functions, sizes.limit)
}

/// Compare original and output with aliases and merge keys resolved.
fn verify(original: &Tree<'_>, output: &Tree<'_>, expect: &Expect<'_>) -> Result<(), Error> {
    let mut comparison = Comparison {
        original,
        output,
        expect,
        name_index: expect
            .names
            .iter()
            .enumerate()
            .map(|(index, name)| (*name, index))
            .collect(),
        budget: BUDGET,
        function: None,
    };
    let mut path = Vec::new();
    match comparison.node(original.root, output.root, Ctx::Root, &mut path, 0) {
        Ok(()) => Ok(()),
        Err(Mismatch::Budget) => Err(budget_error()),
        Err(Mismatch::At(message)) => Err(Error::Internal {
            message: format!("the edited file does not re-parse to the intended change: {message}"),
        }),
    }
}

struct Comparison<'a, 'b, 'x> {
    original: &'a Tree<'a>,
    output: &'b Tree<'b>,
    expect: &'x Expect<'x>,
    /// Secret name → index in `expect.names`.
    name_index: HashMap<&'x str, usize>,
    budget: usize,
    /// The function being compared, whose environment may hold its scoped secrets.
    function: Option<String>,
}

/// Key lookup over one mapping's effective entries: a scan for the usual handful of keys, a
/// hash map for large mappings (no allocation at all in the common case).
struct Keys<'e> {
    entries: &'e [Entry<'e>],
    /// Key → (key node, value).
    hash: Option<HashMap<&'e str, (NodeId, NodeId)>>,
}

impl<'e> Keys<'e> {
    fn new(entries: &'e [Entry<'e>]) -> Self {
        let hash = (entries.len() > 16).then(|| {
            let mut hash = HashMap::default();
            for (key, key_node, value) in entries {
                hash.entry(&**key).or_insert((*key_node, *value));
            }
            hash
        });
        Keys { entries, hash }
    }

    /// The first entry with this key: its key node and value.
    fn find(&self, key: &str) -> Option<(NodeId, NodeId)> {
        match &self.hash {
            None => self
                .entries
                .iter()
                .find(|(text, _, _)| text == key)
                .map(|entry| (entry.1, entry.2)),
            Some(hash) => hash.get(key).copied(),
        }
    }

    /// The value of the first entry with this key.
    fn get(&self, key: &str) -> Option<NodeId> {
        self.find(key).map(|(_, value)| value)
    }

    /// The entry that pairs with `from[index]`: its key node and value. A scalar key pairs
    /// with the same key. Non-scalar keys pair by their order among the mapping's non-scalar
    /// keys, which a render never adds, removes or moves; their text cannot pair them: two
    /// may be equal (`[]: a` and `[]: b`), and a collection's text runs to the next token,
    /// which the render may have written. The caller compares the two keys' structure.
    fn pair(&self, from: &[Entry<'_>], index: usize) -> Option<(NodeId, NodeId)> {
        let key = &*from[index].0;
        if !is_node_key(key) {
            return self.find(key);
        }
        let nth = from[..index]
            .iter()
            .filter(|entry| is_node_key(&entry.0))
            .count();
        let mut keys = self.entries.iter().filter(|entry| is_node_key(&entry.0));
        keys.nth(nth).map(|entry| (entry.1, entry.2))
    }
}

/// A key that is not a scalar: [`key_repr`] marks its text with a leading NUL.
fn is_node_key(key: &str) -> bool {
    key.starts_with('\0')
}

/// One step of the path being compared, resolved to text only for an error message.
#[derive(Clone, Copy)]
enum Step {
    /// A key node of the original.
    Original(NodeId),
    /// A key node of the output.
    Output(NodeId),
    /// A sequence index.
    Item(usize),
    /// A secret's name.
    Name(usize),
}

enum Mismatch {
    At(String),
    Budget,
}

impl Comparison<'_, '_, '_> {
    fn tick(&mut self) -> Result<(), Mismatch> {
        self.budget = self.budget.checked_sub(1).ok_or(Mismatch::Budget)?;
        Ok(())
    }

    /// The path is rendered only here, on failure: the walk itself allocates nothing per node.
    fn fail(&self, path: &[Step], what: &str) -> Mismatch {
        let parts: Vec<String> = path
            .iter()
            .map(|step| match *step {
                Step::Original(key) => key_repr(self.original, key).into_owned(),
                Step::Output(key) => key_repr(self.output, key).into_owned(),
                Step::Item(index) => format!("[{index}]"),
                Step::Name(index) => self.expect.names[index].to_string(),
            })
            .collect();
        Mismatch::At(format!("{what} at `{}`", parts.join(".")))
    }

    /// Compares two nodes in context `ctx`: where the render may add entries (the top level,
    /// the provider, functions, environments) it must have added exactly the intended ones;
    /// anything else must be the same on both sides.
    fn node(
        &mut self,
        original: Option<NodeId>,
        output: Option<NodeId>,
        ctx: Ctx,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        self.tick()?;
        if depth > MAX_DEPTH * 4 {
            return Err(Mismatch::Budget);
        }
        let original = original.map(|id| self.original.deref(id));
        let output = output.map(|id| self.output.deref(id));
        let original_null = original.is_none_or(|id| self.original.node(id).is_null());
        let output_null = output.is_none_or(|id| self.output.node(id).is_null());
        let original_map =
            original.filter(|&id| matches!(self.original.node(id).kind, Kind::Map { .. }));
        let output_map = output.filter(|&id| matches!(self.output.node(id).kind, Kind::Map { .. }));
        match ctx {
            Ctx::Root | Ctx::Provider | Ctx::Function | Ctx::ProviderEnv | Ctx::FunctionEnv
                if (original_null || original_map.is_some())
                    && (output_null || output_map.is_some()) =>
            {
                // Identical nulls; an environment still has to receive required keys.
                if original_null
                    && output_null
                    && original.is_some() == output.is_some()
                    && !self.required(ctx)
                {
                    return self.same(original, output, path, depth);
                }
                let original_entries = original_map
                    .map(|map| effective_entries(self.original, map))
                    .unwrap_or_default();
                let output_entries = output_map
                    .map(|map| effective_entries(self.output, map))
                    .unwrap_or_default();
                if matches!(ctx, Ctx::ProviderEnv | Ctx::FunctionEnv) {
                    return self.env(&original_entries, &output_entries, ctx, path, depth);
                }
                self.holder(&original_entries, &output_entries, ctx, path, depth)
            }
            Ctx::Provider
                if !self.expect.variable_env
                    && let (Some(name), Some(map)) = (original, output_map)
                    && matches!(self.original.node(name).kind, Kind::Scalar { .. })
                    && !self.original.node(name).is_null()
                    && !self.original.node(name).has_tag() =>
            {
                self.shorthand(name, map, path, depth)
            }
            Ctx::Functions => match (original_map, output_map) {
                (Some(original), Some(output)) => self.functions(original, output, path, depth),
                _ => self.same(original, output, path, depth),
            },
            _ => self.same(original, output, path, depth),
        }
    }

    /// The top level, the provider or a function (as mappings, or null on one side): the
    /// same entries, plus the ones the render may create (`provider`, `environment`), and
    /// the environment that must receive the secrets present in the output.
    fn holder(
        &mut self,
        original_entries: &[Entry<'_>],
        output_entries: &[Entry<'_>],
        ctx: Ctx,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        let output_keys = Keys::new(output_entries);
        let original_keys = Keys::new(original_entries);
        for (index, (key, key_node, value)) in original_entries.iter().enumerate() {
            path.push(Step::Original(*key_node));
            let Some((output_key, output_value)) = output_keys.pair(original_entries, index) else {
                return Err(self.fail(path, "entry missing in the output"));
            };
            self.same_key(*key_node, output_key, path, depth)?;
            let child = child_ctx(ctx, key);
            self.node(Some(*value), Some(output_value), child, path, depth + 1)?;
            path.pop();
        }
        for (index, (key, key_node, value)) in output_entries.iter().enumerate() {
            if original_keys.pair(output_entries, index).is_some() {
                continue;
            }
            path.push(Step::Output(*key_node));
            let child = child_ctx(ctx, key);
            let creatable = matches!(
                (ctx, child),
                (Ctx::Root, Ctx::Provider)
                    | (Ctx::Provider, Ctx::ProviderEnv)
                    | (Ctx::Function, Ctx::FunctionEnv)
            );
            if !creatable {
                return Err(self.fail(path, "unexpected new entry"));
            }
            self.node(None, Some(*value), child, path, depth + 1)?;
            path.pop();
        }
        // The environment that must receive the secrets has to exist in the output: the walk
        // above only checks environments present on either side (an insert that landed
        // inside a comment once compared as "unchanged").
        let holds = match ctx {
            Ctx::Root if self.required(Ctx::ProviderEnv) => Some("provider"),
            Ctx::Provider if self.required(Ctx::ProviderEnv) => Some("environment"),
            Ctx::Function if self.required(Ctx::FunctionEnv) => Some("environment"),
            _ => None,
        };
        if let Some(key) = holds
            && output_keys.get(key).is_none()
        {
            return Err(self.fail(path, &format!("`{key}` missing: secret entries missing")));
        }
        Ok(())
    }

    /// `provider: aws` written out as `name: aws` plus the environment.
    fn shorthand(
        &mut self,
        name: NodeId,
        output: NodeId,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        let mut named = false;
        let mut env = None;
        for (key, key_node, value) in &effective_entries(self.output, output) {
            path.push(Step::Output(*key_node));
            match &**key {
                "name" => {
                    self.same(Some(name), Some(*value), path, depth + 1)?;
                    named = true;
                }
                "environment" => env = Some((*key_node, *value)),
                _ => return Err(self.fail(path, "unexpected new entry")),
            }
            path.pop();
        }
        if !named {
            return Err(self.fail(path, "`name` missing from the expanded provider"));
        }
        match env {
            Some((key_node, value)) => {
                path.push(Step::Output(key_node));
                self.node(None, Some(value), Ctx::ProviderEnv, path, depth + 1)?;
                path.pop();
                Ok(())
            }
            None => self.node(None, None, Ctx::ProviderEnv, path, depth + 1),
        }
    }

    /// The same functions in the same order, each compared as a function.
    fn functions(
        &mut self,
        original: NodeId,
        output: NodeId,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        let original_entries = effective_entries(self.original, original);
        let output_entries = effective_entries(self.output, output);
        if original_entries.len() != output_entries.len() {
            return Err(self.fail(path, "different number of functions"));
        }
        let pairs = original_entries.iter().zip(output_entries.iter());
        for ((name, key_node, value), (output_name, output_key, output_value)) in pairs {
            // Non-scalar names compare by structure: their text runs to the next token, which
            // the render may have written.
            if is_node_key(name) != is_node_key(output_name)
                || !is_node_key(name) && name != output_name
            {
                return Err(self.fail(path, "function names differ"));
            }
            self.same_key(*key_node, *output_key, path, depth)?;
            path.push(Step::Original(*key_node));
            self.function = Some(name.to_string());
            self.node(
                Some(*value),
                Some(*output_value),
                Ctx::Function,
                path,
                depth + 1,
            )?;
            self.function = None;
            path.pop();
        }
        Ok(())
    }

    /// The secrets environment `ctx` must hold, whatever it had.
    fn required_keys(&self, ctx: Ctx) -> Vec<usize> {
        match (ctx, &self.function) {
            (Ctx::ProviderEnv, _) if !self.expect.variable_env => (0..self.expect.names.len())
                .filter(|&k| self.expect.reaches(k, None))
                .collect(),
            (Ctx::FunctionEnv, Some(function)) => self.expect.required_in_function(function),
            _ => Vec::new(),
        }
    }

    fn required(&self, ctx: Ctx) -> bool {
        !self.required_keys(ctx).is_empty()
    }

    /// The secret a key named `key` must hold in environment `ctx`: a service-wide one, or one
    /// scoped to the function being compared.
    fn secret_of(&self, ctx: Ctx, key: &str) -> Option<usize> {
        let &k = self.name_index.get(key)?;
        let function = match ctx {
            Ctx::FunctionEnv => self.function.as_deref(),
            _ => None,
        };
        self.expect.reaches(k, function).then_some(k)
    }

    fn env(
        &mut self,
        original_entries: &[Entry<'_>],
        output_entries: &[Entry<'_>],
        ctx: Ctx,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        let output_keys = Keys::new(output_entries);
        let original_keys = Keys::new(original_entries);
        // Driven by the environment's own entries (a few) rather than by every secret name,
        // so checking thousands of function environments against hundreds of secrets stays
        // linear.
        for index in self.required_keys(ctx) {
            if output_keys.get(self.expect.names[index]).is_none() {
                path.push(Step::Name(index));
                return Err(self.fail(path, "secret entry missing"));
            }
        }
        for (key, _, value) in output_entries {
            let Some(secret) = self.secret_of(ctx, key) else {
                continue;
            };
            let node = self.output.node(*value);
            let holds = matches!(&node.kind, Kind::Scalar { value: text } if text == self.expect.yaml_values[secret])
                && node.style == ScalarStyle::DoubleQuoted
                && !node.has_tag();
            if !holds {
                path.push(Step::Name(secret));
                return Err(self.fail(path, "secret entry does not resolve to the secret"));
            }
        }
        for (index, (key, key_node, value)) in original_entries.iter().enumerate() {
            if let Some(secret) = self.secret_of(ctx, key) {
                if output_keys.get(key).is_none() {
                    path.push(Step::Name(secret));
                    return Err(self.fail(path, "entry removed from the environment"));
                }
                continue;
            }
            path.push(Step::Original(*key_node));
            let Some((output_key, output_value)) = output_keys.pair(original_entries, index) else {
                return Err(self.fail(path, "entry missing in the output"));
            };
            self.same_key(*key_node, output_key, path, depth)?;
            self.node(
                Some(*value),
                Some(output_value),
                Ctx::Other,
                path,
                depth + 1,
            )?;
            path.pop();
        }
        for (index, (key, key_node, _)) in output_entries.iter().enumerate() {
            if original_keys.pair(output_entries, index).is_none()
                && self.secret_of(ctx, key).is_none()
            {
                path.push(Step::Output(*key_node));
                return Err(self.fail(path, "unexpected new entry"));
            }
        }
        Ok(())
    }

    /// Paired keys: equal scalars already (they paired by value); a non-scalar key must have
    /// the same structure on both sides.
    fn same_key(
        &mut self,
        original: NodeId,
        output: NodeId,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        match (
            self.original.node(original).scalar(),
            self.output.node(output).scalar(),
        ) {
            // Paired by value, unless the value begins with the NUL that marks a non-scalar
            // key's text: compare them anyway.
            (Some(original), Some(output)) if original == output => Ok(()),
            _ => self.same(Some(original), Some(output), path, depth + 1),
        }
    }

    /// Same keys in the same order on both sides, and no merge keys.
    fn same_plain_keys(&self, original: Children, output: Children) -> bool {
        let original_pairs = self.original.pairs(original);
        let output_pairs = self.output.pairs(output);
        original_pairs.len() == output_pairs.len()
            && original_pairs.iter().zip(output_pairs).all(
                |(&(original_key, _), &(output_key, _))| {
                    !self.original.is_merge_key(original_key)
                        && !self.output.is_merge_key(output_key)
                        && key_repr(self.original, original_key)
                            == key_repr(self.output, output_key)
                },
            )
    }

    /// Structural equality (after resolving aliases and merges).
    fn same(
        &mut self,
        original: Option<NodeId>,
        output: Option<NodeId>,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        self.tick()?;
        if depth > MAX_DEPTH * 4 {
            return Err(Mismatch::Budget);
        }
        let (original, output) = match (original, output) {
            (None, None) => return Ok(()),
            (Some(original), Some(output)) => {
                (self.original.deref(original), self.output.deref(output))
            }
            _ => return Err(self.fail(path, "entry present on one side only")),
        };
        let original_node = self.original.node(original);
        let output_node = self.output.node(output);
        if self.original.tag(original) != self.output.tag(output) {
            return Err(self.fail(path, "tag differs"));
        }
        match (&original_node.kind, &output_node.kind) {
            (
                Kind::Scalar {
                    value: original_value,
                },
                Kind::Scalar {
                    value: output_value,
                },
            ) => {
                let original_plain = original_node.style == ScalarStyle::Plain;
                let output_plain = output_node.style == ScalarStyle::Plain;
                if original_value != output_value || original_plain != output_plain {
                    return Err(self.fail(path, "value differs"));
                }
                Ok(())
            }
            (
                Kind::Map {
                    entries: original_pairs,
                },
                Kind::Map {
                    entries: output_pairs,
                },
            ) if self.same_plain_keys(*original_pairs, *output_pairs) => {
                // Same keys in the same order and no merge keys (nearly every mapping outside
                // the environments): pairwise, without collecting effective entries.
                let pairs = self
                    .original
                    .pairs(*original_pairs)
                    .iter()
                    .zip(self.output.pairs(*output_pairs));
                for (&(key_node, value), &(_, output_value)) in pairs {
                    path.push(Step::Original(key_node));
                    self.same(Some(value), Some(output_value), path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            (Kind::Map { .. }, Kind::Map { .. }) => self.same_maps(original, output, path, depth),
            (
                Kind::Seq {
                    items: original_items,
                },
                Kind::Seq {
                    items: output_items,
                },
            ) => {
                let original_items = self.original.list(*original_items);
                let output_items = self.output.list(*output_items);
                if original_items.len() != output_items.len() {
                    return Err(self.fail(path, "sequence length differs"));
                }
                let items = original_items.iter().zip(output_items.iter()).enumerate();
                for (index, (&item, &output_item)) in items {
                    path.push(Step::Item(index));
                    self.same(Some(item), Some(output_item), path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Err(self.fail(path, "node kind differs")),
        }
    }

    /// Two mappings with merge keys or keys in another order: the same effective entries.
    fn same_maps(
        &mut self,
        original: NodeId,
        output: NodeId,
        path: &mut Vec<Step>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        let original_entries = effective_entries(self.original, original);
        let output_entries = effective_entries(self.output, output);
        if original_entries.len() != output_entries.len() {
            return Err(self.fail(path, "mapping size differs"));
        }
        let pairs = original_entries.iter().zip(output_entries.iter());
        if pairs
            .clone()
            .all(|(original, output)| original.0 == output.0)
        {
            // Untouched mappings keep their key order: compare pairwise.
            for ((_, key_node, value), (_, _, output_value)) in pairs {
                path.push(Step::Original(*key_node));
                self.same(Some(*value), Some(*output_value), path, depth + 1)?;
                path.pop();
            }
            return Ok(());
        }
        let output_keys = Keys::new(&output_entries);
        for (index, (_, key_node, value)) in original_entries.iter().enumerate() {
            path.push(Step::Original(*key_node));
            let Some((output_key, output_value)) = output_keys.pair(&original_entries, index)
            else {
                return Err(self.fail(path, "key missing"));
            };
            self.same_key(*key_node, output_key, path, depth)?;
            self.same(Some(*value), Some(output_value), path, depth + 1)?;
            path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn verify_src(a: &str, b: &str) -> Result<(), Error> {
        let original = Tree::parse(a).ok().expect("a parses");
        let output = Tree::parse(b).ok().expect("b parses");
        let expect = Expect {
            names: &["DB_PASSWORD"],
            yaml_values: &["s3cret"],
            variable_env: false,
            service_wide: &[true],
            scoped: &[],
        };
        verify(&original, &output, &expect)
    }

    #[track_caller]
    fn assert_refused(a: &str, bad: &[String]) {
        for b in bad {
            assert!(
                matches!(verify_src(a, b), Err(Error::Internal { .. })),
                "accepted: {b}"
            );
        }
    }

    /// An input, the intended output for secret `DB_PASSWORD=s3cret`, and outputs that are
    /// not it (every check of the output must refuse them).
    pub(crate) fn wrong_outputs() -> (&'static str, &'static str, Vec<String>) {
        let a = "service: s\nprovider:\n  name: aws\n  environment:\n    LOG: info\n";
        let good = "service: s\nprovider:\n  name: aws\n  environment:\n    LOG: info\n    DB_PASSWORD: \"s3cret\"\n";
        let bad = vec![
            good.replace("service: s", "service: t"),
            good.replace("\"s3cret\"", "\"other\""),
            // Plain style could change the value's type.
            good.replace("\"s3cret\"", "s3cret"),
            good.replace("    LOG: info\n", ""),
            good.replace("  name: aws\n", "  name: aws\n  extra: 1\n"),
            good.replace("    DB_PASSWORD", "    OTHER_NEW: x\n    DB_PASSWORD"),
            a.to_string(),
        ];
        (a, good, bad)
    }

    #[test]
    fn verify_refuses_anything_but_the_intended_change() {
        let (a, good, bad) = wrong_outputs();
        assert!(verify_src(a, good).is_ok());
        assert_refused(a, &bad);
    }

    #[test]
    fn verify_accepts_the_provider_shorthand_only_as_the_same_name() {
        let a = "service: s\nprovider: aws # short\n";
        let good = "service: s\nprovider: # short\n  name: aws\n  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        assert!(verify_src(a, good).is_ok());
        assert_refused(
            a,
            &[
                good.replace("name: aws", "name: gcp"),
                good.replace("  name: aws\n", ""),
                good.replace("  name: aws\n", "  name: aws\n  region: x\n"),
                good.replace("\"s3cret\"", "\"other\""),
            ],
        );
    }

    #[test]
    fn verify_pairs_repeated_non_scalar_keys_by_occurrence() {
        let env = "  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        for (a, good) in [
            (
                "[x]: 1\n[x]: 2\nprovider:\n  name: aws\n".to_string(),
                format!("[x]: 1\n[x]: 2\nprovider:\n  name: aws\n{env}"),
            ),
            (
                "provider:\n  name: aws\n  [x]: 1\n  [x]: 2\n".to_string(),
                format!("provider:\n  name: aws\n  [x]: 1\n  [x]: 2\n{env}"),
            ),
            (
                "provider:\n  environment:\n    [x]: 1\n    [x]: 2\n".to_string(),
                "provider:\n  environment:\n    [x]: 1\n    [x]: 2\n    DB_PASSWORD: \"s3cret\"\n"
                    .to_string(),
            ),
        ] {
            assert!(verify_src(&a, &good).is_ok(), "{good}");
            assert_refused(
                &a,
                &[
                    good.replace(": 1\n", ": 3\n"),
                    good.replace(": 2\n", ": 1\n"),
                    good.replacen("[x]: 1\n", "[x]: 2\n", 1),
                    {
                        // The second entry written twice, at its own indentation.
                        let line = good.lines().find(|l| l.ends_with("[x]: 2")).unwrap();
                        good.replacen(line, &format!("{line}\n{line}"), 1)
                    },
                ],
            );
        }
    }

    #[test]
    fn verify_compares_complex_keys_by_structure_not_by_text() {
        // The key's text runs to the next token: to the end of `a`, to `provider` in `good`.
        let a = "s: a\n? ? k\n";
        let good = "s: a\n? ? k\nprovider:\n  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        assert!(verify_src(a, good).is_ok());
        assert_refused(
            a,
            &[
                good.replace("? ? k", "? ? j"),
                good.replace("? ? k", "? [k]"),
                good.replace("? ? k", "? ? k\n  : v"),
                good.replace("? ? k\n", ""),
            ],
        );
        // The same as a function's name, and scalar keys that begin with a NUL.
        let a = "s: a\nfunctions:\n  ? ? k\n";
        let good =
            "s: a\nfunctions:\n  ? ? k\nprovider:\n  environment:\n    DB_PASSWORD: \"s3cret\"\n";
        assert!(verify_src(a, good).is_ok());
        assert_refused(a, &[good.replace("? ? k", "? ? j")]);
        let a = "c: {\"\\0a\": 1, \"\\0b\": 2}\n";
        let good = format!("{a}provider:\n  environment:\n    DB_PASSWORD: \"s3cret\"\n");
        assert!(verify_src(a, &good).is_ok());
        assert_refused(
            a,
            &[
                good.replace("1, ", "3, "),
                good.replace("\"\\0a\": 1, \"\\0b\": 2", "\"\\0b\": 1, \"\\0a\": 2"),
            ],
        );
    }
}
