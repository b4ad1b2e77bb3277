//! Ed25519 keys in standard files: PKCS#8 PEM private keys, SPKI PEM public keys, and the
//! in-toto KEYID of a public key. Parsing errors never carry key material.
//!
//! Formats (verified against OpenSSL 3.0 and Python `cryptography`, docs/provenance.md):
//! - private: `-----BEGIN PRIVATE KEY-----`, PKCS#8 v1 (RFC 5208/8410: no `[1]` public key),
//!   byte-identical to `openssl genpkey -algorithm ed25519`. v2 (RFC 5958) is read too, but never
//!   written: OpenSSL 3.0 cannot read the v2 form ed25519-dalek's `to_pkcs8_pem` produces.
//! - public: `-----BEGIN PUBLIC KEY-----`, SPKI (RFC 5280/8410), as `openssl pkey -pubout` writes.
//! - KEYID: lowercase hex sha256 of the canonical JSON of the securesystemslib key object
//!   `{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}` (in-toto spec §4.2;
//!   securesystemslib's default keyid, so its `Envelope.verify` finds the key without help).

use ed25519_dalek::pkcs8::spki::der::pem::{self, LineEnding};
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, ObjectIdentifier,
    PrivateKeyInfoRef,
};
use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// RFC 8410 id-Ed25519.
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a key file cannot be used. The messages name the problem and what to do; they never
/// include bytes of the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM key file (expected a `-----BEGIN PRIVATE KEY-----` or `-----BEGIN PUBLIC KEY-----` block)")]
    NotPem,
    #[error("an encrypted private key (`ENCRYPTED PRIVATE KEY`): meshproof reads unencrypted PKCS#8 keys only; decrypt a copy with `openssl pkey -in KEY -out PLAIN.key` and keep it owner-only")]
    Encrypted,
    #[error("a public key where a private key is needed: pass the PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`, as `meshproof keygen` or `openssl genpkey -algorithm ed25519` write it)")]
    PublicNotPrivate,
    #[error("a private key where a public key is needed: pass the SPKI public key (`-----BEGIN PUBLIC KEY-----`; `openssl pkey -in KEY -pubout` derives it)")]
    PrivateNotPublic,
    #[error("not an Ed25519 key (algorithm {0}): meshproof signs and verifies with Ed25519 only (`meshproof keygen`, or `openssl genpkey -algorithm ed25519`)")]
    NotEd25519(String),
    #[error("PEM block `{0}` is not supported: meshproof reads PKCS#8 `PRIVATE KEY` and SPKI `PUBLIC KEY` blocks (OpenSSH and legacy OpenSSL key files are not PKCS#8)")]
    UnsupportedLabel(String),
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// An Ed25519 public key and its KEYID.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
    keyid: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("keyid", &self.keyid)
            .finish()
    }
}

impl PublicKey {
    fn new(key: ed25519_dalek::VerifyingKey) -> PublicKey {
        PublicKey {
            keyid: keyid(&key.to_bytes()),
            key,
        }
    }

    /// Parse an SPKI PEM public key.
    pub fn from_pem(text: &[u8]) -> Result<PublicKey, KeyError> {
        match pem_label(text)? {
            "PUBLIC KEY" => {}
            "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => return Err(KeyError::PrivateNotPublic),
            other => return Err(KeyError::UnsupportedLabel(other.to_string())),
        }
        let (_, der) =
            pem::decode_vec(trim(text)).map_err(|_| KeyError::Malformed("PEM encoding"))?;
        let spki = ed25519_dalek::pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der.as_slice())
            .map_err(|_| KeyError::Malformed("SPKI public key"))?;
        if spki.algorithm.oid != ED25519_OID {
            return Err(KeyError::NotEd25519(algorithm_name(spki.algorithm.oid)));
        }
        ed25519_dalek::VerifyingKey::from_public_key_der(&der)
            .map(PublicKey::new)
            .map_err(|_| KeyError::Malformed("Ed25519 public key"))
    }

    /// The SPKI PEM text (`-----BEGIN PUBLIC KEY-----`, LF line endings), as OpenSSL writes it.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 SPKI document encodes")
    }

    /// The in-toto KEYID (64 lowercase hex digits).
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The raw 32-byte key as lowercase hex (securesystemslib's `keyval.public`).
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// Whether `signature` is this key's signature of `message` (strict: weak keys and
    /// non-canonical signatures are refused).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(message, &sig).is_ok()
    }
}

/// An Ed25519 private key. Its `Debug` shows only the KEYID; the secret is zeroized on drop.
#[derive(Clone)]
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("keyid", &self.public.keyid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn new(key: ed25519_dalek::SigningKey) -> SigningKey {
        SigningKey {
            public: PublicKey::new(key.verifying_key()),
            key,
        }
    }

    /// The key whose RFC 8032 seed is `seed` (32 bytes from the OS random source for a new key).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey::new(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Parse a PKCS#8 PEM private key (v1 or v2, unencrypted).
    pub fn from_pem(text: &[u8]) -> Result<SigningKey, KeyError> {
        match pem_label(text)? {
            "PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            "PUBLIC KEY" => return Err(KeyError::PublicNotPrivate),
            other => return Err(KeyError::UnsupportedLabel(other.to_string())),
        }
        let der = Zeroizing::new(
            pem::decode_vec(trim(text))
                .map_err(|_| KeyError::Malformed("PEM encoding"))?
                .1,
        );
        let info = PrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|_| KeyError::Malformed("PKCS#8 private key"))?;
        if info.algorithm.oid != ED25519_OID {
            return Err(KeyError::NotEd25519(algorithm_name(info.algorithm.oid)));
        }
        ed25519_dalek::SigningKey::from_pkcs8_der(&der)
            .map(SigningKey::new)
            .map_err(|_| KeyError::Malformed("Ed25519 private key"))
    }

    /// The PKCS#8 v1 PEM text, byte-identical to `openssl genpkey -algorithm ed25519` output.
    pub fn to_pem(&self) -> Zeroizing<String> {
        ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 PKCS#8 document encodes")
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn keyid(&self) -> &str {
        self.public.keyid()
    }

    /// The 64-byte Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// The in-toto / securesystemslib KEYID of a raw Ed25519 public key.
pub fn keyid(public: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#,
        hex::encode(public)
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn trim(text: &[u8]) -> &[u8] {
    text.trim_ascii()
}

/// The label of the PEM block the file starts with.
fn pem_label(text: &[u8]) -> Result<&str, KeyError> {
    let text = std::str::from_utf8(trim(text)).map_err(|_| KeyError::NotPem)?;
    let rest = text.strip_prefix("-----BEGIN ").ok_or(KeyError::NotPem)?;
    let (label, _) = rest.split_once("-----").ok_or(KeyError::NotPem)?;
    if label.is_empty()
        || label.len() > 64
        || !label.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(KeyError::NotPem);
    }
    Ok(label)
}

/// Words for the algorithm OIDs people are likely to pass by mistake.
fn algorithm_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "EC (ECDSA)",
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        _ => return format!("OID {oid}"),
    };
    format!("{name}, OID {oid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032 §7.1 TEST 1.
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn rfc_key() -> SigningKey {
        let seed: [u8; 32] = hex::decode(SEED).unwrap().try_into().unwrap();
        SigningKey::from_seed(&seed)
    }

    #[test]
    fn rfc8032_test_vector_signs_as_specified() {
        let k = rfc_key();
        assert_eq!(k.public().public_hex(), PUBLIC);
        let sig = k.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(k.public().verify(b"", &sig));
        assert!(!k.public().verify(b"x", &sig));
        assert!(!k.public().verify(b"", &sig[..63]));
    }

    #[test]
    fn pem_round_trip_is_pkcs8_v1_with_the_fixed_rfc8410_prefix() {
        let k = rfc_key();
        let pem = k.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let (_, der) = pem::decode_vec(pem.as_bytes()).unwrap();
        // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
        assert_eq!(
            hex::encode(&der),
            format!("302e020100300506032b657004220420{SEED}")
        );
        let back = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(back.keyid(), k.keyid());
        let pub_pem = k.public().to_pem();
        let (_, der) = pem::decode_vec(pub_pem.as_bytes()).unwrap();
        assert_eq!(
            hex::encode(&der),
            format!("302a300506032b6570032100{PUBLIC}")
        );
        assert_eq!(
            PublicKey::from_pem(pub_pem.as_bytes()).unwrap(),
            *k.public()
        );
    }

    #[test]
    fn wrong_kinds_of_key_files_are_named() {
        let k = rfc_key();
        let public = k.public().to_pem();
        assert_eq!(
            SigningKey::from_pem(public.as_bytes()).unwrap_err(),
            KeyError::PublicNotPrivate
        );
        assert_eq!(
            PublicKey::from_pem(k.to_pem().as_bytes()).unwrap_err(),
            KeyError::PrivateNotPublic
        );
        assert_eq!(
            SigningKey::from_pem(b"{\"not\": \"pem\"}").unwrap_err(),
            KeyError::NotPem
        );
        assert_eq!(SigningKey::from_pem(b"").unwrap_err(), KeyError::NotPem);
        let ssh =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(ssh.as_bytes()).unwrap_err(),
            KeyError::UnsupportedLabel(l) if l == "OPENSSH PRIVATE KEY"
        ));
        let truncated = &k.to_pem()[..40];
        assert!(matches!(
            SigningKey::from_pem(truncated.as_bytes()).unwrap_err(),
            KeyError::Malformed(_)
        ));
    }

    const OPENSSL_KEY: &str = include_str!("../tests/data/openssl-ed25519.key");
    const OPENSSL_PUB: &str = include_str!("../tests/data/openssl-ed25519.pub");

    #[test]
    fn openssl_keys_are_read_and_written_byte_identically() {
        let k = SigningKey::from_pem(OPENSSL_KEY.as_bytes()).unwrap();
        assert_eq!(*k.to_pem(), OPENSSL_KEY);
        assert_eq!(k.public().to_pem(), OPENSSL_PUB);
        let p = PublicKey::from_pem(OPENSSL_PUB.as_bytes()).unwrap();
        assert_eq!(p, *k.public());
        // Computed outside meshproof (tests/data/README.md).
        assert_eq!(
            p.keyid(),
            "23f7974a9e2997a5342b4325cb8d8c8ed8e6a57de79eb5e8439b287678bb717d"
        );
    }

    #[test]
    fn pkcs8_v2_keys_are_read() {
        let k = SigningKey::from_pem(OPENSSL_KEY.as_bytes()).unwrap();
        // ed25519-dalek writes v2 (with the public key); such files are read, never written.
        let v2 = k.key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_ne!(*v2, *k.to_pem());
        assert_eq!(
            SigningKey::from_pem(v2.as_bytes()).unwrap().keyid(),
            k.keyid()
        );
    }

    #[test]
    fn encrypted_and_non_ed25519_keys_are_named() {
        let enc = include_str!("../tests/data/openssl-ed25519-encrypted.key");
        assert_eq!(
            SigningKey::from_pem(enc.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        let p256 = include_str!("../tests/data/openssl-p256.key");
        assert_eq!(
            SigningKey::from_pem(p256.as_bytes()).unwrap_err(),
            KeyError::NotEd25519("EC (ECDSA), OID 1.2.840.10045.2.1".into())
        );
        let p256_pub = include_str!("../tests/data/openssl-p256.pub");
        assert_eq!(
            PublicKey::from_pem(p256_pub.as_bytes()).unwrap_err(),
            KeyError::NotEd25519("EC (ECDSA), OID 1.2.840.10045.2.1".into())
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = rfc_key();
        let shown = format!("{k:?}");
        assert!(!shown.contains(SEED), "{shown}");
        assert!(shown.contains(k.keyid()));
    }
}
