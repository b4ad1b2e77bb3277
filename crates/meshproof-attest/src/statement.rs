//! in-toto Statement v1 (in-toto/attestation `spec/v1/statement.md`, `resource_descriptor.md`,
//! `digest_set.md`) and the test-result predicate v0.1 (`spec/predicates/test-result.md`).
//!
//! Serialization is deterministic (fixed field order, sorted maps), and stays strictly inside
//! the published schemas, so strict protobuf bindings (the Python and Go in-toto-attestation
//! packages parse unknown fields as errors) accept it. Parsing ignores unknown fields, as the
//! framework's parsing rules require of consumers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `_type` of every v1 Statement.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The test-result predicate, version 0.1.0.
pub const TEST_RESULT_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";

/// A DigestSet: algorithm → lowercase hex (for the standard algorithms).
pub type DigestSet = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

/// A ResourceDescriptor; at least one of `uri`, `digest` or `content` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: DigestSet,
    /// base64 of the resource's bytes (small resources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(
        default,
        rename = "downloadLocation",
        skip_serializing_if = "Option::is_none"
    )]
    pub download_location: Option<String>,
    #[serde(default, rename = "mediaType", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

/// `result` of the test-result predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TestOutcome {
    Passed,
    Warned,
    Failed,
}

impl TestOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TestOutcome::Passed => "PASSED",
            TestOutcome::Warned => "WARNED",
            TestOutcome::Failed => "FAILED",
        }
    }
}

/// The test-result predicate. The three lists are always written (the spec's own example writes
/// empty ones), so "no failed test" is stated, not implied by absence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub result: TestOutcome,
    pub configuration: Vec<ResourceDescriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, rename = "passedTests")]
    pub passed_tests: Vec<String>,
    #[serde(default, rename = "warnedTests")]
    pub warned_tests: Vec<String>,
    #[serde(default, rename = "failedTests")]
    pub failed_tests: Vec<String>,
}

/// Why a payload is not a statement this layer accepts.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("payload is not a JSON statement: {0}")]
    Json(#[source] serde_json::Error),
    #[error("`_type` is `{0}`, expected `{STATEMENT_TYPE}`")]
    Type(String),
    #[error("`predicateType` is `{found}`, expected `{expected}`")]
    PredicateType { found: String, expected: String },
    #[error("`subject` is empty")]
    NoSubject,
    #[error("subject {0} has no digest")]
    SubjectWithoutDigest(usize),
    #[error("predicate is not a {TEST_RESULT_TYPE} predicate: {0}")]
    Predicate(#[source] serde_json::Error),
}

impl Statement<TestResult> {
    /// A test-result statement about `subject`.
    pub fn test_result(subject: Vec<ResourceDescriptor>, predicate: TestResult) -> Self {
        Statement {
            type_: STATEMENT_TYPE.to_string(),
            subject,
            predicate_type: TEST_RESULT_TYPE.to_string(),
            predicate,
        }
    }

    /// Parse and validate a test-result statement (the verified payload bytes of an envelope).
    pub fn parse_test_result(payload: &[u8]) -> Result<Self, StatementError> {
        let raw: Statement<serde_json::Value> =
            serde_json::from_slice(payload).map_err(StatementError::Json)?;
        if raw.type_ != STATEMENT_TYPE {
            return Err(StatementError::Type(raw.type_));
        }
        if raw.predicate_type != TEST_RESULT_TYPE {
            return Err(StatementError::PredicateType {
                found: raw.predicate_type,
                expected: TEST_RESULT_TYPE.to_string(),
            });
        }
        if raw.subject.is_empty() {
            return Err(StatementError::NoSubject);
        }
        if let Some(i) = raw.subject.iter().position(|s| s.digest.is_empty()) {
            return Err(StatementError::SubjectWithoutDigest(i));
        }
        let predicate = serde_json::from_value(raw.predicate).map_err(StatementError::Predicate)?;
        Ok(Statement {
            type_: raw.type_,
            subject: raw.subject,
            predicate_type: raw.predicate_type,
            predicate,
        })
    }
}

impl<P: Serialize> Statement<P> {
    /// The statement's JSON: compact, deterministic (this is what gets signed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement serializes")
    }
}

/// The `dirHash` digest of a file tree (`digest_set.md`): sha256 of the `sha256sum` listing of
/// every file, paths relative to the tree's root sorted bytewise, i.e.
/// `find . -type f | cut -c3- | LC_ALL=C sort | xargs -r sha256sum | sha256sum`.
/// `files` maps relative path → sha256 hex of the file.
pub fn dir_hash<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut entries: Vec<(&str, &str)> = files.into_iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    for (path, sha) in entries {
        h.update(sha.as_bytes());
        h.update(b"  ");
        h.update(path.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement<TestResult> {
        Statement::test_result(
            vec![ResourceDescriptor {
                name: Some("run.tar.zst".into()),
                digest: [("sha256".to_string(), "ab".repeat(32))].into(),
                ..Default::default()
            }],
            TestResult {
                result: TestOutcome::Passed,
                configuration: vec![ResourceDescriptor {
                    name: Some("inputs/mesh.yaml".into()),
                    digest: [("sha256".to_string(), "cd".repeat(32))].into(),
                    ..Default::default()
                }],
                url: None,
                passed_tests: vec!["a/b/c".into()],
                warned_tests: vec![],
                failed_tests: vec![],
            },
        )
    }

    #[test]
    fn statement_json_follows_the_spec_field_names() {
        let s = statement();
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], TEST_RESULT_TYPE);
        assert_eq!(v["subject"][0]["digest"]["sha256"], "ab".repeat(32));
        assert_eq!(v["predicate"]["result"], "PASSED");
        assert_eq!(v["predicate"]["passedTests"][0], "a/b/c");
        assert_eq!(v["predicate"]["warnedTests"], serde_json::json!([]));
        assert_eq!(v["predicate"]["failedTests"], serde_json::json!([]));
        assert!(v["predicate"].get("url").is_none());
        assert!(v["predicate"]["configuration"][0]
            .get("annotations")
            .is_none());
        assert_eq!(
            Statement::parse_test_result(&s.to_json()).unwrap(),
            s,
            "round trip"
        );
    }

    #[test]
    fn parsing_checks_type_subject_and_predicate_and_ignores_unknown_fields() {
        let mut v: serde_json::Value = serde_json::from_slice(&statement().to_json()).unwrap();
        v["extension"] = serde_json::json!({"x": 1});
        v["predicate"]["extension"] = serde_json::json!(true);
        assert!(Statement::parse_test_result(v.to_string().as_bytes()).is_ok());
        let broken = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut w = v.clone();
            f(&mut w);
            Statement::parse_test_result(w.to_string().as_bytes()).unwrap_err()
        };
        assert!(matches!(
            broken(&|w| w["_type"] = "https://in-toto.io/Statement/v0.1".into()),
            StatementError::Type(_)
        ));
        assert!(matches!(
            broken(&|w| w["predicateType"] = "https://slsa.dev/provenance/v1".into()),
            StatementError::PredicateType { .. }
        ));
        assert!(matches!(
            broken(&|w| w["subject"] = serde_json::json!([])),
            StatementError::NoSubject
        ));
        assert!(matches!(
            broken(&|w| w["subject"] = serde_json::json!([{"name": "x"}])),
            StatementError::SubjectWithoutDigest(0)
        ));
        assert!(matches!(
            broken(&|w| w["predicate"]["result"] = "OK".into()),
            StatementError::Predicate(_)
        ));
        assert!(matches!(
            Statement::parse_test_result(b"[1,2"),
            Err(StatementError::Json(_))
        ));
    }

    #[test]
    fn dir_hash_is_the_specs_example() {
        // digest_set.md: the files of github.com/marklodato/go-hello-world@v0.0.1 give
        // dirHash 2a1bb612…cb8f (its Go module h1: hash).
        let files = [
            (
                "github.com/marklodato/go-hello-world@v0.0.1/main.go",
                "ddc4da627d9a9f45fb29641a1b185d6f53287ecfd921aacbf4fe54b7a86fe8d1",
            ),
            (
                "github.com/marklodato/go-hello-world@v0.0.1/README.md",
                "3a137eef6458bfb76bb2c63fc29ffc7166604d2d2e09ed9d8250a534122a8364",
            ),
            (
                "github.com/marklodato/go-hello-world@v0.0.1/go.mod",
                "28e7c942a036902d981759d0bf5704d2bfc7cb500caf68b84711b234af01c6a5",
            ),
        ];
        assert_eq!(
            dir_hash(files),
            "2a1bb6127fb481c60f67692e22285fb306f3c6ffe62075e0ccf674d7c3adcb8f"
        );
    }
}
