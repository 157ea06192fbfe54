//! The one interface every key source implements, once, on its own entry type (`age.rs` for
//! [`AgeEntry`](crate::sops::AgeEntry), `kms.rs` for [`KmsEntry`](crate::sops::KmsEntry)).
//!
//! An entry names a key (an age recipient, a KMS key with its role, profile and context) and,
//! once wrapped, holds the data key wrapped for it, like sops' `MasterKey` (keys/keys.go). A
//! creation rule's keys are entries not wrapped yet. The store, the commands and `render/`
//! only go through this trait and [`source_of`](super::source_of), so a new source is its own
//! file here plus its `.sops.yaml` parsing. SSH and age-plugin recipients are age recipients
//! in sops (the `age` list), so they plug in below [`AgeEntry`](crate::sops::AgeEntry)'s
//! implementation: its recipient parsing and the local identities.

use super::error::KeyError;
use super::identities::AgeIdentities;
use crate::sops::DataKey;
use crate::sops::metadata::KeyEntry;

/// What a key source does with one of its entries.
pub trait KeySource {
    /// The key as `keys` shows it after its kind: the recipient, or the ARN with its profile
    /// and role.
    fn describe(&self) -> String;

    /// How an error names this source's keys in a list heading: `AWS KMS keys`.
    fn noun(&self) -> &'static str;

    /// Whether the entry is opened with identities on this machine, without the network.
    /// Local entries are tried first (sops tries age first), and `rotate` checks its new
    /// local wraps, which costs no call.
    fn is_local(&self) -> bool;

    /// The data key wrapped for this entry's key: a new entry, `enc` (and KMS's `created_at`)
    /// filled in.
    fn wrap(&self, key: &DataKey) -> Result<KeyEntry, KeyError>;

    /// Opens the data key wrapped in this entry. `None`: nothing here could try it (no local
    /// identity opens it), which the error reports as the file's recipients; `Some(Err)`:
    /// tried and failed, which the error lists with the reason.
    fn unwrap(&self, local: &AgeIdentities) -> Option<Result<DataKey, KeyError>>;
}
