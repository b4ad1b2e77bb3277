//! Provenance through the real binary: `keygen`, `attest`, `verify --attestation`, `show
//! --attestation`; every bad input of issue 17 rejected with the file and the check named and
//! nothing written; private keys never in any output; the revision every build records.

use crate::common;

use std::path::{Path, PathBuf};

use base64::Engine;
use common::bin;
use meshproof_attest::{Envelope, SigningKey};
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/bundles/osm-model-conformant.tar.zst";

fn data(name: &str) -> PathBuf {
    common::repo()
        .join("crates/meshproof-attest/tests/data")
        .join(name)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut assert_cmd::Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temp dir with a copy of the fixture bundle and a fresh key pair from `meshproof keygen`.
struct Setup {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("run.tar.zst");
        std::fs::copy(common::repo().join(FIXTURE), &bundle).unwrap();
        let key = dir.path().join("maker.key");
        let r = run(bin().arg("keygen").arg("-o").arg(&key));
        assert_eq!(r.code, 0, "{}", r.stderr);
        Setup {
            public: dir.path().join("maker.pub"),
            dir,
            bundle,
            key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn attestation(&self) -> PathBuf {
        self.path("run.tar.zst.intoto.json")
    }

    fn attest(&self) -> Run {
        run(bin()
            .arg("attest")
            .arg(&self.bundle)
            .arg("--key")
            .arg(&self.key))
    }

    fn verify(&self, bundle: &Path, attestation: &Path, key: &Path) -> Run {
        run(bin()
            .arg("verify")
            .arg(bundle)
            .arg("--attestation")
            .arg(attestation)
            .arg("--key")
            .arg(key))
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::from_pem(&std::fs::read(&self.key).unwrap()).unwrap()
    }

    /// The statement of a good attestation of the bundle, as JSON.
    fn statement(&self) -> Value {
        let r = self.attest();
        assert_eq!(r.code, 0, "{}", r.stderr);
        let env: Envelope =
            serde_json::from_slice(&std::fs::read(self.attestation()).unwrap()).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(env.payload)
            .unwrap();
        std::fs::remove_file(self.attestation()).unwrap();
        serde_json::from_slice(&payload).unwrap()
    }

    /// Sign `statement` with the maker's key into `name`.
    fn signed(&self, name: &str, payload_type: &str, statement: &Value) -> PathBuf {
        let env = Envelope::sign(
            payload_type,
            statement.to_string().as_bytes(),
            &self.signing_key(),
        );
        let p = self.path(name);
        std::fs::write(&p, env.to_json()).unwrap();
        p
    }

    /// Every file in the temp dir.
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

#[test]
fn keygen_attest_verify_show_round_trip() {
    let s = Setup::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&s.key), 0o600, "private key owner-only");
        assert_eq!(mode(&s.public), 0o644);
    }
    let key_before = std::fs::read(&s.key).unwrap();
    let again = run(bin().arg("keygen").arg("-o").arg(&s.key));
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("maker.key: output: already exists"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read(&s.key).unwrap(),
        key_before,
        "keygen never replaces a key"
    );

    let r = s.attest();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("PASSED (require full): 45 passed, 0 warned, 0 failed checks"),
        "{}",
        r.stdout
    );
    let keyid = s.signing_key().keyid().to_string();
    assert!(r.stdout.contains(&format!(
        "wrote {} (signed, keyid {keyid})",
        s.attestation().display()
    )));

    let v = s.verify(&s.bundle, &s.attestation(), &s.public);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    let names: Vec<&str> = v.stdout.lines().map(|l| l[5..20].trim_end()).collect();
    assert_eq!(
        names,
        [
            "envelope",
            "signature",
            "payload type",
            "statement",
            "subject",
            "archive safety",
            "checksums",
            "format",
            "layout",
            "inputs",
            "re-judge",
            "verdicts",
            "run status",
            "reports",
            "results",
            "re-judged"
        ],
        "{}",
        v.stdout
    );
    assert!(
        v.stdout.lines().all(|l| l.starts_with("ok   ")),
        "{}",
        v.stdout
    );
    assert!(v
        .stdout
        .contains(&format!("signed by {} (keyid {keyid})", s.public.display())));
    // Several trusted keys: any one of them may have signed.
    let v = run(bin()
        .arg("verify")
        .arg(&s.bundle)
        .arg("--attestation")
        .arg(s.attestation())
        .arg("--key")
        .arg(data("openssl-ed25519.pub"))
        .arg("--key")
        .arg(&s.public));
    assert_eq!(v.code, 0, "{}", v.stderr);

    let show = run(bin()
        .arg("show")
        .arg(&s.bundle)
        .arg("--attestation")
        .arg(s.attestation())
        .arg("--key")
        .arg(&s.public));
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("CAPABILITY"), "{}", show.stdout);
    assert!(show.stdout.trim_end().ends_with(&format!(
        "signed by {} (keyid {keyid}): https://in-toto.io/attestation/test-result/v0.1 statement, result PASSED",
        s.public.display()
    )));
    // Machine formats stay machine-readable: who signed goes to stderr.
    let json = run(bin()
        .arg("show")
        .arg(&s.bundle)
        .args(["--format", "json", "--attestation"])
        .arg(s.attestation())
        .arg("--key")
        .arg(&s.public));
    assert_eq!(json.code, 0);
    serde_json::from_str::<Value>(&json.stdout).unwrap();
    assert!(json.stderr.contains("signed by"), "{}", json.stderr);

    // An existing attestation is not replaced without --force.
    let before = std::fs::read(s.attestation()).unwrap();
    let r = s.attest();
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("run.tar.zst.intoto.json: output: already exists"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(s.attestation()).unwrap(), before);
    let r = run(bin()
        .arg("attest")
        .arg(&s.bundle)
        .arg("--key")
        .arg(&s.key)
        .arg("--force"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Ed25519 is deterministic: the same statement gives the same envelope.
    assert_eq!(std::fs::read(s.attestation()).unwrap(), before);
}

#[test]
fn predicate_only_for_keyless_ci_and_options() {
    let s = Setup::new();
    let predicate = s.path("predicate.json");
    let r = run(bin()
        .arg("attest")
        .arg(&s.bundle)
        .arg("--predicate")
        .arg(&predicate)
        .args([
            "--require",
            "partial",
            "--url",
            "https://github.com/o/r/actions/runs/1",
        ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!s.attestation().exists(), "no key: no envelope");
    let p: Value = serde_json::from_slice(&std::fs::read(&predicate).unwrap()).unwrap();
    assert_eq!(p["result"], "PASSED");
    assert_eq!(p["url"], "https://github.com/o/r/actions/runs/1");
    let harness = p["configuration"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "meshproof")
        .unwrap();
    assert_eq!(harness["annotations"]["require"], "partial");
    // The predicate file is the predicate of the statement `attest --key` signs.
    let out = s.path("custom.json");
    let r = run(bin()
        .arg("attest")
        .arg(&s.bundle)
        .arg("--key")
        .arg(&s.key)
        .arg("-o")
        .arg(&out)
        .args([
            "--require",
            "partial",
            "--url",
            "https://github.com/o/r/actions/runs/1",
        ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let env: Envelope = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(env.payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(statement["predicate"], p);
    assert_eq!(s.verify(&s.bundle, &out, &s.public).code, 0);
    // Bad option values are refused before anything is written.
    let r = run(bin()
        .arg("attest")
        .arg(&s.bundle)
        .arg("--predicate")
        .arg(s.path("p2.json"))
        .args(["--url", "not a url"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--url: url:"), "{}", r.stderr);
    assert!(!s.path("p2.json").exists());
    let r = run(bin().arg("attest").arg(&s.bundle));
    assert_eq!(r.code, 2, "neither --key nor --predicate");
}

/// Asserts exit `code`, and that stderr names `file` and `check`.
#[track_caller]
fn rejected(r: &Run, code: i32, file: &str, check: &str) {
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(file) && r.stderr.contains(check),
        "stderr should name `{file}` and `{check}`:\n{}",
        r.stderr
    );
}

#[test]
fn every_bad_attestation_fails_verify_naming_the_file_and_the_check() {
    let s = Setup::new();
    let good = s.statement();
    let r = s.attest();
    assert_eq!(r.code, 0);
    let att = s.attestation();

    // Wrong key.
    let other = data("openssl-ed25519.pub");
    let r = s.verify(&s.bundle, &att, &other);
    rejected(&r, 3, "run.tar.zst.intoto.json", "signature: ");
    assert!(r.stdout.contains("FAIL signature"), "{}", r.stdout);

    // Truncated and non-JSON envelopes.
    let bytes = std::fs::read(&att).unwrap();
    let truncated = s.path("truncated.json");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    rejected(
        &s.verify(&s.bundle, &truncated, &s.public),
        3,
        "truncated.json",
        "envelope: ",
    );
    let garbage = s.path("garbage.json");
    std::fs::write(&garbage, b"this is not json\n").unwrap();
    rejected(
        &s.verify(&s.bundle, &garbage, &s.public),
        3,
        "garbage.json",
        "envelope: ",
    );
    let empty = s.path("empty.json");
    std::fs::write(&empty, b"").unwrap();
    rejected(
        &s.verify(&s.bundle, &empty, &s.public),
        3,
        "empty.json",
        "envelope: ",
    );

    // A flipped payload byte: the signature no longer covers it.
    let mut env: Value = serde_json::from_slice(&bytes).unwrap();
    let payload = env["payload"].as_str().unwrap().to_string();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(&payload)
        .unwrap();
    raw[10] ^= 1;
    env["payload"] = base64::engine::general_purpose::STANDARD
        .encode(&raw)
        .into();
    let flipped = s.path("flipped.json");
    std::fs::write(&flipped, env.to_string()).unwrap();
    rejected(
        &s.verify(&s.bundle, &flipped, &s.public),
        3,
        "flipped.json",
        "signature: ",
    );

    // Wrong payload type, correctly signed.
    let typed = s.signed("typed.json", "application/json", &good);
    rejected(
        &s.verify(&s.bundle, &typed, &s.public),
        3,
        "typed.json",
        "payload type: ",
    );

    // A statement about another digest, correctly signed.
    let mut other_subject = good.clone();
    other_subject["subject"][0]["digest"]["sha256"] = "00".repeat(32).into();
    let subject = s.signed(
        "subject.json",
        meshproof_attest::PAYLOAD_TYPE_IN_TOTO,
        &other_subject,
    );
    let r = s.verify(&s.bundle, &subject, &s.public);
    rejected(&r, 3, "subject.json", "subject: ");
    assert!(r.stderr.contains(&"00".repeat(32)), "{}", r.stderr);

    // Another predicate type, or a statement that is not v1.
    let mut provenance = good.clone();
    provenance["predicateType"] = "https://slsa.dev/provenance/v1".into();
    let p = s.signed(
        "slsa.json",
        meshproof_attest::PAYLOAD_TYPE_IN_TOTO,
        &provenance,
    );
    rejected(
        &s.verify(&s.bundle, &p, &s.public),
        3,
        "slsa.json",
        "statement: ",
    );

    // Results that differ from the re-derived verdicts, correctly signed.
    let mut lie = good.clone();
    lie["predicate"]["result"] = "WARNED".into();
    let lied = s.signed("lie.json", meshproof_attest::PAYLOAD_TYPE_IN_TOTO, &lie);
    let r = s.verify(&s.bundle, &lied, &s.public);
    rejected(&r, 3, "verification failed", "results: ");
    assert!(
        r.stderr
            .contains("predicate.result: attested \"WARNED\", re-derived \"PASSED\""),
        "{}",
        r.stderr
    );
    let mut capability = good.clone();
    let cases = capability["predicate"]["configuration"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["name"] == "meshproof")
        .unwrap();
    cases["annotations"]["cases"]["traffic-split"]["capability"] = "Partial".into();
    let cap = s.signed(
        "cap.json",
        meshproof_attest::PAYLOAD_TYPE_IN_TOTO,
        &capability,
    );
    rejected(
        &s.verify(&s.bundle, &cap, &s.public),
        3,
        "cases.traffic-split.capability",
        "results: ",
    );

    // The attestation file or a key file missing: bad input (2), not a failed check.
    rejected(
        &s.verify(&s.bundle, &s.path("missing.json"), &s.public),
        2,
        "missing.json",
        "",
    );
    rejected(
        &s.verify(&s.bundle, &att, &s.path("missing.pub")),
        2,
        "missing.pub",
        "",
    );
}

#[test]
fn re_packed_bundles_are_refused() {
    let s = Setup::new();
    assert_eq!(s.attest().code, 0);
    // Unpack, edit an observation, pack: a re-judged bundle.
    let dir = s.path("unpacked");
    assert_eq!(
        run(bin()
            .args(["bundle", "unpack"])
            .arg(&s.bundle)
            .arg("-o")
            .arg(&dir))
        .code,
        0
    );
    let obs = dir.join("observations/traffic-split.json");
    let mut o: Value = serde_json::from_slice(&std::fs::read(&obs).unwrap()).unwrap();
    o["steps"] = Value::Array(vec![]);
    std::fs::write(&obs, serde_json::to_vec_pretty(&o).unwrap()).unwrap();
    let repacked = s.path("repacked.tar.zst");
    let r = run(bin()
        .args(["bundle", "pack"])
        .arg(&dir)
        .arg("-o")
        .arg(&repacked));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        run(bin().arg("verify").arg(&repacked)).code,
        0,
        "a re-judged bundle verifies alone"
    );

    // The original's attestation is about other bytes.
    rejected(
        &s.verify(&repacked, &s.attestation(), &s.public),
        3,
        "run.tar.zst.intoto.json",
        "subject: ",
    );

    // `attest` refuses to sign it, and writes nothing.
    let before = s.files();
    let r = run(bin().arg("attest").arg(&repacked).arg("--key").arg(&s.key));
    rejected(&r, 3, "repacked.tar.zst", "re-judged: ");
    assert!(
        r.stderr.contains("re-judged from run 0123456789abcdef"),
        "{}",
        r.stderr
    );
    assert_eq!(s.files(), before);

    // An attestation made for it anyway (by another tool, or an older meshproof) fails verify.
    let verified = meshproof::provenance::files::verify_bundle(&repacked).unwrap();
    let facts = verified.facts().unwrap();
    let statement = meshproof::provenance::statement(
        "repacked.tar.zst",
        &verified.sha256,
        meshproof::provenance::predicate(&facts, meshproof::verdict::Capability::Full, None),
    );
    let made = s.signed(
        "repacked.tar.zst.intoto.json",
        meshproof_attest::PAYLOAD_TYPE_IN_TOTO,
        &serde_json::from_slice(&statement.to_json()).unwrap(),
    );
    let r = s.verify(&repacked, &made, &s.public);
    rejected(&r, 3, "verification failed", "re-judged: ");
    assert!(r.stdout.contains("ok   results"), "{}", r.stdout);
}

#[test]
fn bad_keys_are_refused_before_anything_is_written() {
    let s = Setup::new();
    let before = s.files();
    let attest_with = |key: &Path| run(bin().arg("attest").arg(&s.bundle).arg("--key").arg(key));

    let r = attest_with(&data("openssl-ed25519-encrypted.key"));
    rejected(
        &r,
        2,
        "openssl-ed25519-encrypted.key",
        "key: an encrypted private key",
    );
    let r = attest_with(&data("openssl-p256.key"));
    rejected(
        &r,
        2,
        "openssl-p256.key",
        "key: not an Ed25519 key (algorithm EC (ECDSA), OID 1.2.840.10045.2.1)",
    );
    let r = attest_with(&s.public);
    rejected(
        &r,
        2,
        "maker.pub",
        "key: a public key where a private key is needed",
    );
    let r = attest_with(&s.path("nope.key"));
    rejected(&r, 2, "nope.key", "No such file");
    let not_pem = s.path("run.tar.zst");
    rejected(&attest_with(&not_pem), 2, "run.tar.zst", "key: ");
    assert_eq!(s.files(), before, "nothing written");

    // A private key where a public key is needed, a non-Ed25519 public key.
    assert_eq!(s.attest().code, 0);
    let r = s.verify(&s.bundle, &s.attestation(), &s.key);
    rejected(
        &r,
        2,
        "maker.key",
        "key: a private key where a public key is needed",
    );
    let r = s.verify(&s.bundle, &s.attestation(), &data("openssl-p256.pub"));
    rejected(&r, 2, "openssl-p256.pub", "key: not an Ed25519 key");

    // A bundle that does not verify is not signed.
    let broken = s.path("broken.tar.zst");
    let bytes = std::fs::read(&s.bundle).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() - 100]).unwrap();
    let before = s.files();
    let r = run(bin().arg("attest").arg(&broken).arg("--key").arg(&s.key));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("broken.tar.zst"), "{}", r.stderr);
    assert_eq!(s.files(), before);
}

#[test]
fn openssl_keys_sign_and_verify() {
    let s = Setup::new();
    let r = run(bin()
        .arg("attest")
        .arg(&s.bundle)
        .arg("--key")
        .arg(data("openssl-ed25519.key")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = s.verify(&s.bundle, &s.attestation(), &data("openssl-ed25519.pub"));
    assert_eq!(v.code, 0, "{}", v.stdout);
    // The keyid computed outside meshproof (crates/meshproof-attest/tests/data/README.md).
    assert!(v
        .stdout
        .contains("keyid 23f7974a9e2997a5342b4325cb8d8c8ed8e6a57de79eb5e8439b287678bb717d"));
}

/// Every way the private key could leak: its PEM text, the base64 of its body, the raw seed in
/// hex and base64.
fn secrets(key_pem: &str) -> Vec<String> {
    let body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .unwrap();
    let seed = &der[der.len() - 32..];
    vec![
        body.clone(),
        body[..20].to_string(),
        hex::encode(seed),
        base64::engine::general_purpose::STANDARD.encode(seed),
    ]
}

#[test]
fn private_keys_never_reach_output_files_or_bundles() {
    let s = Setup::new();
    let pem = std::fs::read_to_string(&s.key).unwrap();
    let secret = secrets(&pem);
    let mut seen = String::new();
    let mut record = |r: Run| {
        seen.push_str(&r.stdout);
        seen.push_str(&r.stderr);
    };
    record(s.attest());
    record(s.verify(&s.bundle, &s.attestation(), &s.public));
    // The private key passed where a public key belongs, and as a bundle or attestation.
    record(s.verify(&s.bundle, &s.attestation(), &s.key));
    record(s.verify(&s.bundle, &s.key, &s.public));
    record(run(bin().arg("verify").arg(&s.key)));
    record(run(bin().arg("show").arg(&s.key)));
    record(run(bin()
        .arg("show")
        .arg(&s.bundle)
        .arg("--attestation")
        .arg(&s.key)
        .arg("--key")
        .arg(&s.public)));
    // A broken copy of the key.
    let broken = s.path("broken.key");
    std::fs::write(&broken, &pem[..pem.len() - 40]).unwrap();
    record(run(bin()
        .arg("attest")
        .arg(&s.bundle)
        .arg("--key")
        .arg(&broken)
        .arg("--force")));
    let mut written = std::fs::read(s.attestation()).unwrap();
    written.extend(std::fs::read(&s.bundle).unwrap());
    let written = String::from_utf8_lossy(&written);
    for secret in &secret {
        assert!(
            !seen.contains(secret.as_str()),
            "a command printed the private key:\n{seen}"
        );
        assert!(
            !written.contains(secret.as_str()),
            "a file holds the private key"
        );
    }
    assert!(
        seen.contains("key: "),
        "the refusals were exercised: {seen}"
    );
}

#[test]
fn every_build_records_its_revision() {
    let revision = meshproof::build_revision();
    assert!(!revision.is_empty());
    if let Some(compiled) = option_env!("MESHPROOF_GIT_REV").filter(|r| !r.trim().is_empty()) {
        assert_eq!(revision, compiled.trim());
        return;
    }
    let repo = common::repo();
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    match (top, git(&["rev-parse", "HEAD"])) {
        (Some(top), Some(head)) if top.canonicalize().ok() == repo.canonicalize().ok() => {
            assert!(
                revision == head || revision == format!("{head}-dirty"),
                "built from a git checkout at {head}, but records {revision}"
            );
        }
        _ => {
            common::gate::skip(
                "every_build_records_its_revision",
                "not built from a git checkout: the revision is `unknown` or the packaged crate's",
            );
            assert!(
                revision == meshproof::UNKNOWN_REVISION || revision.len() >= 40,
                "{revision}"
            );
        }
    }
}
