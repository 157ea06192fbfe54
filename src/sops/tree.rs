//! The one tree walk sops does for both encryption and decryption (sops.go `walkBranch`):
//! it tracks the key path (the AAD), decides per leaf whether the rule encrypts it, converts
//! the value, and feeds the MAC in document order.

use std::collections::HashMap;

use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use super::cipher::{self, CipherError, DataKey};
use super::rules::Rule;
use crate::yaml::{Document, MapItem, SeqItem, Text, Value};

/// A leaf that could not be converted. Names the key path, never the value.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("`{path}`: {source}")]
    Cipher {
        path: String,
        #[source]
        source: CipherError,
    },
    #[error(
        "`{path}`: value should be encrypted but is not (it was edited by hand, or the file is damaged)"
    )]
    NotEncrypted { path: String },
    #[error("`{path}`: decrypted value is not valid for its type `{kind}`")]
    BadPlaintext { path: String, kind: String },
    #[error("`{path}`: unknown value type `{kind}`")]
    UnknownType { path: String, kind: String },
    #[error("`{path}`: sops cannot encrypt this value type (`{kind}`)")]
    Unencryptable { path: String, kind: &'static str },
    #[error("the operating system's random number generator failed")]
    Random,
}

/// IVs of the values seen while decrypting, keyed by (AAD, type, plaintext), so an unchanged
/// value re-encrypts to the same ciphertext (sops aes/cipher.go stash). Keys are SHA-256
/// digests so no plaintext is kept here.
#[derive(Default)]
pub struct IvStash(HashMap<[u8; 32], [u8; 32]>);

impl IvStash {
    fn slot(aad: &[u8], kind: &str, plaintext: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((aad.len() as u64).to_le_bytes());
        h.update(aad);
        h.update((kind.len() as u64).to_le_bytes());
        h.update(kind.as_bytes());
        h.update(plaintext);
        h.finalize().into()
    }
}

/// What the walk does to each leaf.
pub enum Mode<'a> {
    Decrypt { stash: &'a mut IvStash },
    Encrypt { stash: &'a IvStash },
}

/// Walks every document, converting leaves in place; returns the MAC (uppercase hex SHA-512).
pub fn walk(
    docs: &mut [Document],
    key: &DataKey,
    rule: &Rule,
    mac_only_encrypted: bool,
    mode: Mode<'_>,
) -> Result<String, WalkError> {
    let mut w = Walker {
        key,
        rule,
        mac_only_encrypted,
        mode,
        path: Vec::new(),
        mac: Sha512::new(),
    };
    if mac_only_encrypted {
        // sops.go: the hash starts with SHA-256("sops") in this mode.
        w.mac.update(Sha256::digest(b"sops"));
    }
    for doc in docs {
        w.map(&mut doc.items)?;
    }
    Ok(hex_upper(&w.mac.finalize()))
}

fn hex_upper(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

struct Walker<'a> {
    key: &'a DataKey,
    rule: &'a Rule,
    mac_only_encrypted: bool,
    mode: Mode<'a>,
    path: Vec<String>,
    mac: Sha512,
}

impl Walker<'_> {
    fn aad(&self) -> String {
        let mut s = self.path.join(":");
        s.push(':');
        s
    }

    fn dotted(&self) -> String {
        self.path.join(".")
    }

    fn map(&mut self, items: &mut [MapItem]) -> Result<(), WalkError> {
        for item in items {
            match item {
                MapItem::Entry(k, v) => {
                    self.path.push(k.clone());
                    // Only sequence items may decrypt to comments; a mapping value that does
                    // was moved there from a comment line (comments are outside the MAC).
                    if self.value(v)?.is_some() {
                        return Err(WalkError::NotEncrypted {
                            path: self.dotted(),
                        });
                    }
                    self.path.pop();
                }
                MapItem::Comment(text) => self.map_comment(text)?,
            }
        }
        Ok(())
    }

    /// Returns `Some(comment)` when a sequence item decrypts to a comment (sops stores
    /// comments inside lists as `- ENC[...,type:comment]` items).
    fn value(&mut self, v: &mut Value) -> Result<Option<Text>, WalkError> {
        match v {
            Value::Map(items) => self.map(items).map(|()| None),
            Value::Seq(items) => {
                for item in items.iter_mut() {
                    match item {
                        SeqItem::Value(inner) => {
                            if let Some(comment) = self.value(inner)? {
                                *item = SeqItem::Comment(comment);
                            }
                        }
                        // sops also writes a comment inside a list as a `#ENC[...]` line
                        // (before a mapping item): opened like a mapping's comment, so it is
                        // shown in clear and encrypted once on the next write.
                        SeqItem::Comment(text) if matches!(self.mode, Mode::Decrypt { .. }) => {
                            self.map_comment(text)?
                        }
                        SeqItem::Comment(text) => {
                            if let Some(enc) = self.encrypt_comment(text)? {
                                *item = SeqItem::Value(Value::Str(Text::new(enc)));
                            }
                        }
                    }
                }
                Ok(None)
            }
            Value::Null => Ok(None),
            _ => self.leaf(v),
        }
    }

    fn leaf(&mut self, v: &mut Value) -> Result<Option<Text>, WalkError> {
        let encrypted = self.rule.encrypts(&self.path);
        match self.mode {
            Mode::Decrypt { .. } => {
                if encrypted {
                    let enc = match v {
                        Value::Str(s) if s.is_empty() => return Ok(None),
                        Value::Str(s) => std::mem::take(&mut **s),
                        _ => {
                            return Err(WalkError::NotEncrypted {
                                path: self.dotted(),
                            });
                        }
                    };
                    if !cipher::is_encrypted(&enc) {
                        return Err(WalkError::NotEncrypted {
                            path: self.dotted(),
                        });
                    }
                    let aad = self.aad();
                    let (plain, kind, iv) = cipher::decrypt(self.key, &enc, aad.as_bytes())
                        .map_err(|source| WalkError::Cipher {
                            path: self.dotted(),
                            source,
                        })?;
                    if let Mode::Decrypt { stash } = &mut self.mode {
                        stash
                            .0
                            .insert(IvStash::slot(aad.as_bytes(), kind, &plain), iv);
                    }
                    if kind == "comment" {
                        // ≤ 3.12 rule: a comment stored as a list item is not hashed.
                        return self.plain_text(plain, kind).map(Some);
                    }
                    *v = self.typed(plain, kind)?;
                }
                if encrypted || !self.mac_only_encrypted {
                    self.mac.update(&*to_bytes(v));
                }
                Ok(None)
            }
            Mode::Encrypt { .. } => {
                let plain = to_bytes(v);
                if encrypted || !self.mac_only_encrypted {
                    self.mac.update(&*plain);
                }
                if !encrypted || (plain.is_empty() && matches!(v, Value::Str(_))) {
                    return Ok(None);
                }
                let kind = v.sops_type().ok_or_else(|| WalkError::Unencryptable {
                    path: self.dotted(),
                    kind: "unknown",
                })?;
                let aad = self.aad();
                let iv = self.iv_for(aad.as_bytes(), kind, &plain)?;
                *v = Value::Str(Text::new(cipher::encrypt(
                    self.key,
                    &plain,
                    &iv,
                    aad.as_bytes(),
                    kind,
                )));
                Ok(None)
            }
        }
    }

    fn map_comment(&mut self, text: &mut Text) -> Result<(), WalkError> {
        match self.mode {
            Mode::Decrypt { .. } => {
                if !self.rule.encrypts(&self.path) || !cipher::is_encrypted(text) {
                    return Ok(());
                }
                // sops keeps a comment it cannot open verbatim ("possibly unencrypted comment").
                let aad = self.aad();
                if let Ok((plain, "comment", iv)) = cipher::decrypt(self.key, text, aad.as_bytes())
                {
                    if let Mode::Decrypt { stash } = &mut self.mode {
                        stash
                            .0
                            .insert(IvStash::slot(aad.as_bytes(), "comment", &plain), iv);
                    }
                    *text = self.plain_text(plain, "comment")?;
                }
                Ok(())
            }
            Mode::Encrypt { .. } => {
                if let Some(enc) = self.encrypt_comment(text)? {
                    *text = Text::new(enc);
                }
                Ok(())
            }
        }
    }

    fn encrypt_comment(&mut self, text: &Text) -> Result<Option<String>, WalkError> {
        if !matches!(self.mode, Mode::Encrypt { .. }) {
            return Ok(None);
        }
        if text.is_empty() || !self.rule.encrypts(&self.path) {
            return Ok(None);
        }
        let aad = self.aad();
        let iv = self.iv_for(aad.as_bytes(), "comment", text.as_bytes())?;
        Ok(Some(cipher::encrypt(
            self.key,
            text.as_bytes(),
            &iv,
            aad.as_bytes(),
            "comment",
        )))
    }

    /// The stashed IV of an unchanged (AAD, type, plaintext), else a fresh one. Reusing an IV
    /// is safe only because the plaintext is identical: the ciphertext is then identical too.
    fn iv_for(&self, aad: &[u8], kind: &str, plain: &[u8]) -> Result<[u8; 32], WalkError> {
        let stashed = match &self.mode {
            Mode::Encrypt { stash } => stash.0.get(&IvStash::slot(aad, kind, plain)).copied(),
            Mode::Decrypt { .. } => None,
        };
        match stashed {
            Some(iv) => Ok(iv),
            None => cipher::random_iv().map_err(|_| WalkError::Random),
        }
    }

    fn plain_text(&self, plain: Zeroizing<Vec<u8>>, kind: &str) -> Result<Text, WalkError> {
        match std::str::from_utf8(&plain) {
            Ok(s) => Ok(Text::new(s.to_owned())),
            Err(_) => Err(WalkError::BadPlaintext {
                path: self.dotted(),
                kind: kind.to_owned(),
            }),
        }
    }

    /// Parses decrypted bytes by their `type:` tag (sops aes/cipher.go).
    fn typed(&self, plain: Zeroizing<Vec<u8>>, kind: &str) -> Result<Value, WalkError> {
        let bad = || WalkError::BadPlaintext {
            path: self.dotted(),
            kind: kind.to_owned(),
        };
        let text = self.plain_text(plain, kind)?;
        Ok(match kind {
            // `bytes` is only written by the legacy Python sops.
            "str" | "bytes" => Value::Str(text),
            "int" => Value::Int(text.parse().map_err(|_| bad())?),
            "float" => Value::Float(parse_go_float(&text).ok_or_else(bad)?),
            "bool" => Value::Bool(match text.as_str() {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                _ => return Err(bad()),
            }),
            "time" => {
                if crate::timefmt::canonical_rfc3339(&text).is_none() {
                    return Err(bad());
                }
                Value::Time(text)
            }
            other => {
                return Err(WalkError::UnknownType {
                    path: self.dotted(),
                    kind: other.to_owned(),
                });
            }
        })
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub fn format_go_float(f: f64) -> String {
    crate::yaml::float_to_sops(f)
}

/// The bytes sops hashes and encrypts for a scalar (`ToBytes`, sops.go).
fn to_bytes(v: &Value) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(match v {
        Value::Str(s) | Value::Time(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Float(f) => format_go_float(*f).into_bytes(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Null | Value::Map(_) | Value::Seq(_) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting() {
        assert_eq!(format_go_float(1e21), "1000000000000000000000");
        assert_eq!(format_go_float(1.0), "1");
        assert_eq!(format_go_float(-0.0), "-0");
        assert_eq!(format_go_float(0.75), "0.75");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
    }
}
