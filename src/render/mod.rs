//! Format-preserving rendering of secrets into `serverless.yml`.
//!
//! [`render`] parses the file once into a span tree (`tree.rs`; when saphyr-parser refuses
//! indentation that js-yaml only warns about, a second time from `relax.rs`'s re-indented
//! copy, positions mapped back to the original), plans where each secret goes (`plan.rs`:
//! `provider.environment`, function environments that would shadow it, or every function
//! when the provider environment is a `${...}` string), splices the new text into the
//! original bytes (`splice.rs`), re-parses the result and checks it against the original tree
//! as it streams (`reparse.rs`, no second tree) and checks the plan and sizes (`check.rs`).
//! Everything outside the changed entries is byte-for-byte the input. Secret values never
//! reach notes, errors or the masked texts handed to [`unified_diff`].
//!
//! `provider: aws` (the shorthand Serverless reads as `{name: aws}`) is written out as a block
//! mapping with the same `name`. Limitations: multi-document files, a flow-style top level,
//! `provider` given as a variable, environments shared through anchors with non-environment places, and values containing
//! `$${` are refused with [`Error::Unsupported`] / [`Error::Unwritable`].

mod check;
mod diff;
mod error;
mod overlay;
mod plan;
mod quote;
/// The tree-against-tree cross-check of every render: in tests and debug builds only (every
/// integration test, `cargo fuzz run -O -a`), never in a release build.
#[cfg(any(test, debug_assertions))]
mod reference;
mod relax;
mod reparse;
mod splice;
mod stage;
mod tree;

use zeroize::Zeroizing;

pub use check::RESERVED;
pub use diff::unified_diff;
pub use error::Error;
pub use quote::{encode_value, serverless_escape, serverless_unescape};
pub use relax::parser_text;
pub use stage::detect_stage;

/// What a masked secret value looks like in [`Rendered::masked_output`].
pub const MASK: &str = "****";

/// One secret, in stage-file order. No `Debug`: it holds a plaintext value.
#[derive(Clone, Copy)]
pub struct Secret<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl<'a> Secret<'a> {
    /// Borrows a stage's environment (name, value) pairs as secrets, in order.
    pub fn all(env: &'a [(String, crate::yaml::Text)]) -> Vec<Secret<'a>> {
        env.iter()
            .map(|(k, v)| Secret {
                name: k,
                value: v.as_str(),
            })
            .collect()
    }
}

/// Options for [`render`].
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `false`: leave every environment alone (the file is returned unchanged, with a note).
    pub set_env: bool,
    /// Per-function limit on the merged environment, bytes of keys plus values (AWS: 4 KB).
    pub env_limit: usize,
    /// The framework that reads the file: Serverless v4 has no escape for `${`.
    pub framework: crate::framework::Framework,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            set_env: true,
            env_limit: 4096,
            framework: crate::framework::Framework::V3,
        }
    }
}

/// Result of [`render`]. No `Debug`: `output` contains the secrets.
pub struct Rendered<'s> {
    /// The new file.
    pub output: String,
    /// Human-readable lines for stderr; never contain values.
    pub notes: Vec<String>,
    /// Whether `output` differs from the input.
    pub changed: bool,
    source: &'s str,
    /// The splices that made `output`; they hold secret indices, never values, so the masked
    /// texts are built from them only when a diff asks for them.
    edits: Vec<splice::Edit>,
    /// Values in the input that already hold a secret (masked on both sides of a diff).
    masks: Vec<(usize, usize)>,
}

impl Rendered<'_> {
    /// The input with every value that the render replaces written as `****`: diff this
    /// against [`Rendered::masked_output`] (the old values may be secrets from an earlier
    /// render).
    pub fn masked_original(&self) -> String {
        splice::mask_original(self.source, &self.edits, &self.masks, MASK)
    }

    /// The new file with every secret value written as `"****"`.
    pub fn masked_output(&self) -> String {
        let masked_quoted = format!("\"{MASK}\"");
        splice::mask_output(self.source, &self.edits, &self.masks, &masked_quoted, MASK)
    }
}

fn parse_error(src: &str, e: &tree::ParseError, secrets: &[Secret<'_>]) -> Error {
    let lines: Vec<&str> = src.lines().collect();
    let idx = e.line.saturating_sub(1).min(lines.len().saturating_sub(1));
    let mut snippet: String = lines
        .get(idx)
        .map(|l| l.trim_start_matches('\u{feff}').trim_end_matches('\r'))
        .unwrap_or("")
        .to_string();
    // The input may be an earlier render's output: never echo a secret back, raw or as we
    // write it (escaped inside double quotes). Masked before truncating, so a value crossing
    // the cut cannot show its first part.
    let whole = secret_forms(secrets);
    snippet = mask_all(snippet, &whole);
    // A multi-line secret shows up one line at a time (a block scalar, a broken hand edit), so
    // whole-value masking misses it: hide the line if it holds any line of a secret.
    if holds_part_of_a_secret(&snippet, secrets) || holds_a_fragment_of_a_secret(&snippet, secrets)
    {
        snippet = format!("{MASK} (line hidden: it holds part of a secret)");
    }
    // The message can quote the input too (`duplicate mapping key `...``): mask every line of
    // a secret in it (a one-line value is its own line). Not shorter values: the message is
    // mostly our own words, and `v` would turn "recursive" into "recursi****e".
    let message = mask_all(e.message.clone(), &secret_lines(secrets));
    Error::Parse {
        line: e.line.max(1),
        col: e.col + 1,
        message: message.chars().take(200).collect(),
        snippet: snippet.chars().take(200).collect(),
    }
}

/// Each non-empty value, raw and as we write it (the inside of its double quotes).
fn secret_forms(secrets: &[Secret<'_>]) -> Vec<Zeroizing<String>> {
    let mut texts: Vec<Zeroizing<String>> = Vec::new();
    for s in secrets.iter().filter(|s| !s.value.is_empty()) {
        texts.push(Zeroizing::new(s.value.to_string()));
        if let Ok(escaped) = quote::serverless_escape(s.value) {
            let quoted = quote::double_quoted(&escaped);
            texts.push(Zeroizing::new(quoted[1..quoted.len() - 1].to_string()));
        }
    }
    texts
}

/// Every line (4+ characters, surrounding blanks trimmed) of each value, raw or as we write
/// it (where a line break is the two characters `\n`).
fn secret_lines(secrets: &[Secret<'_>]) -> Vec<Zeroizing<String>> {
    let mut parts: Vec<Zeroizing<String>> = Vec::new();
    for form in secret_forms(secrets) {
        for part in form.lines().chain(form.split("\\n")) {
            let part = part.trim();
            if part.chars().count() >= MIN_PART_CHARS {
                parts.push(Zeroizing::new(part.to_string()));
            }
        }
    }
    parts
}

/// `text` with each of `secrets` written as [`MASK`], longest first (so a value that contains
/// another is masked whole).
fn mask_all(mut text: String, secrets: &[Zeroizing<String>]) -> String {
    let mut order: Vec<&str> = secrets
        .iter()
        .map(|v| v.as_str())
        .filter(|v| !v.is_empty())
        .collect();
    order.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in order {
        if text.contains(v) {
            text = text.replace(v, MASK);
        }
    }
    text
}

/// Whether `line` contains a line (4+ characters, surrounding blanks trimmed) of a value, raw
/// or as we write it (double-quoted, where a line break is the two characters `\n`).
fn holds_part_of_a_secret(line: &str, secrets: &[Secret<'_>]) -> bool {
    secret_lines(secrets)
        .iter()
        .any(|p| line.contains(p.as_str()))
}

/// Whether `line` holds a piece of a secret that whole-line matching misses: a value wrapped
/// across two lines by hand shows its start at the end of one line and its end at the start
/// of the next. Any [`FRAGMENT_CHARS`] characters of a value in a row count, and so does a
/// start of 4+ characters ending the line or an end of 4+ characters starting it.
fn holds_a_fragment_of_a_secret(line: &str, secrets: &[Secret<'_>]) -> bool {
    let text = line.trim();
    let inner = text.trim_matches(['"', '\'']);
    secret_lines(secrets).iter().any(|part| {
        let chars: Vec<char> = part.chars().collect();
        let piece = |range: &[char]| range.iter().collect::<String>();
        chars
            .windows(FRAGMENT_CHARS)
            .any(|w| text.contains(piece(w).as_str()))
            || (MIN_PART_CHARS..chars.len()).any(|n| {
                inner.ends_with(piece(&chars[..n]).as_str())
                    || inner.starts_with(piece(&chars[chars.len() - n..]).as_str())
            })
    })
}

/// Characters of a value in a row that hide a snippet wherever they stand in it.
const FRAGMENT_CHARS: usize = 8;

/// Shorter lines of a secret (`}`, `---`) are too common to hide a snippet for.
const MIN_PART_CHARS: usize = 4;

/// Notes quote names from `serverless.yml`: escape control characters before anyone prints
/// them.
fn shown(notes: Vec<String>) -> Vec<String> {
    notes
        .into_iter()
        .map(|n| match crate::text::escape_control_lines(&n) {
            std::borrow::Cow::Borrowed(_) => n,
            std::borrow::Cow::Owned(escaped) => escaped,
        })
        .collect()
}

/// "function `f` sets A, B in its own environment ...": one per function in a large service,
/// so built by appending rather than through `format!` and a joined list.
/// Secret names are checked, so only the function's name needs escaping (see [`shown`]).
fn shadow_note<'n>(function: &str, keys: impl Iterator<Item = &'n str>) -> String {
    let mut note = String::with_capacity(128);
    note.push_str("function `");
    note.push_str(&crate::text::escape_control(function));
    note.push_str("` sets ");
    for (i, key) in keys.enumerate() {
        if i > 0 {
            note.push_str(", ");
        }
        note.push_str(key);
    }
    note.push_str(" in its own environment, which would shadow the secret; overridden there too");
    note
}

/// One note per function whose own environment sets a secret ([`shadow_note`]); none when
/// the provider environment is a variable (every function gets the secrets then).
fn shadow_notes(plan: &plan::Plan, changed_keys: &[Vec<usize>], names: &[&str]) -> Vec<String> {
    let mut notes: Vec<String> = plan
        .scoped
        .iter()
        .map(|(function, keys)| {
            let listed: Vec<&str> = keys.iter().map(|&k| names[k]).collect();
            format!(
                "function `{}` gets {} in its own environment only (custom.slsSecrets.functions)",
                crate::text::escape_control(function),
                listed.join(", ")
            )
        })
        .collect();
    if plan.variable_env {
        return notes;
    }
    let service_wide = |k: usize| plan.service_wide.get(k).copied().unwrap_or(true);
    notes.extend(
        plan.slots
            .iter()
            .zip(changed_keys)
            .filter_map(|(slot, keys)| {
                let function = slot.function.as_deref()?;
                let shadowed: Vec<&str> = keys
                    .iter()
                    .filter(|&&k| service_wide(k))
                    .map(|&k| names[k])
                    .collect();
                (!shadowed.is_empty()).then(|| shadow_note(function, shadowed.into_iter()))
            }),
    );
    notes
}

fn unchanged(source: &str, notes: Vec<String>) -> Rendered<'_> {
    Rendered {
        output: source.to_string(),
        notes: shown(notes),
        changed: false,
        source,
        edits: Vec::new(),
        masks: Vec::new(),
    }
}

/// Render `secrets` into `source` (see the module docs). Pure: no I/O.
pub fn render<'s>(
    source: &'s str,
    secrets: &[Secret<'_>],
    opts: &RenderOptions,
) -> Result<Rendered<'s>, Error> {
    let tree = tree::Tree::parse(source).map_err(|e| parse_error(source, &e, secrets))?;
    if let Some((line, col)) = tree.second_document {
        return Err(Error::Unsupported {
            line,
            col: col + 1,
            what: "the file has more than one YAML document".into(),
            hint: "Serverless reads a single document; remove the extra `---` sections".into(),
        });
    }
    // No early return for an empty stage: the full path (plan, splice, re-parse, checks)
    // must hand back the input unchanged, and the property tests check that it does.
    if !opts.set_env {
        return Ok(unchanged(
            source,
            vec!["environment injection is turned off: serverless.yml left unchanged".into()],
        ));
    }
    let written = Written::new(secrets, opts.framework)?;
    render_tree(&tree, secrets, &written, opts.env_limit)
}

/// serverless.yml as `status` reads it: names as written (no variable resolved), the
/// environments' shape and the scope that [`crate::lambda::decide`] places secrets by (the
/// render's own reading, so both place them alike).
#[derive(Debug)]
pub struct ServiceFile {
    pub service: Option<String>,
    pub stack_name: Option<String>,
    pub region: Option<String>,
    pub shape: crate::lambda::Service,
    pub scope: crate::lambda::Scope,
    /// `custom.slsSecrets.delivery: sealed`.
    pub sealed: bool,
}

/// Reads [`ServiceFile`] from serverless.yml's text. Pure: no I/O.
pub fn read_service_file(source: &str) -> Result<ServiceFile, Error> {
    let tree = tree::Tree::parse(source).map_err(|e| parse_error(source, &e, &[]))?;
    let (shape, scope, sealed) = plan::shape(&tree)?;
    let [service, stack_name, region] = plan::stack_fields(&tree);
    Ok(ServiceFile {
        service,
        stack_name,
        region,
        shape,
        scope,
        sealed,
    })
}

/// The secrets as the render writes them, each name checked. No `Debug`: it holds values.
struct Written<'a> {
    names: Vec<&'a str>,
    /// Each value escaped for Serverless: what the YAML must read back.
    yaml_values: Vec<Zeroizing<String>>,
    /// `yaml_values` double-quoted: the text spliced into the file.
    quoted: Vec<Zeroizing<String>>,
}

impl<'a> Written<'a> {
    fn new(secrets: &[Secret<'a>], framework: crate::framework::Framework) -> Result<Self, Error> {
        let mut written = Written {
            names: Vec::with_capacity(secrets.len()),
            yaml_values: Vec::with_capacity(secrets.len()),
            quoted: Vec::with_capacity(secrets.len()),
        };
        for secret in secrets {
            check::check_name(secret.name, "secret file")?;
            if written.names.contains(&secret.name) {
                return Err(Error::InvalidName {
                    name: secret.name.to_string(),
                    location: "secret file (listed twice)".into(),
                });
            }
            if !framework.escapes_placeholders() && secret.value.contains("${") {
                return Err(Error::Unescapable {
                    name: secret.name.to_string(),
                    framework: framework.name(),
                });
            }
            let escaped = quote::serverless_escape(secret.value).map_err(|_| Error::Unwritable {
                name: secret.name.to_string(),
                reason: "the value contains `$${`, which Serverless v3 always treats as a variable; it cannot be written literally".into(),
            })?;
            written.names.push(secret.name);
            written.quoted.push(quote::double_quoted(&escaped));
            written.yaml_values.push(escaped);
        }
        Ok(written)
    }
}

/// [`render`] on the parsed file: plan and splice, then check the output before handing it
/// back.
fn render_tree<'s>(
    tree: &tree::Tree<'s>,
    secrets: &[Secret<'_>],
    written: &Written<'_>,
    env_limit: usize,
) -> Result<Rendered<'s>, Error> {
    let names = written.names.as_slice();
    let quoted: Vec<&str> = written.quoted.iter().map(|s| s.as_str()).collect();
    let yaml_values: Vec<&str> = written.yaml_values.iter().map(|s| s.as_str()).collect();
    // The original's environments are found once, for the name checks and the diff's masks
    // (values that already hold a secret, as written or raw). The name checks come before
    // the plan: theirs is the error reported when both fail.
    let envs = check::env_maps(tree);
    let mut notes = check::check_names(tree, &envs)?;
    let mut secret_texts = yaml_values.clone();
    secret_texts.extend(secrets.iter().map(|s| s.value));
    let masks = check::secret_spans(tree, &envs, &secret_texts);
    let plan = plan::plan(tree, names, &quoted)?;
    let (edits, changed_keys) = splice::edits(tree, &plan, names, &quoted)?;
    notes.extend(check::check_sharing(tree, &plan, &edits)?);
    notes.extend(plan.notes.iter().cloned());
    let output = splice::apply(tree.src, &edits, |i| quoted[i]);
    let overlay = overlay::Overlay::new(tree, &plan, names)?;

    let expect = check::Expect {
        names,
        yaml_values: &yaml_values,
        variable_env: plan.variable_env,
        service_wide: &plan.service_wide,
        scoped: &plan.scoped,
    };
    let sizes = check::Sizes {
        raw_len: &secrets.iter().map(|s| s.value.len()).collect::<Vec<_>>(),
        limit: env_limit,
    };
    // The whole output is re-parsed and must be the original plus exactly the plan's
    // entries (streamed against the original tree: no second tree); the plan must cover
    // every environment that needs the secrets; then Lambda's size limit.
    reparse::check(tree, &overlay, &expect, &output, &edits, |i| {
        quoted[i].len()
    })?;
    check::check_coverage(tree, &overlay, &expect)?;
    let size_check = check::check_sizes(tree, &overlay, &expect, &sizes);
    #[cfg(any(test, debug_assertions))]
    reference::cross_check(tree, &output, &expect, &sizes, &size_check);
    size_check?;
    let mut notes = shown(notes);
    notes.extend(shadow_notes(&plan, &changed_keys, names));
    Ok(Rendered {
        changed: output != tree.src,
        output,
        notes,
        source: tree.src,
        edits,
        masks,
    })
}
