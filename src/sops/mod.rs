//! The SOPS file format (YAML store): parse an encrypted file, open it with its data key and
//! verify the MAC, and write it back the way sops does.
//!
//! Reference: `../shared/reference/sops-format.md`. Compatibility is tested both ways against
//! the real `sops` binary (tests/sops_interop.rs).

pub mod cipher;
pub mod metadata;
pub mod rules;
pub mod tree;

use subtle::ConstantTimeEq;

pub use cipher::DataKey;
pub use metadata::{AgeEntry, KmsEntry, Metadata, MetadataError};
pub use tree::{IvStash, WalkError};

use crate::yaml::{self, Document, MapItem, Value};

/// Indentation sops' YAML store writes (stores/yaml/store.go).
pub const SOPS_INDENT: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error("{0}")]
    Yaml(#[from] yaml::Error),
    #[error("{0}")]
    Metadata(#[from] MetadataError),
    #[error("the file has no documents")]
    Empty,
    #[error("document {0} has a top-level `sops` key but is not the first document's metadata")]
    StrayMetadata(usize),
    #[error("{0}")]
    Walk(#[from] WalkError),
    #[error(
        "the file has no MAC (`sops.mac` is missing or empty), so its integrity can't be checked"
    )]
    NoMac,
    #[error("`sops.lastmodified` is not an RFC 3339 timestamp")]
    BadLastModified,
    #[error("the MAC can't be decrypted: `sops.mac` or `sops.lastmodified` was altered")]
    MacUnreadable,
    #[error(
        "MAC mismatch: the file was modified outside sops/sls-secrets (a value changed, moved or was removed)"
    )]
    MacMismatch,
    #[error("the operating system's random number generator failed")]
    Random,
}

/// A sops file as read from disk, values still encrypted.
pub struct EncryptedFile {
    pub docs: Vec<Document>,
    pub meta: Metadata,
}

/// A decrypted sops file with the key and IV stash needed to write it back.
pub struct PlainFile {
    pub docs: Vec<Document>,
    pub meta: Metadata,
    pub key: DataKey,
    stash: IvStash,
}

/// Parses an encrypted sops YAML file; values stay encrypted.
pub fn parse(src: &str) -> Result<EncryptedFile, SopsError> {
    let mut docs = yaml::parse(src)?;
    if docs.is_empty() {
        return Err(MetadataError::Missing.into());
    }
    let mut meta = None;
    for (i, doc) in docs.iter_mut().enumerate() {
        let Some(pos) = doc
            .items
            .iter()
            .position(|item| matches!(item, MapItem::Entry(k, _) if k == "sops"))
        else {
            continue;
        };
        let MapItem::Entry(_, value) = doc.items.remove(pos) else {
            unreachable!("position matched an entry")
        };
        // sops reads the block of the first document and drops the copies in later ones.
        if i == 0 {
            meta = Some(Metadata::from_value(&value)?);
        }
    }
    let meta = meta.ok_or(MetadataError::Missing)?;
    Ok(EncryptedFile { docs, meta })
}

impl EncryptedFile {
    /// Decrypts every value and verifies the MAC. Nothing is returned unless the MAC matches.
    pub fn decrypt(mut self, key: DataKey) -> Result<PlainFile, SopsError> {
        let mut stash = IvStash::default();
        let computed = tree::walk(
            &mut self.docs,
            &key,
            &self.meta.rule,
            self.meta.mac_only_encrypted,
            tree::Mode::Decrypt { stash: &mut stash },
        )?;
        verify_mac(&key, &self.meta.mac, &self.meta.lastmodified, &computed)?;
        Ok(PlainFile {
            docs: self.docs,
            meta: self.meta,
            key,
            stash,
        })
    }
}

/// Checks `computed` against the encrypted MAC `mac`, whose AAD is `lastmodified`.
fn verify_mac(
    key: &DataKey,
    mac: &str,
    lastmodified: &str,
    computed: &str,
) -> Result<(), SopsError> {
    if mac.is_empty() {
        return Err(SopsError::NoMac);
    }
    let aad = crate::timefmt::canonical_rfc3339(lastmodified).ok_or(SopsError::BadLastModified)?;
    let (stored, _, _) =
        cipher::decrypt(key, mac, aad.as_bytes()).map_err(|_| SopsError::MacUnreadable)?;
    if bool::from(stored.as_slice().ct_eq(computed.as_bytes())) {
        Ok(())
    } else {
        Err(SopsError::MacMismatch)
    }
}

impl PlainFile {
    /// A new file: one empty document, the given key and metadata.
    pub fn new(key: DataKey, meta: Metadata) -> PlainFile {
        PlainFile {
            docs: vec![Document::default()],
            meta,
            key,
            stash: IvStash::default(),
        }
    }

    /// Replaces the data key (rotation): every value gets a new ciphertext on write.
    pub fn set_key(&mut self, key: DataKey) {
        self.key = key;
        self.stash = IvStash::default();
        self.meta.drop_foreign_keys();
    }

    /// Encrypts into sops YAML text with `lastmodified` = `now` (RFC 3339 UTC). Unchanged
    /// values keep their ciphertext.
    pub fn encrypt(&mut self, now: &str) -> Result<String, SopsError> {
        let (mut docs, mac) = self.encrypted_docs()?;
        self.meta.lastmodified = now.to_owned();
        let iv = cipher::random_iv().map_err(|_| SopsError::Random)?;
        self.meta.mac = cipher::encrypt(&self.key, mac.as_bytes(), &iv, now.as_bytes(), "str");
        let block = self.meta.to_value();
        // sops writes the metadata into every document.
        for doc in &mut docs {
            doc.items
                .push(MapItem::Entry("sops".to_owned(), block.clone()));
        }
        Ok(yaml::emit(&docs, SOPS_INDENT))
    }

    /// Checks that this file's values have the MAC `mac` (encrypted with this file's key, AAD
    /// `lastmodified`), as [`EncryptedFile::decrypt`] checks a file's own: `MacMismatch` when
    /// the values differ. Nothing is encrypted or written.
    pub fn mac_matches(&self, mac: &str, lastmodified: &str) -> Result<(), SopsError> {
        let (_, computed) = self.encrypted_docs()?;
        verify_mac(&self.key, mac, lastmodified, &computed)
    }

    /// The documents with every value encrypted, and the MAC of the values (hex).
    fn encrypted_docs(&self) -> Result<(Vec<Document>, String), SopsError> {
        let mut docs = self.docs.clone();
        let mac = tree::walk(
            &mut docs,
            &self.key,
            &self.meta.rule,
            self.meta.mac_only_encrypted,
            tree::Mode::Encrypt { stash: &self.stash },
        )?;
        Ok((docs, mac))
    }

    /// The plaintext documents as YAML, as `sops decrypt` prints them.
    pub fn to_plain_yaml(&self) -> String {
        yaml::emit(&self.docs, SOPS_INDENT)
    }

    /// The top-level entries of the first document (a stage file is one flat mapping).
    pub fn top(&self) -> &[MapItem] {
        self.docs.first().map_or(&[], |d| &d.items)
    }

    pub fn top_mut(&mut self) -> &mut Vec<MapItem> {
        if self.docs.is_empty() {
            self.docs.push(Document::default());
        }
        &mut self.docs[0].items
    }

    /// Looks up a top-level value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        yaml::value::get(self.top(), name)
    }
}
