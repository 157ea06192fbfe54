//! The SOPS value cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` with AES-256-GCM and a
//! 32-byte IV (sops aes/cipher.go), plus the typed plaintext serialisation sops uses.

use std::sync::OnceLock;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

/// sops' nonce size (`const nonceSize int = 32`); GCM derives J0 = GHASH(IV) from it.
type SopsAesGcm = AesGcm<Aes256, U32>;

/// The 32-byte data key every value of a file is encrypted under, with its AES key schedule
/// built once on first use (a file has thousands of values; expanding the key for each one
/// cost about a tenth of `decrypt`). The schedule lives exactly as long as the key.
pub struct DataKey(SecretBox<[u8; 32]>, OnceLock<Box<SopsAesGcm>>);

impl DataKey {
    pub fn from_bytes(bytes: &[u8]) -> Option<DataKey> {
        if bytes.len() != 32 {
            return None;
        }
        // Built in place: no stack copy of the key is left behind.
        Some(DataKey(
            SecretBox::init_with_mut(|k: &mut [u8; 32]| k.copy_from_slice(bytes)),
            OnceLock::new(),
        ))
    }

    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Result<DataKey, getrandom::Error> {
        let mut key = Box::new([0u8; 32]);
        getrandom::getrandom(key.as_mut())?;
        Ok(DataKey(SecretBox::new(key), OnceLock::new()))
    }

    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    fn cipher(&self) -> &SopsAesGcm {
        self.1
            .get_or_init(|| Box::new(SopsAesGcm::new(self.expose().into())))
    }
}

/// Why a value could not be opened. Never carries plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("value is not in sops' ENC[AES256_GCM,...] format")]
    Format,
    #[error("value has a malformed base64 field `{0}`")]
    Base64(&'static str),
    #[error("value has a {0}-byte IV; sops values use 32 bytes")]
    IvLength(usize),
    #[error("value has a {0}-byte tag; AES-GCM tags are 16 bytes")]
    TagLength(usize),
    #[error(
        "authentication failed (wrong key, tampered ciphertext, or value moved to another key)"
    )]
    Auth,
}

/// The fields of one `ENC[...]` string.
pub struct Encrypted<'a> {
    pub data: &'a str,
    pub iv: &'a str,
    pub tag: &'a str,
    pub kind: &'a str,
}

/// Splits `ENC[AES256_GCM,data:D,iv:I,tag:T,type:K]`. Like sops' regex it is anchored at the
/// start only and the last group runs to the last `]`.
pub fn parse(s: &str) -> Option<Encrypted<'_>> {
    let rest = s.strip_prefix("ENC[AES256_GCM,data:")?;
    let (data, rest) = rest.split_once(",iv:")?;
    let (iv, rest) = rest.split_once(",tag:")?;
    let (tag, rest) = rest.split_once(",type:")?;
    let kind = &rest[..rest.rfind(']')?];
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return None;
    }
    Some(Encrypted {
        data,
        iv,
        tag,
        kind,
    })
}

pub fn is_encrypted(s: &str) -> bool {
    parse(s).is_some()
}

/// An opened value: plaintext bytes, its `type:` tag, and the IV (for the stash).
pub type Opened<'a> = (Zeroizing<Vec<u8>>, &'a str, [u8; 32]);

/// Opens an `ENC[...]` string.
pub fn decrypt<'a>(key: &DataKey, enc: &'a str, aad: &[u8]) -> Result<Opened<'a>, CipherError> {
    let parts = parse(enc).ok_or(CipherError::Format)?;
    let mut buf = Zeroizing::new(
        B64.decode(parts.data)
            .map_err(|_| CipherError::Base64("data"))?,
    );
    let iv = B64
        .decode(parts.iv)
        .map_err(|_| CipherError::Base64("iv"))?;
    let tag = B64
        .decode(parts.tag)
        .map_err(|_| CipherError::Base64("tag"))?;
    let iv: [u8; 32] = iv
        .as_slice()
        .try_into()
        .map_err(|_| CipherError::IvLength(iv.len()))?;
    if tag.len() != 16 {
        return Err(CipherError::TagLength(tag.len()));
    }
    key.cipher()
        .decrypt_in_place_detached(
            Nonce::<U32>::from_slice(&iv),
            aad,
            &mut buf,
            Tag::from_slice(&tag),
        )
        .map_err(|_| CipherError::Auth)?;
    Ok((buf, parts.kind, iv))
}

/// Seals `plaintext` under `iv`; the caller picks the IV (fresh, or the stashed one for an
/// unchanged value).
pub fn encrypt(key: &DataKey, plaintext: &[u8], iv: &[u8; 32], aad: &[u8], kind: &str) -> String {
    let mut buf = Zeroizing::new(plaintext.to_vec());
    let tag = key
        .cipher()
        .encrypt_in_place_detached(Nonce::<U32>::from_slice(iv), aad, &mut buf)
        // Only fails for plaintexts beyond GCM's 64 GiB limit.
        .expect("AES-GCM plaintext within limits");
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        B64.encode(&*buf),
        B64.encode(iv),
        B64.encode(tag)
    )
}

/// A fresh random 32-byte IV.
pub fn random_iv() -> Result<[u8; 32], getrandom::Error> {
    let mut iv = [0u8; 32];
    getrandom::getrandom(&mut iv)?;
    Ok(iv)
}
