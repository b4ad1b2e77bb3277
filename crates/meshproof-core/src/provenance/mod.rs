//! Provenance of bundles, pure: the in-toto test-result statement a verified bundle makes (from
//! its manifest, re-derived verdicts and input digests) and the checks that an attestation says
//! exactly that. Signing, keys and envelopes are `meshproof-attest`; file I/O is [`files`].
//!
//! The mapping (result, test names, configuration, the `meshproof` descriptor) is documented in
//! docs/provenance.md; change both together.

pub mod files;

use std::collections::BTreeMap;
use std::path::PathBuf;

use meshproof_attest::{
    Envelope, PublicKey, ResourceDescriptor, Statement, TestOutcome, TestResult,
};
use serde_json::{json, Value};

use crate::bundle::verify::CheckLine;
use crate::bundle::{paths, Manifest, RunSelection, RunStatus};
use crate::verdict::{Capability, CaseStatus, CheckKind, Outcome, Verdicts};

pub use meshproof_attest::{STATEMENT_TYPE, TEST_RESULT_TYPE};

/// Names of the checks `verify --attestation` prints (one line each).
pub mod check {
    pub const KEY: &str = "key";
    pub const ENVELOPE: &str = "envelope";
    pub const SIGNATURE: &str = "signature";
    pub const PAYLOAD_TYPE: &str = "payload type";
    pub const STATEMENT: &str = "statement";
    pub const SUBJECT: &str = "subject";
    pub const RESULTS: &str = "results";
    pub const REJUDGED: &str = "re-judged";
}

/// `name` of the configuration descriptor for meshproof itself and the run it recorded.
pub const HARNESS: &str = "meshproof";

/// Payload types of in-toto statements (in-toto attestation `spec/v1/envelope.md`): the generic
/// one meshproof writes, and the predicate-specific one other producers may use.
pub const PAYLOAD_TYPES: [&str; 2] = [
    meshproof_attest::PAYLOAD_TYPE_IN_TOTO,
    "application/vnd.in-toto.test-result+json",
];

/// A public key a reviewer trusts, with the file it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub path: PathBuf,
    pub key: PublicKey,
}

/// An attestation whose signature, payload type, statement and subject checked out.
#[derive(Debug, Clone)]
pub struct Checked {
    pub statement: Statement<TestResult>,
    /// The trusted key that verified the signature.
    pub signer: TrustedKey,
}

/// What a verified bundle says: everything the statement is made of.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub manifest: &'a Manifest,
    /// The verdicts `verify` re-derived (identical to the bundle's `verdicts.json`).
    pub verdicts: &'a Verdicts,
    /// sha256 of every file under `inputs/`, as `SHA256SUMS` lists them (verified).
    pub inputs: BTreeMap<String, String>,
}

/// FAILED when the run is not complete or a case is below `require` (exactly when `verify
/// --require` exits 1); PASSED when every case passed and no informational check failed (no
/// failed and no warned test); WARNED otherwise.
pub fn outcome(status: RunStatus, verdicts: &Verdicts, require: Capability) -> TestOutcome {
    let informational_failed = verdicts
        .cases
        .iter()
        .flat_map(|c| &c.steps)
        .flat_map(|s| &s.checks)
        .any(|c| c.kind == CheckKind::Informational && is_failure(c.outcome));
    if status.why_not_complete(verdicts).is_some() || !verdicts.below(require).is_empty() {
        TestOutcome::Failed
    } else if !informational_failed
        && verdicts
            .cases
            .iter()
            .all(|c| c.status == CaseStatus::Passed)
    {
        TestOutcome::Passed
    } else {
        TestOutcome::Warned
    }
}

fn is_failure(o: Outcome) -> bool {
    matches!(o, Outcome::Fail | Outcome::Error)
}

/// The test name of a check: `<case>/<step>/<check id>` (step names are unique within a case,
/// check ids within a step).
pub fn test_name(case: &str, step: &str, check: &str) -> String {
    format!("{case}/{step}/{check}")
}

/// Check names by list: passed (`pass`); warned (an informational check, judged but never
/// counted, that did not pass); failed (any other check that failed or hit a harness error).
/// Skipped checks never ran and are in no list.
fn test_lists(v: &Verdicts) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut passed, mut warned, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for case in &v.cases {
        for step in &case.steps {
            for c in &step.checks {
                let name = test_name(&case.name, &step.name, &c.id);
                match c.outcome {
                    Outcome::Pass => passed.push(name),
                    o if is_failure(o) && c.kind == CheckKind::Informational => warned.push(name),
                    o if is_failure(o) => failed.push(name),
                    _ => {}
                }
            }
        }
    }
    (passed, warned, failed)
}

/// Which run selection each input belongs to (the `selection` annotation).
fn selected_by<'a>(selection: &'a RunSelection, input: &str) -> Option<&'a str> {
    let field = match input {
        paths::INPUT_CLUSTER => &selection.cluster,
        paths::INPUT_MESH => &selection.mesh,
        paths::INPUT_SUITE => &selection.suite,
        paths::INPUT_WORKLOAD => &selection.workload,
        _ => return None,
    };
    field.as_deref()
}

/// One descriptor per entry of `inputs/`: a file with its `sha256`, a folder with its `dirHash`.
fn input_descriptors(
    inputs: &BTreeMap<String, String>,
    selection: &RunSelection,
) -> Vec<ResourceDescriptor> {
    let prefix = format!("{}/", paths::INPUTS);
    let mut groups: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    let mut single: BTreeMap<String, &str> = BTreeMap::new();
    for (path, sha) in inputs {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            None => {
                single.insert(path.clone(), sha);
            }
            Some((dir, inner)) => groups
                .entry(format!("{prefix}{dir}"))
                .or_default()
                .push((inner, sha)),
        }
    }
    let describe = |name: String, digest: (&str, String)| {
        let mut annotations = BTreeMap::new();
        if let Some(sel) = selected_by(selection, &name) {
            annotations.insert("selection".to_string(), json!(sel));
        }
        ResourceDescriptor {
            name: Some(name),
            digest: [(digest.0.to_string(), digest.1)].into(),
            annotations,
            ..Default::default()
        }
    };
    let mut out: Vec<ResourceDescriptor> =
        single
            .into_iter()
            .map(|(name, sha)| describe(name, ("sha256", sha.to_string())))
            .chain(groups.into_iter().map(|(name, files)| {
                describe(name, ("dirHash", meshproof_attest::dir_hash(files)))
            }))
            .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A 40- or 64-digit lowercase hex git object id (a clean revision).
fn is_git_commit(rev: &str) -> bool {
    matches!(rev.len(), 40 | 64) && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// meshproof itself and the run it recorded: version, revision, run id and status, scoring, the
/// required level the result was computed with, and each case's status and capability.
fn harness_descriptor(f: &Facts, require: Capability) -> ResourceDescriptor {
    let tool = &f.manifest.tool;
    let revision = tool
        .git_revision
        .clone()
        .unwrap_or_else(|| crate::UNKNOWN_REVISION.into());
    let mut annotations = BTreeMap::new();
    annotations.insert("version".into(), json!(tool.version));
    annotations.insert("revision".into(), json!(revision));
    if let Some(r) = &tool.flake_ref {
        annotations.insert("flakeRef".into(), json!(r));
    }
    annotations.insert("runId".into(), json!(f.manifest.run.id));
    annotations.insert("runStatus".into(), json!(f.manifest.run.status.as_str()));
    annotations.insert("scoring".into(), json!(f.verdicts.scoring.as_str()));
    annotations.insert(
        "require".into(),
        json!(require.as_str().to_ascii_lowercase()),
    );
    let cases: BTreeMap<&str, Value> = f
        .verdicts
        .cases
        .iter()
        .map(|c| {
            let capability = f.verdicts.effective(c).map(Capability::as_str);
            (
                c.name.as_str(),
                json!({ "status": c.status.as_str(), "capability": capability }),
            )
        })
        .collect();
    annotations.insert("cases".into(), json!(cases));
    let mut digest = BTreeMap::new();
    if is_git_commit(&revision) {
        digest.insert("gitCommit".to_string(), revision.clone());
    }
    ResourceDescriptor {
        name: Some(HARNESS.into()),
        uri: Some(format!("pkg:generic/meshproof@{}", tool.version)),
        digest,
        annotations,
        ..Default::default()
    }
}

/// The test-result predicate of a verified bundle.
pub fn predicate(f: &Facts, require: Capability, url: Option<&str>) -> TestResult {
    let (passed, warned, failed) = test_lists(f.verdicts);
    let mut configuration = input_descriptors(&f.inputs, &f.manifest.run.selection);
    configuration.push(harness_descriptor(f, require));
    TestResult {
        result: outcome(f.manifest.run.status, f.verdicts, require),
        configuration,
        url: url.map(str::to_string),
        passed_tests: passed,
        warned_tests: warned,
        failed_tests: failed,
    }
}

/// The statement: the bundle file (name and sha256) is the subject.
pub fn statement(bundle_name: &str, bundle_sha256: &str, p: TestResult) -> Statement<TestResult> {
    Statement::test_result(
        vec![ResourceDescriptor {
            name: Some(bundle_name.to_string()),
            digest: [("sha256".to_string(), bundle_sha256.to_string())].into(),
            ..Default::default()
        }],
        p,
    )
}

/// The subject check: some subject's sha256 is the bundle file's.
pub fn check_subject(s: &Statement<TestResult>, bundle_sha256: &str) -> Result<String, String> {
    match s
        .subject
        .iter()
        .find(|d| d.digest.get("sha256").map(String::as_str) == Some(bundle_sha256))
    {
        Some(d) => Ok(format!(
            "sha256 {bundle_sha256} is the subject{}",
            d.name
                .as_deref()
                .map(|n| format!(" `{}`", printable(n)))
                .unwrap_or_default()
        )),
        None => Err(format!(
            "the statement is about {}, not this bundle (sha256 {bundle_sha256})",
            s.subject
                .iter()
                .map(|d| {
                    let digest = d
                        .digest
                        .iter()
                        .map(|(k, v)| format!("{} {}", printable(k), printable(v)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    match &d.name {
                        Some(n) => format!("`{}` ({digest})", printable(n)),
                        None => digest,
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// The required level an attested predicate was computed with (its `meshproof` descriptor).
pub fn attested_require(p: &TestResult) -> Result<Capability, String> {
    let harness = p
        .configuration
        .iter()
        .find(|d| d.name.as_deref() == Some(HARNESS))
        .ok_or_else(|| format!("no `{HARNESS}` configuration descriptor"))?;
    let word = harness
        .annotations
        .get("require")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the `{HARNESS}` descriptor has no `require` annotation"))?;
    Capability::parse(word).ok_or_else(|| format!("`require` is `{word}`, not full/partial/none"))
}

/// The results check: the attested predicate is exactly the one the verified bundle makes
/// (given the attested `require` and `url`); otherwise the first differing field.
pub fn check_results(attested: &TestResult, f: &Facts) -> Result<String, String> {
    let require = attested_require(attested)?;
    let derived = predicate(f, require, attested.url.as_deref());
    let a = serde_json::to_value(attested).expect("predicate serializes");
    let d = serde_json::to_value(&derived).expect("predicate serializes");
    if let Some(diff) = first_difference("predicate", &a, &d) {
        return Err(format!(
            "the attestation does not say what the bundle's verdicts say: {diff}"
        ));
    }
    Ok(format!(
        "{} (require {}), {} passed / {} warned / {} failed checks, as re-derived",
        derived.result.as_str(),
        require.as_str().to_ascii_lowercase(),
        derived.passed_tests.len(),
        derived.warned_tests.len(),
        derived.failed_tests.len()
    ))
}

/// The re-judged check: an attestation vouches for what a run recorded, never a re-judgement.
pub fn check_not_rejudged(m: &Manifest) -> Result<String, String> {
    match &m.rejudged_from {
        None => Ok("the verdicts are the ones the run recorded".into()),
        Some(r) => Err(format!(
            "the bundle was {}: its verdicts are not what a run recorded",
            r.describe()
        )),
    }
}

/// The attestation's own checks, one line each, in order: envelope, signature (every trusted
/// key tried), payload type, statement, subject. Stops at the first failure (`None`). Every
/// detail names the attestation `file`; text from the file is escaped before it is shown.
pub fn check_attestation(
    file: &str,
    bytes: &[u8],
    keys: &[TrustedKey],
    bundle_sha256: &str,
    lines: &mut Vec<CheckLine>,
) -> Option<Checked> {
    let mut push = |name: &'static str, r: Result<String, String>| {
        let ok = r.is_ok();
        let detail = format!("{file}: {}", r.unwrap_or_else(|e| e));
        lines.push(CheckLine { name, ok, detail });
        ok
    };
    let env = match Envelope::parse(bytes) {
        Ok(env) => env,
        Err(e) => {
            push(check::ENVELOPE, Err(e.to_string()));
            return None;
        }
    };
    push(
        check::ENVELOPE,
        Ok(format!(
            "DSSE envelope, {} signature(s)",
            env.signatures.len()
        )),
    );
    let publics: Vec<PublicKey> = keys.iter().map(|k| k.key.clone()).collect();
    let verified = match env.verify(&publics) {
        Ok(v) => v,
        Err(e) => {
            push(check::SIGNATURE, Err(e.to_string()));
            return None;
        }
    };
    let signer = keys[verified.key_index].clone();
    push(
        check::SIGNATURE,
        Ok(format!(
            "signed by {} (keyid {})",
            signer.path.display(),
            verified.keyid
        )),
    );
    if !PAYLOAD_TYPES.contains(&verified.payload_type.as_str()) {
        push(
            check::PAYLOAD_TYPE,
            Err(format!(
                "payloadType `{}` is not an in-toto statement (expected `{}`)",
                printable(&verified.payload_type),
                PAYLOAD_TYPES[0]
            )),
        );
        return None;
    }
    push(check::PAYLOAD_TYPE, Ok(verified.payload_type.clone()));
    let statement = match Statement::parse_test_result(&verified.payload) {
        Ok(s) => s,
        Err(e) => {
            push(check::STATEMENT, Err(printable(&e.to_string())));
            return None;
        }
    };
    push(
        check::STATEMENT,
        Ok(format!(
            "{TEST_RESULT_TYPE}, result {}",
            statement.predicate.result.as_str()
        )),
    );
    if !push(check::SUBJECT, check_subject(&statement, bundle_sha256)) {
        return None;
    }
    Some(Checked { statement, signer })
}

/// `signed by maker.pub (keyid …): PASSED, a test-result statement about run.tar.zst`
pub fn signed_by(c: &Checked) -> String {
    format!(
        "signed by {} (keyid {}): {} statement, result {}",
        c.signer.path.display(),
        c.signer.key.keyid(),
        TEST_RESULT_TYPE,
        c.statement.predicate.result.as_str()
    )
}

/// Text from an attestation, safe to print: control characters escaped, at most 200 characters.
pub fn printable(s: &str) -> String {
    let escaped: String = s.chars().flat_map(char::escape_debug).collect();
    if escaped.chars().count() > 200 {
        format!("{}…", escaped.chars().take(200).collect::<String>())
    } else {
        escaped
    }
}

/// Where two JSON values first differ, as `path: attested X, re-derived Y`.
fn first_difference(path: &str, attested: &Value, derived: &Value) -> Option<String> {
    const MAX: usize = 120;
    let short = |v: Option<&Value>| match v {
        None => "nothing".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > MAX {
                format!("{}…", s.chars().take(MAX).collect::<String>())
            } else {
                s
            }
        }
    };
    match (attested, derived) {
        (Value::Object(a), Value::Object(d)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(d.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = format!("{path}.{}", printable(k));
                match (a.get(k), d.get(k)) {
                    (Some(x), Some(y)) => first_difference(&p, x, y),
                    (x, y) => Some(format!(
                        "{p}: attested {}, re-derived {}",
                        short(x),
                        short(y)
                    )),
                }
            })
        }
        (Value::Array(a), Value::Array(d)) => (0..a.len().max(d.len())).find_map(|i| {
            let p = format!("{path}[{i}]");
            match (a.get(i), d.get(i)) {
                (Some(x), Some(y)) => first_difference(&p, x, y),
                (x, y) => Some(format!(
                    "{p}: attested {}, re-derived {}",
                    short(x),
                    short(y)
                )),
            }
        }),
        (a, d) if a == d => None,
        (a, d) => Some(format!(
            "{path}: attested {}, re-derived {}",
            short(Some(a)),
            short(Some(d))
        )),
    }
}

#[cfg(test)]
mod tests;
