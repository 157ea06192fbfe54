//! Format-preserving rendering of secrets into `serverless.yml`.
//!
//! [`render`] parses the file once into a span tree ([`tree`]; when saphyr-parser refuses
//! indentation that js-yaml only warns about, a second time from [`relax`]'s re-indented copy,
//! positions mapped back to the original), plans where each secret goes
//! ([`edit`]: `provider.environment`, function environments that would shadow it, or every
//! function when the provider environment is a `${...}` string), splices the new text into the
//! original bytes, re-parses the result and checks it against the original tree as it streams
//! ([`reparse`], no second tree) and checks the plan and sizes ([`check`]). Everything outside the
//! changed entries is byte-for-byte the input. Secret values never reach notes, errors or the
//! masked texts handed to [`unified_diff`].
//!
//! `provider: aws` (the shorthand Serverless reads as `{name: aws}`) is written out as a block
//! mapping with the same `name`. Limitations: multi-document files, a flow-style top level,
//! `provider` given as a variable, environments shared through anchors with non-environment places, and values containing
//! `$${` are refused with [`Error::Unsupported`] / [`Error::Unwritable`].

mod check;
mod cut;
mod diff;
mod error;
mod events;
mod overlay;
mod plan;
mod quote;
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
    if plan.variable_env {
        return Vec::new();
    }
    plan.slots
        .iter()
        .zip(changed_keys)
        .filter_map(|(slot, keys)| {
            let function = slot.function.as_deref()?;
            (!keys.is_empty()).then(|| shadow_note(function, keys.iter().map(|&k| names[k])))
        })
        .collect()
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
    render_parsed(&parse(source), secrets, opts)
}

/// `source` read into a span tree, for [`render_parsed`]. Reading needs no secrets, so a
/// caller can decrypt the stage file meanwhile. No `Debug`: a file rendered before holds
/// secrets.
pub struct Parsed<'s> {
    source: &'s str,
    tree: Result<tree::Tree<'s>, tree::ParseError>,
}

/// The first half of [`render`]; its errors are reported by [`render_parsed`], where the
/// secrets they must not show are known.
pub fn parse(source: &str) -> Parsed<'_> {
    Parsed {
        source,
        tree: tree::Tree::parse(source),
    }
}

/// [`parse`] on this thread while `beside` runs on a second one (the stage file's decryption:
/// neither needs the other); one after the other when no thread can be made.
pub fn parse_beside<T: Send>(source: &str, beside: impl FnOnce() -> T + Send) -> (Parsed<'_>, T) {
    events::join(true, || parse(source), beside)
}

/// The rest of [`render`], on a file read by [`parse`]. The result borrows the source, not
/// `parsed`, so a caller about to exit can skip freeing the tree (milliseconds for a large
/// file).
pub fn render_parsed<'s>(
    parsed: &Parsed<'s>,
    secrets: &[Secret<'_>],
    opts: &RenderOptions,
) -> Result<Rendered<'s>, Error> {
    let source = parsed.source;
    let tree = parsed
        .tree
        .as_ref()
        .map_err(|e| parse_error(source, e, secrets))?;
    if let Some((line, col)) = tree.second_document {
        return Err(Error::Unsupported {
            line,
            col: col + 1,
            what: "the file has more than one YAML document".into(),
            hint: "Serverless reads a single document; remove the extra `---` sections".into(),
        });
    }
    // No early return for an empty stage: the full path (plan, splice, re-parse, verify)
    // must hand back the input unchanged, and the property tests check that it does.
    if !opts.set_env {
        return Ok(unchanged(
            source,
            vec!["environment injection is turned off: serverless.yml left unchanged".into()],
        ));
    }
    let names: Vec<&str> = secrets.iter().map(|s| s.name).collect();
    let mut yaml_values: Vec<Zeroizing<String>> = Vec::with_capacity(secrets.len());
    let mut encoded: Vec<Zeroizing<String>> = Vec::with_capacity(secrets.len());
    for (i, s) in secrets.iter().enumerate() {
        check::check_name(s.name, "secret file")?;
        if names[..i].contains(&s.name) {
            return Err(Error::InvalidName {
                name: s.name.to_string(),
                location: "secret file (listed twice)".into(),
            });
        }
        if !opts.framework.escapes_placeholders() && s.value.contains("${") {
            return Err(Error::Unescapable {
                name: s.name.to_string(),
                framework: opts.framework.name(),
            });
        }
        let escaped = quote::serverless_escape(s.value).map_err(|_| Error::Unwritable {
            name: s.name.to_string(),
            reason: "the value contains `$${`, which Serverless v3 always treats as a variable; it cannot be written literally".into(),
        })?;
        encoded.push(quote::double_quoted(&escaped));
        yaml_values.push(escaped);
    }
    let enc: Vec<&str> = encoded.iter().map(|s| s.as_str()).collect();
    let yv: Vec<&str> = yaml_values.iter().map(|s| s.as_str()).collect();

    let mut secret_texts: Vec<&str> = yv.clone();
    secret_texts.extend(secrets.iter().map(|s| s.value));
    let parallel = events::parallel(source);
    // On a large file the name checks run beside the plan, which does not need them; their
    // error still comes first, as when one ran after the other. The original's environments
    // are found once there, for the name checks and the diff's masks (values that already
    // hold a secret).
    let (planned, names_checked) = events::join(
        parallel,
        || -> Result<_, Error> {
            let plan = plan::plan(tree, &names, &enc)?;
            let (edits, changed_keys) = splice::edits(tree, &plan, &names, &enc)?;
            let sharing = check::check_sharing(tree, &plan, &edits)?;
            Ok((plan, edits, changed_keys, sharing))
        },
        || {
            let envs = check::env_maps(tree);
            let notes = check::check_names(tree, &envs)?;
            Ok((notes, check::secret_spans(tree, &envs, &secret_texts)))
        },
    );
    let (mut notes, masks) = names_checked?;
    let (plan, edits, changed_keys, sharing) = planned?;
    notes.extend(sharing);
    notes.extend(plan.notes.iter().cloned());
    // The output is spliced while what its check expects is laid out and the notes are built.
    let (output, (overlay, shadow_notes)) = events::join(
        parallel,
        || splice::apply(source, &edits, |i| enc[i]),
        || {
            (
                overlay::Overlay::new(tree, &plan, &names),
                shadow_notes(&plan, &changed_keys, &names),
            )
        },
    );

    let expect = check::Expect {
        names: &names,
        yaml_values: &yv,
        variable_env: plan.variable_env,
    };
    let sizes = check::Sizes {
        raw_len: &secrets.iter().map(|s| s.value.len()).collect::<Vec<_>>(),
        limit: opts.env_limit,
    };
    // The whole output is re-parsed and must be the original plus exactly the plan's
    // entries (streamed against the original tree: no second tree); the plan must cover
    // every environment that needs the secrets; then Lambda's size limit.
    let overlay = overlay?;
    // The checks on the original tree need neither the output nor each other: on a large
    // file they run while the output is re-parsed.
    let (reparsed, (coverage, size_check)) = events::join(
        parallel,
        || reparse::check(tree, &overlay, &expect, &output, &edits, |i| enc[i].len()),
        || {
            (
                check::check_coverage(tree, &overlay, &expect),
                check::check_sizes(tree, &overlay, &expect, &sizes),
            )
        },
    );
    reparsed?;
    coverage?;
    #[cfg(debug_assertions)]
    reference_check(tree, &output, &expect, &sizes, &size_check);
    size_check?;
    let changed = output != source;
    Ok(Rendered {
        output,
        notes: {
            let mut notes = shown(notes);
            notes.extend(shadow_notes);
            notes
        },
        changed,
        source,
        edits,
        masks,
    })
}

/// Debug builds (tests, fuzzing) also run the former check, a second span tree of the output
/// compared with the original with aliases and merges resolved, and its 4 KB check: the
/// streamed checks must never accept what it refuses, nor disagree on the sizes.
#[cfg(debug_assertions)]
fn reference_check(
    tree: &tree::Tree<'_>,
    output: &str,
    expect: &check::Expect<'_>,
    sizes: &check::Sizes<'_>,
    size_check: &Result<(), Error>,
) {
    let Ok(out_tree) = tree::Tree::parse(output) else {
        panic!("the streamed check accepted an output the span tree refuses");
    };
    match check::verify(tree, &out_tree, expect) {
        // The tree comparison resolves aliases under a node budget the stream never needs.
        Ok(()) | Err(Error::Unsupported { .. }) => {}
        Err(_) => panic!("the streamed check accepted an output the tree comparison refuses"),
    }
    let reference = check::check_sizes_of_output(&out_tree, expect, sizes);
    let bytes = |r: &Result<(), Error>| match r {
        Ok(()) => None,
        Err(Error::TooLarge { bytes, .. }) => Some(*bytes),
        Err(_) => Some(usize::MAX),
    };
    assert_eq!(
        bytes(&reference),
        bytes(size_check),
        "the 4 KB check differs from the one on the parsed output"
    );
}
