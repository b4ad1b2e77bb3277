//! Verifiers nobody here wrote: securesystemslib's DSSE/Ed25519 implementation verifies what
//! `meshproof attest` signs, and the in-toto-attestation Python bindings validate the statement
//! (strict protobuf parsing: an unknown field anywhere fails); a flipped payload byte is
//! rejected. The other way round, an envelope securesystemslib signs verifies in meshproof.
//!
//! Needs a Python with the pinned packages (`.ci/interop-requirements.txt`; `.ci/run` makes a
//! venv and sets `MESHPROOF_INTEROP_PYTHON`). Skips with a printed reason without one, unless
//! `MESHPROOF_REQUIRE_INTEROP=1` (set by `.ci/run`) makes that a failure.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use common::bin;
use serde_json::Value;

/// Verifies an envelope with securesystemslib and validates its statement with the in-toto
/// bindings; prints a JSON summary; exit 1 with the exception when anything is rejected.
const VERIFY_PY: &str = r#"
import hashlib, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

envelope_path, public_path, bundle_path = sys.argv[1:4]
try:
    key = SSlibKey.from_crypto(load_pem_public_key(open(public_path, "rb").read()))
    env = Envelope.from_dict(json.load(open(envelope_path)))
    accepted = env.verify([key], 1)
    assert env.payload_type == "application/vnd.in-toto+json", env.payload_type
    pb = json_format.Parse(env.payload, statement_pb2.Statement())
    st = Statement.copy_from_pb(pb)
    st.validate()
    for rd in pb.subject:
        ResourceDescriptor.copy_from_pb(rd).validate()
    assert pb.predicate_type == "https://in-toto.io/attestation/test-result/v0.1"
    tr = json_format.ParseDict(
        json_format.MessageToDict(pb.predicate), test_result_pb2.TestResult()
    )
    assert tr.result in ("PASSED", "WARNED", "FAILED"), tr.result
    assert len(tr.configuration) > 0
    for rd in tr.configuration:
        ResourceDescriptor.copy_from_pb(rd).validate()
    sha = hashlib.sha256(open(bundle_path, "rb").read()).hexdigest()
    assert [s.digest["sha256"] for s in pb.subject] == [sha], "subject digest"
    print(json.dumps({
        "keyid": key.keyid,
        "accepted": sorted(accepted),
        "result": tr.result,
        "passed": len(tr.passed_tests),
        "configuration": [rd.name for rd in tr.configuration],
    }))
except Exception as e:
    print(f"REJECTED {type(e).__name__}: {e}")
    sys.exit(1)
"#;

/// Signs a payload file with securesystemslib (DSSE over PAE, Ed25519) and writes the envelope.
const SIGN_PY: &str = r#"
import json, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

private_path, payload_path, out_path = sys.argv[1:4]
private = load_pem_private_key(open(private_path, "rb").read(), None)
public = SSlibKey.from_crypto(private.public_key())
env = Envelope(open(payload_path, "rb").read(), "application/vnd.in-toto+json", {})
env.sign(CryptoSigner(private, public))
json.dump(env.to_dict(), open(out_path, "w"))
"#;

/// The Python to use, or `None` (after printing why) when the packages are not there.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os(meshproof::env::MESHPROOF_INTEROP_PYTHON)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let probe = Command::new(&python)
        .args([
            "-c",
            "import securesystemslib, in_toto_attestation, cryptography, google.protobuf",
        ])
        .output();
    let why = match probe {
        Ok(o) if o.status.success() => return Some(python),
        Ok(o) => format!(
            "{} lacks securesystemslib/in-toto-attestation/cryptography: {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("{}: {e}", python.display()),
    };
    if meshproof::env::require_interop() {
        panic!(
            "{}=1 but {why} (pip install -r .ci/interop-requirements.txt)",
            meshproof::env::MESHPROOF_REQUIRE_INTEROP
        );
    }
    common::gate::skip(
        "interop_python",
        &format!(
            "{why}; set {} to a Python with .ci/interop-requirements.txt",
            meshproof::env::MESHPROOF_INTEROP_PYTHON
        ),
    );
    None
}

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn py(python: &Path, args: &[&Path]) -> (bool, String) {
    let out = Command::new(python).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn python_verifiers_accept_meshproof_envelopes_and_reject_a_flipped_byte() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bundle = dir.join("run.tar.zst");
    std::fs::copy(
        common::repo().join("tests/fixtures/bundles/osm-model-conformant.tar.zst"),
        &bundle,
    )
    .unwrap();
    let key = dir.join("maker.key");
    assert!(bin()
        .arg("keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap()
        .status
        .success());
    let public = dir.join("maker.pub");
    let out = bin()
        .arg("attest")
        .arg(&bundle)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let envelope = dir.join("run.tar.zst.intoto.json");
    let verify = script(dir, "verify.py", VERIFY_PY);

    let (ok, text) = py(&python, &[&verify, &envelope, &public, &bundle]);
    assert!(
        ok,
        "securesystemslib/in-toto rejected meshproof's envelope: {text}"
    );
    let summary: Value = serde_json::from_str(text.trim()).unwrap();
    // securesystemslib computed the keyid itself: it is the one meshproof wrote.
    let keyid = meshproof_attest::SigningKey::from_pem(&std::fs::read(&key).unwrap())
        .unwrap()
        .keyid()
        .to_string();
    assert_eq!(summary["keyid"], keyid.as_str());
    assert_eq!(summary["accepted"], serde_json::json!([keyid]));
    assert_eq!(summary["result"], "PASSED");
    assert_eq!(summary["passed"], 45);
    assert_eq!(
        summary["configuration"],
        serde_json::json!([
            "inputs/cluster.yaml",
            "inputs/mesh.yaml",
            "inputs/suite",
            "inputs/workload",
            "meshproof"
        ])
    );

    // One flipped payload byte: rejected.
    let mut env: Value = serde_json::from_slice(&std::fs::read(&envelope).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
    let i = payload.len() / 2;
    payload[i] ^= 0x01;
    env["payload"] = b64.encode(&payload).into();
    let flipped = dir.join("flipped.json");
    std::fs::write(&flipped, env.to_string()).unwrap();
    let (ok, text) = py(&python, &[&verify, &flipped, &public, &bundle]);
    assert!(!ok, "a flipped payload byte was accepted: {text}");
    assert!(text.contains("REJECTED VerificationError"), "{text}");

    // The other way: securesystemslib signs meshproof's statement; meshproof verifies it.
    let statement = dir.join("statement.json");
    let good: Value = serde_json::from_slice(&std::fs::read(&envelope).unwrap()).unwrap();
    std::fs::write(
        &statement,
        b64.decode(good["payload"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let sign = script(dir, "sign.py", SIGN_PY);
    let theirs = dir.join("theirs.json");
    let (ok, text) = py(&python, &[&sign, &key, &statement, &theirs]);
    assert!(ok, "{text}");
    let out = bin()
        .arg("verify")
        .arg(&bundle)
        .arg("--attestation")
        .arg(&theirs)
        .arg("--key")
        .arg(&public)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "meshproof rejected securesystemslib's envelope: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
