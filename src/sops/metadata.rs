//! The `sops:` metadata block: reading it from the first document, and writing it back.
//!
//! The block is kept as the original items and patched on write, so a rewrite only touches
//! the lines that changed (`lastmodified`, `mac`, and key stanzas when keys change), whatever
//! key order the sops version that made the file used.

use super::rules::{RULE_KEYS, Rule};
use crate::yaml::{MapItem, SeqItem, Text, Value};

/// The sops version we write into new files: the format we produce and test against.
pub const SOPS_FORMAT_VERSION: &str = "3.11.0";

/// An age recipient stanza: the data key as an armored age file for one recipient.
#[derive(Clone, Debug, PartialEq)]
pub struct AgeEntry {
    pub recipient: String,
    pub enc: String,
}

/// An AWS KMS stanza as sops writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct KmsEntry {
    pub arn: String,
    pub role: String,
    pub context: Vec<(String, String)>,
    pub created_at: String,
    pub enc: String,
    pub aws_profile: String,
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
    pub age: Vec<AgeEntry>,
    pub kms: Vec<KmsEntry>,
    pub lastmodified: String,
    pub mac: String,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    pub version: String,
    /// Key types present that we cannot use (pgp, gcp_kms, ...); kept untouched on write.
    pub foreign_keys: Vec<String>,
    raw: Vec<MapItem>,
    age_changed: bool,
    kms_changed: bool,
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

        let age = list(items, "age")?
            .into_iter()
            .map(|e| {
                Ok(AgeEntry {
                    recipient: entry_str(e, "age", "recipient")?,
                    enc: entry_str(e, "age", "enc")?,
                })
            })
            .collect::<Result<Vec<_>, MetadataError>>()?;
        let kms = list(items, "kms")?
            .into_iter()
            .map(|e| {
                let context = match crate::yaml::value::get(e, "context") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Map(ctx)) => ctx
                        .iter()
                        .filter_map(|i| match i {
                            MapItem::Entry(k, Value::Str(v)) => {
                                Some(Ok((k.clone(), v.to_string())))
                            }
                            MapItem::Entry(..) => Some(Err(MetadataError::Malformed {
                                field: "kms[].context".into(),
                                why: "values must be strings".into(),
                            })),
                            MapItem::Comment(_) => None,
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(MetadataError::Malformed {
                            field: "kms[].context".into(),
                            why: "expected a mapping".into(),
                        });
                    }
                };
                Ok(KmsEntry {
                    arn: entry_str(e, "kms", "arn")?,
                    role: entry_str(e, "kms", "role")?,
                    context,
                    created_at: entry_str(e, "kms", "created_at")?,
                    enc: entry_str(e, "kms", "enc")?,
                    aws_profile: entry_str(e, "kms", "aws_profile")?,
                })
            })
            .collect::<Result<Vec<_>, MetadataError>>()?;

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
            age,
            kms,
            lastmodified,
            mac: str_field(items, "mac")?.unwrap_or_default(),
            rule: rule.unwrap_or_default(),
            mac_only_encrypted,
            version: str_field(items, "version")?.unwrap_or_default(),
            foreign_keys,
            raw: items.to_vec(),
            age_changed: false,
            kms_changed: false,
        })
    }

    /// Metadata for a new file with the default rule and the given wrapped keys.
    pub fn new(age: Vec<AgeEntry>, kms: Vec<KmsEntry>) -> Metadata {
        Metadata {
            age,
            kms,
            lastmodified: String::new(),
            mac: String::new(),
            rule: Rule::default(),
            mac_only_encrypted: false,
            version: SOPS_FORMAT_VERSION.to_owned(),
            foreign_keys: Vec::new(),
            raw: Vec::new(),
            age_changed: true,
            kms_changed: true,
        }
    }

    pub fn set_age(&mut self, age: Vec<AgeEntry>) {
        self.age = age;
        self.age_changed = true;
    }

    pub fn set_kms(&mut self, kms: Vec<KmsEntry>) {
        self.kms = kms;
        self.kms_changed = true;
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
        if self.kms_changed {
            set_or_insert(&mut items, "kms", kms_value(&self.kms), "age");
        }
        if self.age_changed {
            set_or_insert(&mut items, "age", age_value(&self.age), "lastmodified");
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
            !matches!(i, MapItem::Entry(k, Value::Seq(s)) if s.is_empty() && (k == "age" || k == "kms"))
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

fn age_value(entries: &[AgeEntry]) -> Value {
    Value::Seq(
        entries
            .iter()
            .map(|e| {
                SeqItem::Value(Value::Map(vec![
                    MapItem::Entry("recipient".into(), str_value(&e.recipient)),
                    MapItem::Entry("enc".into(), str_value(&e.enc)),
                ]))
            })
            .collect(),
    )
}

fn kms_value(entries: &[KmsEntry]) -> Value {
    Value::Seq(
        entries
            .iter()
            .map(|e| {
                let mut m = vec![MapItem::Entry("arn".into(), str_value(&e.arn))];
                if !e.role.is_empty() {
                    m.push(MapItem::Entry("role".into(), str_value(&e.role)));
                }
                if !e.context.is_empty() {
                    let mut ctx = e.context.clone();
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
                    str_value(&e.created_at),
                ));
                m.push(MapItem::Entry("enc".into(), str_value(&e.enc)));
                m.push(MapItem::Entry(
                    "aws_profile".into(),
                    str_value(&e.aws_profile),
                ));
                SeqItem::Value(Value::Map(m))
            })
            .collect(),
    )
}
