//! Provenance on files: key files in and out (`keygen`), bounded reads of attestations, the
//! verified facts of a bundle, and attestation files written atomically (nothing on failure).
//!
//! Private key bytes live only in zeroized buffers and never reach a message, a log or a bundle.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What [`load_signing_key`] returns, nameable by callers that keep the key until they sign.
pub use meshproof_attest::SigningKey;
use meshproof_attest::{Envelope, PublicKey, Statement, TestResult};
use zeroize::Zeroizing;

use crate::staged::StagedFile;

use super::{check, Facts, TrustedKey};
use crate::bundle::verify::{CheckLine, VerifyReport};
use crate::bundle::{self, paths, Limits};
use crate::verdict::Capability;

/// Largest key file read (a PEM Ed25519 key is about 120 bytes).
pub const MAX_KEY_FILE: u64 = 64 << 10;
/// Largest attestation file read (GitHub's `actions/attest` caps predicates at 16 MB too).
pub const MAX_ATTESTATION: u64 = 16 << 20;
/// `meshproof attest BUNDLE` writes `BUNDLE.intoto.json` (in-toto envelope naming: `.json`).
pub const ATTESTATION_SUFFIX: &str = ".intoto.json";

/// Errors of the provenance layer; each names the file and the check.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// Bad input: a key file, an option, an output that exists (exit 2).
    #[error("{file}: {check}: {reason}")]
    BadInput {
        file: String,
        check: &'static str,
        reason: String,
    },
    /// A check failed: the bundle or the attestation does not verify (exit 3).
    #[error("{file}: {check}: {reason}")]
    Failed {
        file: String,
        check: &'static str,
        reason: String,
    },
    /// A check of an attestation failed; the detail names the file (exit 3).
    #[error("{check}: {detail}")]
    Check { check: &'static str, detail: String },
    /// Reading or writing a file failed (exit 4; a missing input is exit 2).
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl ProvenanceError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ProvenanceError::Io {
            file: path.display().to_string(),
            source,
        }
    }

    fn bad(path: &Path, check: &'static str, reason: impl Into<String>) -> Self {
        ProvenanceError::BadInput {
            file: path.display().to_string(),
            check,
            reason: reason.into(),
        }
    }

    fn failed(path: &Path, check: &'static str, reason: impl Into<String>) -> Self {
        ProvenanceError::Failed {
            file: path.display().to_string(),
            check,
            reason: reason.into(),
        }
    }
}

/// Read a whole regular file of at most `max` bytes into a zeroized buffer.
fn read_bounded(
    path: &Path,
    max: u64,
    check: &'static str,
) -> Result<Zeroizing<Vec<u8>>, ProvenanceError> {
    let meta = std::fs::metadata(path).map_err(|e| ProvenanceError::io(path, e))?;
    if !meta.is_file() {
        return Err(ProvenanceError::bad(path, check, "not a regular file"));
    }
    if meta.len() > max {
        return Err(ProvenanceError::bad(
            path,
            check,
            format!("{} bytes, larger than the {max} bytes read", meta.len()),
        ));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut buf))
        .map_err(|e| ProvenanceError::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(ProvenanceError::bad(path, check, "grew while being read"));
    }
    Ok(buf)
}

/// Load a PKCS#8 PEM Ed25519 private key.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, ProvenanceError> {
    let text = read_bounded(path, MAX_KEY_FILE, check::KEY)?;
    SigningKey::from_pem(&text).map_err(|e| ProvenanceError::bad(path, check::KEY, e.to_string()))
}

/// Load SPKI PEM Ed25519 public keys.
pub fn load_public_keys(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, ProvenanceError> {
    paths
        .iter()
        .map(|p| {
            let text = read_bounded(p, MAX_KEY_FILE, check::KEY)?;
            PublicKey::from_pem(&text)
                .map(|key| TrustedKey {
                    path: p.clone(),
                    key,
                })
                .map_err(|e| ProvenanceError::bad(p, check::KEY, e.to_string()))
        })
        .collect()
}

/// `BUNDLE.intoto.json`.
pub fn attestation_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(ATTESTATION_SUFFIX);
    PathBuf::from(name)
}

/// A bundle after `verify`: its checks, its file's sha256, and (when it verified) the sha256 of
/// each file under `inputs/`.
#[derive(Debug)]
pub struct VerifiedBundle {
    pub report: VerifyReport,
    pub sha256: String,
    pub inputs: BTreeMap<String, String>,
}

impl VerifiedBundle {
    /// The statement's raw material, when the bundle verified.
    pub fn facts(&self) -> Option<Facts<'_>> {
        if !self.report.ok() {
            return None;
        }
        Some(Facts {
            manifest: self.report.manifest.as_ref()?,
            verdicts: self.report.verdicts.as_ref()?,
            inputs: self.inputs.clone(),
        })
    }
}

/// Hash and verify a bundle file; the input digests come from its verified `SHA256SUMS`.
pub fn verify_bundle(path: &Path) -> Result<VerifiedBundle, ProvenanceError> {
    let sha256 = crate::sha256_file(path).map_err(|e| ProvenanceError::io(path, e))?;
    let limits = Limits::default();
    let report = crate::seal::verify(path, &limits);
    let mut inputs = BTreeMap::new();
    if report.ok() {
        let files = bundle::read::read_selected(path, &limits, |p| p == paths::SHA256SUMS)
            .map_err(|e| ProvenanceError::failed(path, "checksums", e.to_string()))?;
        let text = files
            .get(paths::SHA256SUMS)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| ProvenanceError::failed(path, "checksums", "SHA256SUMS unreadable"))?;
        let sums = bundle::verify::parse_sums(text)
            .map_err(|e| ProvenanceError::failed(path, "checksums", e))?;
        let prefix = format!("{}/", paths::INPUTS);
        inputs = sums
            .into_iter()
            .filter(|(p, _)| p.starts_with(&prefix))
            .collect();
    }
    Ok(VerifiedBundle {
        report,
        sha256,
        inputs,
    })
}

/// What `attest` writes.
#[derive(Debug, Clone)]
pub struct AttestOptions {
    /// The level `result` is computed against (`--require`, default Full).
    pub require: Capability,
    /// A link to the test run (the predicate's `url`).
    pub url: Option<String>,
    /// The signed envelope (needs a key); `None`: not written.
    pub envelope: Option<PathBuf>,
    /// The bare predicate JSON, as `actions/attest` `predicate-path` reads it; `None`: not written.
    pub predicate: Option<PathBuf>,
    /// Replace outputs that exist.
    pub force: bool,
}

/// What `attest` made.
#[derive(Debug)]
pub struct Attested {
    pub statement: Statement<TestResult>,
    pub keyid: Option<String>,
}

/// The checks `attest` makes before writing anything: outputs free, bundle verified and not
/// re-judged. Returns the statement.
fn statement_for(
    bundle_path: &Path,
    opts: &AttestOptions,
) -> Result<Statement<TestResult>, ProvenanceError> {
    if let Some(url) = &opts.url {
        if !is_url(url) {
            return Err(ProvenanceError::bad(
                Path::new("--url"),
                "url",
                format!("`{url}` is not an absolute http(s) URL"),
            ));
        }
    }
    for out in opts.envelope.iter().chain(&opts.predicate) {
        if !opts.force && out.symlink_metadata().is_ok() {
            return Err(ProvenanceError::bad(
                out,
                "output",
                "already exists; pass --force to replace it",
            ));
        }
    }
    let verified = verify_bundle(bundle_path)?;
    if let Some(p) = verified.report.first_problem() {
        return Err(ProvenanceError::failed(bundle_path, p.name, &p.detail));
    }
    let facts = verified
        .facts()
        .ok_or_else(|| ProvenanceError::failed(bundle_path, "verdicts", "no verdicts"))?;
    super::check_not_rejudged(facts.manifest)
        .map_err(|e| ProvenanceError::failed(bundle_path, check::REJUDGED, e))?;
    let name = bundle_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| bundle_path.display().to_string());
    Ok(super::statement(
        &name,
        &verified.sha256,
        super::predicate(&facts, opts.require, opts.url.as_deref()),
    ))
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > "https://".len()
        && s.len() <= 2048
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Attest a bundle: verify it, then write the signed envelope and/or the bare predicate. Every
/// output is written to a temporary file first and renamed into place only when all are ready.
pub fn attest(
    bundle_path: &Path,
    key: Option<&SigningKey>,
    opts: &AttestOptions,
) -> Result<Attested, ProvenanceError> {
    let statement = statement_for(bundle_path, opts)?;
    let mut outputs: Vec<(&Path, Vec<u8>)> = Vec::new();
    if let Some(path) = &opts.envelope {
        let key = key.ok_or_else(|| {
            ProvenanceError::bad(path, check::KEY, "signing needs a private key (--key)")
        })?;
        let env = Envelope::sign(
            meshproof_attest::PAYLOAD_TYPE_IN_TOTO,
            &statement.to_json(),
            key,
        );
        outputs.push((path, env.to_json()));
    }
    if let Some(path) = &opts.predicate {
        let mut json =
            serde_json::to_vec_pretty(&statement.predicate).expect("predicate serializes");
        json.push(b'\n');
        outputs.push((path, json));
    }
    write_all_or_nothing(&outputs, 0o644, opts.force)?;
    Ok(Attested {
        statement,
        keyid: key.map(|k| k.keyid().to_string()),
    })
}

/// A temporary file beside `path` holding `bytes` with `mode`.
fn stage(path: &Path, bytes: &[u8], mode: u32) -> Result<StagedFile, ProvenanceError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp =
        StagedFile::new_in(dir, ".meshproof-").map_err(|e| ProvenanceError::io(path, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ProvenanceError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| ProvenanceError::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(tmp)
}

/// Stage every output, then move them into place; if one cannot be placed, the ones already
/// placed are removed again.
fn write_all_or_nothing(
    outputs: &[(&Path, Vec<u8>)],
    mode: u32,
    force: bool,
) -> Result<(), ProvenanceError> {
    let staged = outputs
        .iter()
        .map(|(p, b)| stage(p, b, mode).map(|t| (*p, t)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut placed: Vec<&Path> = Vec::new();
    for (path, tmp) in staged {
        let done = if force {
            tmp.persist(path)
        } else {
            tmp.persist_noclobber(path)
        };
        if let Err(e) = done {
            for p in placed {
                let _ = std::fs::remove_file(p);
            }
            let reason = if e.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(ProvenanceError::bad(
                    path,
                    "output",
                    "already exists; pass --force to replace it",
                ));
            } else {
                e
            };
            return Err(ProvenanceError::io(path, reason));
        }
        placed.push(path);
    }
    Ok(())
}

/// A key pair `keygen` wrote.
#[derive(Debug)]
pub struct KeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
    pub keyid: String,
}

/// The public key file beside a private key file: `NAME.key` → `NAME.pub`, `NAME` → `NAME.pub`.
pub fn public_key_path(private: &Path) -> PathBuf {
    private.with_extension("pub")
}

/// Write a new Ed25519 key pair: the private key owner-only (0600), the public key 0644. Never
/// replaces a file.
pub fn keygen(private: &Path) -> Result<KeyPair, ProvenanceError> {
    let public = public_key_path(private);
    if public == private {
        return Err(ProvenanceError::bad(
            private,
            "output",
            "the private key file must not end in `.pub` (the public key goes there)",
        ));
    }
    for p in [private, public.as_path()] {
        if p.symlink_metadata().is_ok() {
            return Err(ProvenanceError::bad(
                p,
                "output",
                "already exists; meshproof keygen never replaces a key file",
            ));
        }
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| {
        ProvenanceError::io(
            private,
            std::io::Error::other(format!("OS random source: {e}")),
        )
    })?;
    let key = SigningKey::from_seed(&seed);
    let private_pem = key.to_pem();
    let private_tmp = stage(private, private_pem.as_bytes(), 0o600)?;
    let public_tmp = stage(&public, key.public().to_pem().as_bytes(), 0o644)?;
    private_tmp
        .persist_noclobber(private)
        .map_err(|e| ProvenanceError::io(private, e))?;
    if let Err(e) = public_tmp.persist_noclobber(&public) {
        let _ = std::fs::remove_file(private);
        return Err(ProvenanceError::io(&public, e));
    }
    Ok(KeyPair {
        private: private.to_path_buf(),
        public,
        keyid: key.keyid().to_string(),
    })
}

/// Read an attestation file (bounded).
pub fn read_attestation(path: &Path) -> Result<Vec<u8>, ProvenanceError> {
    Ok(read_bounded(path, MAX_ATTESTATION, check::ENVELOPE)?.to_vec())
}

/// `verify BUNDLE --attestation FILE --key PUB…`: the attestation's checks, then the bundle's,
/// then results and re-judgement. Stops at the first failing check.
pub fn verify_with_attestation(
    bundle_path: &Path,
    attestation: &Path,
    keys: &[TrustedKey],
) -> Result<(Vec<CheckLine>, VerifiedBundle), ProvenanceError> {
    let bytes = read_attestation(attestation)?;
    let verified = verify_bundle(bundle_path)?;
    let mut lines = Vec::new();
    let Some(checked) = super::check_attestation(
        &attestation.display().to_string(),
        &bytes,
        keys,
        &verified.sha256,
        &mut lines,
    ) else {
        return Ok((lines, verified));
    };
    lines.extend(verified.report.lines.iter().cloned());
    let Some(facts) = verified.facts() else {
        return Ok((lines, verified));
    };
    let results = super::check_results(&checked.statement.predicate, &facts);
    let ok = results.is_ok();
    lines.push(line(check::RESULTS, results));
    if ok {
        lines.push(line(
            check::REJUDGED,
            super::check_not_rejudged(facts.manifest),
        ));
    }
    Ok((lines, verified))
}

fn line(name: &'static str, r: Result<String, String>) -> CheckLine {
    let (ok, detail) = match r {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    CheckLine { name, ok, detail }
}

/// `show --attestation FILE --key PUB…`: who signed the statement about this bundle (signature,
/// payload type, statement and subject checks; no re-judgement).
pub fn who_signed(
    bundle_path: &Path,
    attestation: &Path,
    keys: &[TrustedKey],
) -> Result<super::Checked, ProvenanceError> {
    let bytes = read_attestation(attestation)?;
    let sha = crate::sha256_file(bundle_path).map_err(|e| ProvenanceError::io(bundle_path, e))?;
    let mut lines = Vec::new();
    super::check_attestation(
        &attestation.display().to_string(),
        &bytes,
        keys,
        &sha,
        &mut lines,
    )
    .ok_or_else(|| {
        let failed = lines.iter().find(|l| !l.ok).expect("a failed check");
        ProvenanceError::Check {
            check: failed.name,
            detail: failed.detail.clone(),
        }
    })
}
