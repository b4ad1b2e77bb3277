//! Signed in-toto attestations, pure: DSSE v1 envelopes signed with Ed25519, PKCS#8/SPKI PEM keys
//! and their in-toto KEYID, and the in-toto Statement v1 with the test-result predicate.
//!
//! No files, network, clock or randomness: callers pass bytes (and a key seed) in and get bytes
//! out. meshproof's app maps bundles to statements and does the I/O; see docs/provenance.md.

pub mod dsse;
pub mod keys;
pub mod statement;

pub use dsse::{Envelope, Verified, PAYLOAD_TYPE_IN_TOTO};
pub use keys::{KeyError, PublicKey, SigningKey};
pub use statement::{
    dir_hash, DigestSet, ResourceDescriptor, Statement, TestOutcome, TestResult, STATEMENT_TYPE,
    TEST_RESULT_TYPE,
};
