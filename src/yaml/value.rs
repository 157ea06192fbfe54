//! The generic YAML tree that SOPS files are read into and written from.
//!
//! Scalars carry the type go-yaml v3 resolves them to, because that is what sops encrypts and
//! hashes (`../shared/reference/sops-format.md` §9.1). Mapping order and comments are kept as
//! items, the way sops' YAML store keeps them. Aliases are expanded on load; a merge key `<<`
//! stays a literal key (its value the aliased mapping), as in sops.
//!
//! Values may be decrypted secrets: text is zeroized on drop and `Debug` never prints a
//! scalar's contents.

use std::fmt;

use zeroize::Zeroizing;

/// Text that may be a decrypted secret: wiped from memory when dropped.
pub type Text = Zeroizing<String>;

/// A YAML value typed as go-yaml v3 types it.
#[derive(Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    /// A YAML timestamp, held in go's `time.MarshalText` form (RFC 3339 with nanoseconds,
    /// trailing zeros trimmed): `2024-01-01T00:00:00Z`, `2006-01-02T15:04:05+07:00`.
    Time(Text),
    Map(Vec<MapItem>),
    Seq(Vec<SeqItem>),
}

/// One item of a mapping: an entry or a comment line, in file order.
#[derive(Clone, PartialEq)]
pub enum MapItem {
    Entry(String, Value),
    /// Comment text without the leading `#` (`# foo` is ` foo`), as sops stores it.
    Comment(Text),
}

/// One item of a sequence: a value or a comment line, in file order.
#[derive(Clone, PartialEq)]
pub enum SeqItem {
    Value(Value),
    /// Comment text without the leading `#`.
    Comment(Text),
}

/// One YAML document whose root is a mapping (the only root sops accepts).
#[derive(Clone, PartialEq, Default)]
pub struct Document {
    pub items: Vec<MapItem>,
}

impl Value {
    /// The go-yaml type name sops writes in `type:` for this scalar, if it is one sops encrypts.
    pub fn sops_type(&self) -> Option<&'static str> {
        match self {
            Value::Str(_) => Some("str"),
            Value::Int(_) => Some("int"),
            Value::Float(_) => Some("float"),
            Value::Bool(_) => Some("bool"),
            Value::Time(_) => Some("time"),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[MapItem]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// Looks up a key in mapping items (the first match; sops rejects duplicate keys on load).
pub fn get<'a>(items: &'a [MapItem], key: &str) -> Option<&'a Value> {
    items.iter().find_map(|item| match item {
        MapItem::Entry(k, v) if k == key => Some(v),
        _ => None,
    })
}

// Debug shows shape only: scalar contents may be decrypted secrets.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Bool(_) => f.write_str("Bool(****)"),
            Value::Int(_) => f.write_str("Int(****)"),
            Value::Float(_) => f.write_str("Float(****)"),
            Value::Str(_) => f.write_str("Str(****)"),
            Value::Time(_) => f.write_str("Time(****)"),
            Value::Map(items) => f.debug_list().entries(items).finish(),
            Value::Seq(items) => f.debug_list().entries(items).finish(),
        }
    }
}

impl fmt::Debug for MapItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapItem::Entry(k, v) => write!(f, "{k}: {v:?}"),
            MapItem::Comment(_) => f.write_str("# ****"),
        }
    }
}

impl fmt::Debug for SeqItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqItem::Value(v) => v.fmt(f),
            SeqItem::Comment(_) => f.write_str("# ****"),
        }
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.items).finish()
    }
}
