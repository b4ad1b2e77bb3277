//! DSSE v1.0 envelopes (secure-systems-lab/dsse `protocol.md`, `envelope.md`): the
//! pre-authentication encoding, signing with Ed25519 keys, parsing and verifying.
//!
//! Verification follows the protocol's order: decode, verify a signature over
//! `PAE(payloadType, payload)` with one of the trusted keys (every key is tried; the keyid is only
//! a hint), and only then hand out the payload, as the exact bytes that were verified.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::keys::{PublicKey, SigningKey};

/// The in-toto payload type (in-toto attestation `spec/v1/envelope.md`).
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";

/// Most signatures an envelope may carry before it is refused (each costs a verification per key).
pub const MAX_SIGNATURES: usize = 64;

/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope as JSON. Unknown fields are ignored, as the protocol requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// base64 of the serialized body.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Unauthenticated hint naming the key; written always (securesystemslib requires it).
    #[serde(default)]
    pub keyid: String,
    /// base64 of the signature bytes.
    pub sig: String,
}

/// Why an envelope could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a DSSE envelope (JSON object with payload, payloadType, signatures): {0}")]
    Json(#[source] serde_json::Error),
    #[error("`payload` is not base64")]
    Payload,
    #[error("no signatures")]
    NoSignatures,
    #[error("{0} signatures (at most {MAX_SIGNATURES} are read)")]
    TooManySignatures(usize),
}

/// Why no signature was accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no trusted key given")]
    NoKeys,
    #[error("no signature verifies with the given key(s): envelope signed with keyid(s) {signed}, given keyid(s) {given}")]
    NoMatch { signed: String, given: String },
}

/// What a verified envelope carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub payload_type: String,
    /// The exact bytes the signature covers.
    pub payload: Vec<u8>,
    /// Index into the keys given to [`Envelope::verify`] of the key that verified.
    pub key_index: usize,
    /// That key's KEYID.
    pub keyid: String,
}

/// Standard or URL-safe alphabet, padded or not (DSSE: verifiers MUST accept either alphabet).
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, lenient)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, lenient).decode(text))
        .ok()
}

impl Envelope {
    /// Sign `payload` with `key`: standard padded base64, the key's KEYID as hint.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature {
                keyid: key.keyid().to_string(),
                sig: STANDARD.encode(sig),
            }],
        }
    }

    /// Parse the JSON of an envelope (structure only; nothing is trusted yet).
    pub fn parse(json: &[u8]) -> Result<Envelope, EnvelopeError> {
        let env: Envelope = serde_json::from_slice(json).map_err(EnvelopeError::Json)?;
        if env.signatures.is_empty() {
            return Err(EnvelopeError::NoSignatures);
        }
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(EnvelopeError::TooManySignatures(env.signatures.len()));
        }
        Ok(env)
    }

    /// The envelope's JSON (pretty, with a final newline; field order fixed).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("an envelope serializes");
        out.push(b'\n');
        out
    }

    /// Verify: some signature must verify over the PAE with one of `keys`. Returns the payload
    /// bytes that were verified; the caller checks the payload type next.
    pub fn verify(&self, keys: &[PublicKey]) -> Result<Verified, EnvelopeOrSignature> {
        if keys.is_empty() {
            return Err(SignatureError::NoKeys.into());
        }
        let payload = decode_b64(&self.payload).ok_or(EnvelopeError::Payload)?;
        let message = pae(&self.payload_type, &payload);
        for s in &self.signatures {
            let Some(sig) = decode_b64(&s.sig) else {
                continue;
            };
            // Keys whose KEYID matches the hint first; the hint never decides.
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by_key(|&i| keys[i].keyid() != s.keyid);
            if let Some(i) = order.into_iter().find(|&i| keys[i].verify(&message, &sig)) {
                return Ok(Verified {
                    payload_type: self.payload_type.clone(),
                    payload,
                    key_index: i,
                    keyid: keys[i].keyid().to_string(),
                });
            }
        }
        let short = |k: &str| {
            if k.is_empty() {
                "(none)".to_string()
            } else {
                k.chars().take(16).collect()
            }
        };
        Err(SignatureError::NoMatch {
            signed: self
                .signatures
                .iter()
                .map(|s| short(&s.keyid))
                .collect::<Vec<_>>()
                .join(", "),
            given: keys
                .iter()
                .map(|k| short(k.keyid()))
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into())
    }
}

/// Either failure of [`Envelope::verify`].
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeOrSignature {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32])
    }

    #[test]
    fn pae_matches_the_protocols_test_vector() {
        // secure-systems-lab/dsse protocol.md, "Test vectors".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn sign_then_verify_round_trips_and_tampering_fails() {
        let k = key(1);
        let env = Envelope::sign(PAYLOAD_TYPE_IN_TOTO, b"{\"a\":1}", &k);
        assert_eq!(env.signatures[0].keyid, k.keyid());
        let parsed = Envelope::parse(&env.to_json()).unwrap();
        assert_eq!(parsed, env);
        let v = parsed
            .verify(&[key(2).public().clone(), k.public().clone()])
            .unwrap();
        assert_eq!(v.payload, b"{\"a\":1}");
        assert_eq!(v.key_index, 1);
        assert_eq!(v.payload_type, PAYLOAD_TYPE_IN_TOTO);

        let mut wrong_type = env.clone();
        wrong_type.payload_type = "application/json".into();
        assert!(wrong_type.verify(&[k.public().clone()]).is_err());
        let mut flipped = env.clone();
        flipped.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(matches!(
            flipped.verify(&[k.public().clone()]),
            Err(EnvelopeOrSignature::Signature(
                SignatureError::NoMatch { .. }
            ))
        ));
        // A lying keyid hint changes nothing.
        let mut hint = env.clone();
        hint.signatures[0].keyid = key(2).keyid().to_string();
        assert!(hint.verify(&[k.public().clone()]).is_ok());
        assert!(env.verify(&[key(2).public().clone()]).is_err());
        assert!(matches!(
            env.verify(&[]),
            Err(EnvelopeOrSignature::Signature(SignatureError::NoKeys))
        ));
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_accepted() {
        let k = key(3);
        // Bytes whose base64 differs between the alphabets (0xfb 0xff → `+/` vs `-_`).
        let payload = [0xfbu8, 0xff, 0xfe, 0x01];
        let env = Envelope::sign("t", &payload, &k);
        assert!(env.payload.contains('+') || env.payload.contains('/'));
        let mut url = env.clone();
        url.payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        url.signatures[0].sig = base64::engine::general_purpose::URL_SAFE
            .encode(STANDARD.decode(&env.signatures[0].sig).unwrap());
        assert_eq!(url.verify(&[k.public().clone()]).unwrap().payload, payload);
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        assert!(matches!(
            Envelope::parse(b"{\"payload\": \"e30=\", \"payloadType\""),
            Err(EnvelopeError::Json(_))
        ));
        assert!(matches!(
            Envelope::parse(b"not json"),
            Err(EnvelopeError::Json(_))
        ));
        assert!(matches!(
            Envelope::parse(br#"{"payload":"e30=","payloadType":"t","signatures":[]}"#),
            Err(EnvelopeError::NoSignatures)
        ));
        let many = format!(
            r#"{{"payload":"e30=","payloadType":"t","signatures":[{}]}}"#,
            vec![r#"{"sig":"AA=="}"#; MAX_SIGNATURES + 1].join(",")
        );
        assert!(matches!(
            Envelope::parse(many.as_bytes()),
            Err(EnvelopeError::TooManySignatures(_))
        ));
        // Unknown fields are ignored; a missing keyid is empty.
        let env = Envelope::parse(
            br#"{"payload":"!!","payloadType":"t","signatures":[{"sig":"AA=="}],"x":1}"#,
        )
        .unwrap();
        assert_eq!(env.signatures[0].keyid, "");
        assert!(matches!(
            env.verify(&[key(1).public().clone()]),
            Err(EnvelopeOrSignature::Envelope(EnvelopeError::Payload))
        ));
    }
}
