//! The `sops:` metadata block: reading it from the first document, and writing it back.
//!
//! The block is kept as the original items and patched on write, so a rewrite only touches
//! the lines that changed (`lastmodified`, `mac`, and a key list when its keys change),
//! whatever key order the sops version that made the file used. The `age` and `kms` lists
//! are read into one list of [`KeyEntry`]s; each is written back in sops' field order.

use super::rules::{RULE_KEYS, Rule};
use crate::yaml::{MapItem, SeqItem, Text, Value};

/// The sops version we write into new files: the format we produce and test against.
pub const SOPS_FORMAT_VERSION: &str = "3.11.0";

/// An age recipient stanza: the data key as an armored age file for one recipient.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgeEntry {
    pub recipient: String,
    pub enc: String,
}

/// An AWS KMS stanza as sops writes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KmsEntry {
    pub arn: String,
    pub role: String,
    pub context: Vec<(String, String)>,
    pub created_at: String,
    pub enc: String,
    pub aws_profile: String,
}

/// One key of a file: which key (an age recipient, a KMS key with its settings) and the data
/// key wrapped for it. A `.sops.yaml` creation rule lists its keys the same way, not wrapped
/// yet (`enc` empty), as sops' `MasterKey` does. What each key source does with an entry
/// (wrap, unwrap, describe) is in `keys/`; this is the on-disk form only.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyEntry {
    Age(AgeEntry),
    Kms(KmsEntry),
}

/// The `sops:` lists that hold key entries, in the order a new block writes them, each with
/// the entry a new list goes before.
const KEY_LISTS: [(&str, &str); 2] = [("kms", "age"), ("age", "lastmodified")];

impl KeyEntry {
    /// The `sops:` list it is kept in, also the word `keys` and errors use: `age`, `kms`.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyEntry::Age(_) => "age",
            KeyEntry::Kms(_) => "kms",
        }
    }

    /// What names the key: the age recipient, the KMS key ARN.
    pub fn id(&self) -> &str {
        match self {
            KeyEntry::Age(entry) => &entry.recipient,
            KeyEntry::Kms(entry) => &entry.arn,
        }
    }

    /// The wrapped data key (empty for a rule's key).
    pub fn enc(&self) -> &str {
        match self {
            KeyEntry::Age(entry) => &entry.enc,
            KeyEntry::Kms(entry) => &entry.enc,
        }
    }

    /// When the data key was wrapped, for the kinds that record it (sops keeps no time for
    /// age).
    pub fn created_at(&self) -> Option<&str> {
        match self {
            KeyEntry::Age(_) => None,
            KeyEntry::Kms(entry) => Some(&entry.created_at),
        }
    }

    /// The entry as sops writes it: fields in sops' order, optional ones only when set.
    fn to_value(&self) -> Value {
        match self {
            KeyEntry::Age(entry) => age_value(entry),
            KeyEntry::Kms(entry) => kms_value(entry),
        }
    }
}

/// Reads one entry of a key list.
type EntryReader = fn(&[MapItem]) -> Result<KeyEntry, MetadataError>;

/// The key lists in the order they are read, so `keys`, errors and comparisons list age
/// recipients first.
const KEY_READERS: [(&str, EntryReader); 2] = [("age", age_entry), ("kms", kms_entry)];

fn age_entry(items: &[MapItem]) -> Result<KeyEntry, MetadataError> {
    Ok(KeyEntry::Age(AgeEntry {
        recipient: entry_str(items, "age", "recipient")?,
        enc: entry_str(items, "age", "enc")?,
    }))
}

fn kms_entry(items: &[MapItem]) -> Result<KeyEntry, MetadataError> {
    let context = kms_context(items)?;
    Ok(KeyEntry::Kms(KmsEntry {
        arn: entry_str(items, "kms", "arn")?,
        role: entry_str(items, "kms", "role")?,
        context,
        created_at: entry_str(items, "kms", "created_at")?,
        enc: entry_str(items, "kms", "enc")?,
        aws_profile: entry_str(items, "kms", "aws_profile")?,
    }))
}

impl From<AgeEntry> for KeyEntry {
    fn from(entry: AgeEntry) -> KeyEntry {
        KeyEntry::Age(entry)
    }
}

impl From<KmsEntry> for KeyEntry {
    fn from(entry: KmsEntry) -> KeyEntry {
        KeyEntry::Kms(entry)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("no `sops` metadata block: this is not a sops-encrypted file")]
    Missing,
    #[error("the `sops` metadata block is not a mapping")]
    NotAMap,
    #[error("`sops.{0}` is missing")]
    MissingField(&'static str),
    #[error("`sops.{field}` is malformed: {why}")]
    Malformed { field: String, why: String },
    #[error(
        "the file uses {what}, which sls-secrets does not support; use the sops binary for this file"
    )]
    Unsupported { what: String },
}

/// The parsed `sops:` block.
#[derive(Clone)]
pub struct Metadata {
    /// Every key entry: the `age` list's, then the `kms` list's, each in file order.
    keys: Vec<KeyEntry>,
    pub lastmodified: String,
    pub mac: String,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    pub version: String,
    /// Key types present that we cannot use (pgp, gcp_kms, ...); kept untouched on write.
    pub foreign_keys: Vec<String>,
    raw: Vec<MapItem>,
    /// The key lists to write from `keys`; the others keep their original items.
    changed: Vec<&'static str>,
}

fn str_field(items: &[MapItem], key: &'static str) -> Result<Option<String>, MetadataError> {
    match crate::yaml::value::get(items, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) | Some(Value::Time(s)) => Ok(Some(s.to_string())),
        Some(Value::Bool(b)) if key == "mac_only_encrypted" => Ok(Some(b.to_string())),
        Some(Value::Float(_) | Value::Int(_)) if key == "version" => {
            // An unquoted `version: 3.1` would read as a float; sops itself writes strings.
            Err(MetadataError::Malformed {
                field: key.into(),
                why: "expected a string".into(),
            })
        }
        Some(_) => Err(MetadataError::Malformed {
            field: key.into(),
            why: "expected a string".into(),
        }),
    }
}

fn list<'a>(items: &'a [MapItem], key: &str) -> Result<Vec<&'a [MapItem]>, MetadataError> {
    match crate::yaml::value::get(items, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Seq(seq)) => seq
            .iter()
            .filter_map(|item| match item {
                SeqItem::Value(v) => Some(v),
                SeqItem::Comment(_) => None,
            })
            .map(|v| {
                v.as_map().ok_or_else(|| MetadataError::Malformed {
                    field: key.to_owned(),
                    why: "entries must be mappings".into(),
                })
            })
            .collect(),
        Some(_) => Err(MetadataError::Malformed {
            field: key.to_owned(),
            why: "expected a list".into(),
        }),
    }
}

fn entry_str(entry: &[MapItem], list: &str, key: &'static str) -> Result<String, MetadataError> {
    str_field(entry, key)
        .map_err(|_| MetadataError::Malformed {
            field: format!("{list}[].{key}"),
            why: "expected a string".into(),
        })
        .map(Option::unwrap_or_default)
}

/// The one `*_suffix` / `*_regex` setting of the block, if any.
fn encryption_rule(items: &[MapItem]) -> Result<Option<Rule>, MetadataError> {
    let mut rule = None;
    for key in RULE_KEYS {
        // sops treats an empty rule as unset; so must we, or "" would encrypt nothing.
        let Some(text) = str_field(items, key)?.filter(|t| !t.is_empty()) else {
            continue;
        };
        if rule.is_some() {
            return Err(MetadataError::Malformed {
                field: key.into(),
                why: "only one of the *_suffix / *_regex rules may be set".into(),
            });
        }
        rule = Some(match Rule::from_key(key, &text) {
            Some(Ok(r)) => r,
            Some(Err(why)) => {
                return Err(MetadataError::Malformed {
                    field: key.into(),
                    why,
                });
            }
            None => {
                return Err(MetadataError::Unsupported {
                    what: format!("`{key}`"),
                });
            }
        });
    }
    Ok(rule)
}

/// A KMS entry's `context`: string values only, as sops writes them.
fn kms_context(entry: &[MapItem]) -> Result<Vec<(String, String)>, MetadataError> {
    let malformed = |why: &str| MetadataError::Malformed {
        field: "kms[].context".into(),
        why: why.into(),
    };
    match crate::yaml::value::get(entry, "context") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Map(ctx)) => ctx
            .iter()
            .filter_map(|item| match item {
                MapItem::Entry(name, Value::Str(value)) => {
                    Some(Ok((name.clone(), value.to_string())))
                }
                MapItem::Entry(..) => Some(Err(malformed("values must be strings"))),
                MapItem::Comment(_) => None,
            })
            .collect(),
        Some(_) => Err(malformed("expected a mapping")),
    }
}

impl Metadata {
    /// Reads the block from the first document's items (the `sops` entry).
    pub fn from_value(value: &Value) -> Result<Metadata, MetadataError> {
        let items = value.as_map().ok_or(MetadataError::NotAMap)?;
        if let Some(groups) = crate::yaml::value::get(items, "key_groups") {
            let n = match groups {
                Value::Seq(s) => s.len(),
                _ => 0,
            };
            return Err(MetadataError::Unsupported {
                what: format!("{n} key groups (Shamir secret sharing)"),
            });
        }
        let rule = encryption_rule(items)?;
        let mut keys = Vec::new();
        for (name, read) in KEY_READERS {
            for entry in list(items, name)? {
                keys.push(read(entry)?);
            }
        }

        let foreign_keys = ["pgp", "gcp_kms", "azure_kv", "hc_vault", "hckms"]
            .iter()
            .filter(|k| {
                matches!(crate::yaml::value::get(items, k), Some(Value::Seq(s)) if !s.is_empty())
            })
            .map(|k| k.to_string())
            .collect();

        let lastmodified =
            str_field(items, "lastmodified")?.ok_or(MetadataError::MissingField("lastmodified"))?;
        let mac_only_encrypted = match crate::yaml::value::get(items, "mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(MetadataError::Malformed {
                    field: "mac_only_encrypted".into(),
                    why: "expected true or false".into(),
                });
            }
        };
        Ok(Metadata {
            keys,
            lastmodified,
            mac: str_field(items, "mac")?.unwrap_or_default(),
            rule: rule.unwrap_or_default(),
            mac_only_encrypted,
            version: str_field(items, "version")?.unwrap_or_default(),
            foreign_keys,
            raw: items.to_vec(),
            changed: Vec::new(),
        })
    }

    /// Metadata for a new file with the default rule and the given key entries.
    pub fn with_keys(keys: Vec<KeyEntry>) -> Metadata {
        Metadata {
            keys,
            lastmodified: String::new(),
            mac: String::new(),
            rule: Rule::default(),
            mac_only_encrypted: false,
            version: SOPS_FORMAT_VERSION.to_owned(),
            foreign_keys: Vec::new(),
            raw: Vec::new(),
            changed: KEY_LISTS.iter().map(|(list, _)| *list).collect(),
        }
    }

    /// [`Metadata::with_keys`] from age and KMS entries (the benches' and fuzz seeds' form).
    pub fn new(age: Vec<AgeEntry>, kms: Vec<KmsEntry>) -> Metadata {
        let keys = age.into_iter().map(KeyEntry::Age);
        Metadata::with_keys(keys.chain(kms.into_iter().map(KeyEntry::Kms)).collect())
    }

    /// Every key the data key is wrapped for.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// Replaces every key entry (a new data key): every key list is written again.
    pub fn set_keys(&mut self, keys: Vec<KeyEntry>) {
        self.keys = keys;
        self.changed = KEY_LISTS.iter().map(|(list, _)| *list).collect();
    }

    /// Adds one entry (the same data key wrapped for one more key): only its list is written
    /// again.
    pub fn add_key(&mut self, entry: KeyEntry) {
        if !self.changed.contains(&entry.kind()) {
            self.changed.push(entry.kind());
        }
        self.keys.push(entry);
    }

    /// Makes the file decide which values are encrypted by `rule` and `mac_only_encrypted` (a
    /// creation rule's settings); the next write encrypts by them.
    pub fn set_encryption(&mut self, rule: Rule, mac_only_encrypted: bool) {
        let at = self
            .raw
            .iter()
            .position(|i| matches!(i, MapItem::Entry(k, _) if RULE_KEYS.contains(&k.as_str())));
        self.raw
            .retain(|i| !matches!(i, MapItem::Entry(k, _) if RULE_KEYS.contains(&k.as_str())));
        if !self.raw.is_empty() {
            let entry = MapItem::Entry(rule.key().into(), str_value(rule.text()));
            match at {
                Some(at) => self.raw.insert(at, entry),
                None => set_or_insert(&mut self.raw, rule.key(), str_value(rule.text()), "version"),
            }
            self.raw
                .retain(|i| !matches!(i, MapItem::Entry(k, _) if k == "mac_only_encrypted"));
        }
        self.rule = rule;
        self.mac_only_encrypted = mac_only_encrypted;
    }

    /// Drops every wrapped key we cannot produce (pgp, gcp_kms, ...): used when the data key
    /// changes, since their stanzas would wrap the old key.
    pub fn drop_foreign_keys(&mut self) {
        let foreign = std::mem::take(&mut self.foreign_keys);
        self.raw
            .retain(|i| !matches!(i, MapItem::Entry(k, _) if foreign.contains(k)));
    }

    /// The block as mapping items. Existing files keep their key order and untouched
    /// entries; a new block uses sops 3.11's order (kms, age, lastmodified, mac, rule, version).
    pub fn to_value(&self) -> Value {
        let mut items = self.raw.clone();
        if items.is_empty() {
            items.push(MapItem::Entry("kms".into(), Value::Null));
            items.push(MapItem::Entry("age".into(), Value::Null));
            items.push(MapItem::Entry("lastmodified".into(), Value::Null));
            items.push(MapItem::Entry("mac".into(), Value::Null));
            items.push(MapItem::Entry(
                self.rule.key().into(),
                str_value(self.rule.text()),
            ));
            items.push(MapItem::Entry("version".into(), str_value(&self.version)));
        }
        for (list, before) in KEY_LISTS {
            if self.changed.contains(&list) {
                let entries = self.keys.iter().filter(|key| key.kind() == list);
                let value = Value::Seq(entries.map(|key| SeqItem::Value(key.to_value())).collect());
                set_or_insert(&mut items, list, value, before);
            }
        }
        set_or_insert(
            &mut items,
            "lastmodified",
            str_value(&self.lastmodified),
            "mac",
        );
        set_or_insert(&mut items, "mac", str_value(&self.mac), "version");
        // Written only when true, as sops does; a file that says false reads the same.
        if self.mac_only_encrypted {
            set_or_insert(
                &mut items,
                "mac_only_encrypted",
                Value::Bool(true),
                "version",
            );
        }
        // Empty lists are omitted, as sops ≥ 3.10 does.
        items.retain(|i| !matches!(i, MapItem::Entry(_, Value::Null)));
        items.retain(|i| {
            !matches!(i, MapItem::Entry(k, Value::Seq(s)) if s.is_empty() && KEY_LISTS.iter().any(|(list, _)| k == list))
        });
        Value::Map(items)
    }
}

fn str_value(s: &str) -> Value {
    Value::Str(Text::new(s.to_owned()))
}

fn set_or_insert(items: &mut Vec<MapItem>, key: &str, value: Value, before: &str) {
    for item in items.iter_mut() {
        if let MapItem::Entry(k, v) = item
            && k == key
        {
            *v = value;
            return;
        }
    }
    let at = items
        .iter()
        .position(|i| matches!(i, MapItem::Entry(k, _) if k == before))
        .unwrap_or(items.len());
    items.insert(at, MapItem::Entry(key.to_owned(), value));
}

fn age_value(entry: &AgeEntry) -> Value {
    Value::Map(vec![
        MapItem::Entry("recipient".into(), str_value(&entry.recipient)),
        MapItem::Entry("enc".into(), str_value(&entry.enc)),
    ])
}

fn kms_value(entry: &KmsEntry) -> Value {
    let mut m = vec![MapItem::Entry("arn".into(), str_value(&entry.arn))];
    if !entry.role.is_empty() {
        m.push(MapItem::Entry("role".into(), str_value(&entry.role)));
    }
    if !entry.context.is_empty() {
        let mut ctx = entry.context.clone();
        ctx.sort();
        m.push(MapItem::Entry(
            "context".into(),
            Value::Map(
                ctx.into_iter()
                    .map(|(k, v)| MapItem::Entry(k, str_value(&v)))
                    .collect(),
            ),
        ));
    }
    m.push(MapItem::Entry(
        "created_at".into(),
        str_value(&entry.created_at),
    ));
    m.push(MapItem::Entry("enc".into(), str_value(&entry.enc)));
    m.push(MapItem::Entry(
        "aws_profile".into(),
        str_value(&entry.aws_profile),
    ));
    Value::Map(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `sops:` block as an older sops wrote it: `enc` before `created_at`, no
    /// `aws_profile`, the age list after the KMS list.
    const BLOCK: &str = "\
sops:
    kms:
        - arn: arn:aws:kms:us-east-1:111122223333:key/a
          enc: QUJD
          created_at: \"2024-01-01T00:00:00Z\"
    age:
        - recipient: age1first
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            -----END AGE ENCRYPTED FILE-----
    lastmodified: \"2024-01-01T00:00:00Z\"
    mac: ENC[x]
    unencrypted_suffix: _unencrypted
    version: 3.7.3
";

    fn block() -> Value {
        let docs = crate::yaml::parse(BLOCK).expect("valid YAML");
        crate::yaml::value::get(&docs[0].items, "sops")
            .expect("a sops block")
            .clone()
    }

    fn list_of<'a>(value: &'a Value, name: &str) -> &'a Value {
        let items = value.as_map().expect("a mapping");
        crate::yaml::value::get(items, name).expect("the list")
    }

    #[test]
    fn keys_read_age_first_and_write_back_untouched() {
        let meta = Metadata::from_value(&block()).unwrap();
        let kinds: Vec<&str> = meta.keys().iter().map(KeyEntry::kind).collect();
        assert_eq!(kinds, ["age", "kms"]);
        assert_eq!(
            meta.keys()[1].id(),
            "arn:aws:kms:us-east-1:111122223333:key/a"
        );
        assert!(
            meta.to_value() == block(),
            "nothing changed, nothing rewritten"
        );
    }

    #[test]
    fn adding_a_key_rewrites_only_its_list() {
        let mut meta = Metadata::from_value(&block()).unwrap();
        meta.add_key(KeyEntry::Kms(KmsEntry {
            arn: "arn:aws:kms:us-east-1:111122223333:key/b".into(),
            enc: "REVG".into(),
            ..KmsEntry::default()
        }));
        let written = meta.to_value();
        assert!(list_of(&written, "age") == list_of(&block(), "age"));
        let Value::Seq(kms) = list_of(&written, "kms") else {
            panic!("kms is a list");
        };
        assert_eq!(kms.len(), 2);
        // The list is written again in sops' field order, the old entry included.
        let SeqItem::Value(first) = &kms[0] else {
            panic!("an entry");
        };
        let fields: Vec<&str> = (first.as_map().unwrap().iter())
            .filter_map(|item| match item {
                MapItem::Entry(name, _) => Some(name.as_str()),
                MapItem::Comment(_) => None,
            })
            .collect();
        assert_eq!(fields, ["arn", "created_at", "enc", "aws_profile"]);
    }

    #[test]
    fn new_keys_rewrite_every_list_and_drop_empty_ones() {
        let mut meta = Metadata::from_value(&block()).unwrap();
        let age = meta.keys()[0].clone();
        meta.set_keys(vec![age]);
        let written = meta.to_value();
        let items = written.as_map().unwrap();
        assert!(crate::yaml::value::get(items, "kms").is_none());
        assert!(list_of(&written, "age") == list_of(&block(), "age"));
    }
}
