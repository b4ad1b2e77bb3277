//! Bundle v1: determinism, offline verify, tampering and hostile archives.

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{bin, write_run_dir, MeshModel};
use meshproof::bundle::read::{read_selected, unpack};
use meshproof::bundle::write::PackOptions;
use meshproof::bundle::{BundleError, Limits};
use meshproof::seal::pack;
use meshproof::seal::verify;

fn packed(tmp: &Path, mesh: MeshModel) -> PathBuf {
    let dir = tmp.join("run");
    write_run_dir(&dir, mesh, "osm@1.2.4");
    let out = tmp.join("run.tar.zst");
    pack(&dir, &out, &PackOptions::default()).unwrap();
    out
}

/// Every file of a bundle, in memory.
fn files_of(bundle: &Path) -> BTreeMap<String, Vec<u8>> {
    read_selected(bundle, &Limits::default(), |_| true).unwrap()
}

/// Write files as a tar.zst the way a careless or hostile tool would: no checks, optional re-summing.
fn raw_bundle(path: &Path, files: &BTreeMap<String, Vec<u8>>, resum: bool) {
    let mut files = files.clone();
    if resum {
        let mut sums = String::new();
        for (k, v) in &files {
            if k != "SHA256SUMS" {
                sums.push_str(&format!("{}  {k}\n", meshproof::sha256_hex(v)));
            }
        }
        files.insert("SHA256SUMS".into(), sums.into_bytes());
    }
    let mut tar = tar::Builder::new(encoder(path));
    for (k, v) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(v.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, k, v.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// One raw tar entry with an arbitrary name and type (bypassing the tar crate's path checks).
fn raw_entry(
    tar: &mut tar::Builder<impl Write>,
    name: &[u8],
    etype: tar::EntryType,
    data: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
    }
    h.set_entry_type(etype);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    h.set_cksum();
    tar.append(&h, data).unwrap();
}

type Tar = tar::Builder<zstd::stream::write::Encoder<'static, std::fs::File>>;

/// (name, archive builder, entry named in the error, reason in the error)
type HostileCase = (
    &'static str,
    Box<dyn Fn(&mut Tar)>,
    &'static str,
    &'static str,
);

/// A zstd encoder like meshproof's: one frame with its content checksum.
fn encoder(path: &Path) -> zstd::stream::write::Encoder<'static, std::fs::File> {
    let mut enc =
        zstd::stream::write::Encoder::new(std::fs::File::create(path).unwrap(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc
}

fn hostile(path: &Path, build: impl FnOnce(&mut Tar)) {
    let mut tar = tar::Builder::new(encoder(path));
    build(&mut tar);
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn packing_the_same_directory_twice_gives_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    write_run_dir(&dir, MeshModel::Conformant, "osm@1.2.4");
    let a = tmp.path().join("a.tar.zst");
    let b = tmp.path().join("b.tar.zst");
    pack(&dir, &a, &PackOptions::default()).unwrap();
    pack(&dir, &b, &PackOptions::default()).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Entries are sorted regular files with mtime 0, uid/gid 0, mode 0644, no owner names.
    let dec = zstd::stream::read::Decoder::new(std::fs::File::open(&a).unwrap()).unwrap();
    let mut ar = tar::Archive::new(dec);
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.mode().unwrap(), 0o644);
        assert_eq!(h.username().unwrap(), Some(""));
        assert_eq!(h.entry_type(), tar::EntryType::Regular);
        names.push(e.path().unwrap().to_string_lossy().to_string());
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names[0], "SHA256SUMS");
    for must in [
        "manifest.json",
        "verdicts.json",
        "report/junit.xml",
        "report/summary.md",
        "report/meshery.json",
        "observations/traffic-access.json",
        "inputs/suite/traffic-access/case.yaml",
        "resolved/versions.json",
        "logs/app-a/probe.log",
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} missing from {names:?}"
        );
    }
    // Re-packing an unpacked bundle reproduces every file but the manifest, which says the
    // verdicts are a re-judgement of that run, with nothing changed.
    let un = tmp.path().join("unpacked");
    unpack(&a, &un, &Limits::default()).unwrap();
    let c = tmp.path().join("c.tar.zst");
    let repacked = pack(&un, &c, &PackOptions::default()).unwrap();
    let r = repacked.manifest.rejudged_from.expect("re-judged");
    assert_eq!(r.run_id, "0123456789abcdef");
    assert_eq!(r.bundle_sha256, None, "no unpack marker, no --from");
    assert!(r.compared && r.changed.is_empty(), "{r:?}");
    let (fa, fc) = (files_of(&a), files_of(&c));
    let differ: Vec<&String> = fa.keys().filter(|k| fa.get(*k) != fc.get(*k)).collect();
    // The summary says "Re-judged"; the Meshery export gets its own id (no record overwrite).
    assert_eq!(
        differ,
        [
            "SHA256SUMS",
            "manifest.json",
            "report/meshery.json",
            "report/summary.md"
        ]
    );
}

/// zstd's multi-threaded mode cuts the frame into jobs of 8 MiB at level 3 (window log 21 + 2),
/// so a directory of several jobs keeps 4 workers busy at once.
#[test]
fn packing_with_1_and_4_workers_gives_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    write_run_dir(&dir, MeshModel::Conformant, "osm@1.2.4");
    // ~40 MiB of access-log-like lines: compressible, but not trivially (a counter and a hash).
    let mut log = String::with_capacity(41 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i: u64 = 0;
    while log.len() < 40 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        log.push_str(&format!(
            "[2026-11-29T06:{:02}:{:02}.{:06}Z] \"GET /api/v{} HTTP/1.1\" {} {} req={:016x}\n",
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 1_000_000,
            x % 3,
            [200, 200, 200, 404, 503][(x >> 8) as usize % 5],
            x % 9973,
            x
        ));
        i += 1;
    }
    std::fs::write(dir.join("logs/app-a/access.log"), &log).unwrap();
    let with = |jobs: u32| {
        let out = tmp.path().join(format!("j{jobs}.tar.zst"));
        pack(
            &dir,
            &out,
            &PackOptions {
                jobs: Some(jobs),
                ..Default::default()
            },
        )
        .unwrap();
        std::fs::read(out).unwrap()
    };
    let (one, four) = (with(1), with(4));
    assert!(one.len() > 1 << 20, "{} bytes", one.len());
    assert!(
        one == four,
        "1 and 4 workers wrote different bundles ({} and {} bytes)",
        one.len(),
        four.len()
    );
    assert!(verify(&tmp.path().join("j4.tar.zst"), &Limits::default()).ok());
    // Several jobs: the frame holds more than 4 × 8 MiB of tar.
    let tar_len = zstd::stream::decode_all(one.as_slice()).unwrap().len();
    assert!(tar_len > 32 << 20, "{tar_len} bytes of tar");
}

#[test]
fn sha256sums_is_readable_by_sha256sum() {
    let tmp = tempfile::tempdir().unwrap();
    let b = packed(tmp.path(), MeshModel::Conformant);
    let un = tmp.path().join("x");
    unpack(&b, &un, &Limits::default()).unwrap();
    let out = std::process::Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "SHA256SUMS"])
        .current_dir(&un)
        .output()
        .expect("sha256sum runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_good_bundle_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let b = packed(tmp.path(), MeshModel::IgnoresHttpRouteGroup);
    let r = verify(&b, &Limits::default());
    assert!(r.ok(), "{:?}", r.lines);
    let names: Vec<&str> = r.lines.iter().map(|l| l.name).collect();
    assert_eq!(
        names,
        [
            "archive safety",
            "checksums",
            "format",
            "layout",
            "inputs",
            "re-judge",
            "verdicts",
            "run status",
            "reports"
        ]
    );
    assert_eq!(r.lines[7].detail, "complete, 4 cases: 2 passed, 2 failed");
    bin().arg("verify").arg(&b).assert().code(0);
    // Partial on traffic-spec and None on traffic-metrics: only --require none passes.
    bin()
        .args(["verify", "--require", "full"])
        .arg(&b)
        .assert()
        .code(1);
    bin()
        .args(["verify", "--require", "partial"])
        .arg(&b)
        .assert()
        .code(1);
    bin()
        .args(["verify", "--require", "none"])
        .arg(&b)
        .assert()
        .code(0);
}

fn expect_verify_fails(bundle: &Path, needle: &str) {
    let r = verify(bundle, &Limits::default());
    assert!(!r.ok());
    let p = r.first_problem().unwrap();
    assert!(
        p.detail.contains(needle),
        "expected `{needle}` in `{}`",
        p.detail
    );
    let out = bin()
        .arg("verify")
        .arg(bundle)
        .assert()
        .code(3)
        .get_output()
        .clone();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains(needle), "{all}");
}

#[test]
fn tampered_bundles_fail_verification_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let good = packed(tmp.path(), MeshModel::Conformant);
    let files = files_of(&good);

    // One flipped byte in an observation.
    let mut f = files.clone();
    let obs = f.get_mut("observations/traffic-split.json").unwrap();
    let i = obs.len() / 2;
    obs[i] ^= 0x01;
    let p = tmp.path().join("flipped.tar.zst");
    raw_bundle(&p, &f, false);
    expect_verify_fails(&p, "observations/traffic-split.json: sha256 mismatch");

    // An extra file.
    let mut f = files.clone();
    f.insert("logs/extra.txt".into(), b"sneaked in\n".to_vec());
    let p = tmp.path().join("extra.tar.zst");
    raw_bundle(&p, &f, false);
    expect_verify_fails(&p, "logs/extra.txt: extra file");

    // A missing file.
    let mut f = files.clone();
    f.remove("resolved/versions.json");
    let p = tmp.path().join("missing.tar.zst");
    raw_bundle(&p, &f, false);
    expect_verify_fails(
        &p,
        "resolved/versions.json: listed in SHA256SUMS but missing",
    );

    // A changed verdict with SHA256SUMS recomputed: only re-judging catches it.
    let mut f = files.clone();
    let text = String::from_utf8(f["verdicts.json"].clone()).unwrap();
    let changed = text.replacen("\"outcome\": \"pass\"", "\"outcome\": \"fail\"", 1);
    assert_ne!(text, changed);
    f.insert("verdicts.json".into(), changed.into_bytes());
    let p = tmp.path().join("verdict.tar.zst");
    raw_bundle(&p, &f, true);
    expect_verify_fails(
        &p,
        "case `traffic-access` step 1 `crd-present`: recorded fail [",
    );

    // The same changed verdict without re-summing: the checksum catches it first.
    let mut f = files.clone();
    let v = f.get_mut("verdicts.json").unwrap();
    v[10] ^= 0x20;
    let p = tmp.path().join("verdict-nosum.tar.zst");
    raw_bundle(&p, &f, false);
    expect_verify_fails(&p, "verdicts.json: sha256 mismatch");

    // An edited observation with sums recomputed: re-judging gives other verdicts.
    let mut f = files;
    let text = String::from_utf8(f["observations/traffic-access.json"].clone()).unwrap();
    let edited = text.replace("\"status\": 200", "\"status\": 503");
    f.insert(
        "observations/traffic-access.json".into(),
        edited.into_bytes(),
    );
    let p = tmp.path().join("obs.tar.zst");
    raw_bundle(&p, &f, true);
    expect_verify_fails(
        &p,
        "case `traffic-access` step 5 `allowed`: recorded pass [",
    );
    expect_verify_fails(
        &p,
        "re-judged fail [traffic-1 fail: 3 request(s): 503×3 (failed×3)]",
    );
}

#[test]
fn bundles_from_before_outcome_classes_fail_verification_naming_their_format() {
    // A 1.1 bundle's observations are format 1: no response headers, bodies or calling pods, so
    // they cannot be classified. `verify` says so instead of re-judging them differently.
    let tmp = tempfile::tempdir().unwrap();
    let good = packed(tmp.path(), MeshModel::Conformant);
    let mut f = files_of(&good);
    let text = String::from_utf8(f["observations/traffic-access.json"].clone()).unwrap();
    f.insert(
        "observations/traffic-access.json".into(),
        text.replacen("\"format\": 2", "\"format\": 1", 1)
            .into_bytes(),
    );
    let p = tmp.path().join("old.tar.zst");
    raw_bundle(&p, &f, true);
    expect_verify_fails(
        &p,
        "observations/traffic-access.json: observation format 1 is not supported (this meshproof \
         reads format 2; format 1 predates outcome classes",
    );
    // A bundle whose mesh pin is gone cannot be judged either: the pin's signatures classify calls.
    let mut f = files_of(&good);
    f.remove("inputs/mesh.yaml");
    let p = tmp.path().join("nopin.tar.zst");
    raw_bundle(&p, &f, true);
    expect_verify_fails(&p, "inputs/mesh.yaml");
}

#[test]
fn unknown_major_format_versions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let good = packed(tmp.path(), MeshModel::Conformant);
    let mut f = files_of(&good);
    let text = String::from_utf8(f["manifest.json"].clone()).unwrap();
    let v2 = text.replacen("\"major\": 1", "\"major\": 2", 1);
    f.insert("manifest.json".into(), v2.into_bytes());
    let p = tmp.path().join("v2.tar.zst");
    raw_bundle(&p, &f, true);
    expect_verify_fails(
        &p,
        &format!(
            "unsupported bundle format 2.{}",
            meshproof::bundle::FORMAT_MINOR
        ),
    );
}

fn assert_unsafe(path: &Path, limits: &Limits, entry: &str, reason: &str) {
    let r = verify(path, limits);
    let p = r.first_problem().expect("must fail");
    assert_eq!(p.name, "archive safety");
    assert!(
        p.detail.contains(entry) && p.detail.contains(reason),
        "{}",
        p.detail
    );
    // unpack refuses too, and leaves nothing behind.
    let dest = path.with_extension("out");
    let e = unpack(path, &dest, limits).unwrap_err();
    assert!(
        matches!(e, BundleError::Unsafe { .. } | BundleError::Limit { .. }),
        "{e}"
    );
    assert!(!dest.exists(), "unpack left {}", dest.display());
}

#[test]
fn hostile_archives_are_rejected_naming_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let lim = Limits::default();
    let cases: Vec<HostileCase> = vec![
        (
            "abs",
            Box::new(|b| raw_entry(b, b"/etc/passwd", tar::EntryType::Regular, b"x", None)),
            "/etc/passwd",
            "absolute path",
        ),
        (
            "dotdot",
            Box::new(|b| raw_entry(b, b"logs/../../escape", tar::EntryType::Regular, b"x", None)),
            "logs/../../escape",
            "`..`",
        ),
        (
            "symlink",
            Box::new(|b| {
                raw_entry(
                    b,
                    b"logs/link",
                    tar::EntryType::Symlink,
                    b"",
                    Some("/etc/passwd"),
                )
            }),
            "logs/link",
            "symbolic links",
        ),
        (
            "hardlink",
            Box::new(|b| {
                raw_entry(
                    b,
                    b"logs/hard",
                    tar::EntryType::Link,
                    b"",
                    Some("manifest.json"),
                )
            }),
            "logs/hard",
            "hard links",
        ),
        (
            "device",
            Box::new(|b| raw_entry(b, b"logs/dev", tar::EntryType::Char, b"", None)),
            "logs/dev",
            "device files",
        ),
        (
            "fifo",
            Box::new(|b| raw_entry(b, b"logs/fifo", tar::EntryType::Fifo, b"", None)),
            "logs/fifo",
            "FIFOs",
        ),
        (
            "dup",
            Box::new(|b| {
                raw_entry(b, b"logs/a.txt", tar::EntryType::Regular, b"one", None);
                raw_entry(b, b"logs/a.txt", tar::EntryType::Regular, b"two", None);
            }),
            "logs/a.txt",
            "duplicate path",
        ),
        (
            "nonutf8",
            Box::new(|b| raw_entry(b, b"logs/\xff\xfe.txt", tar::EntryType::Regular, b"x", None)),
            "logs/",
            "not UTF-8",
        ),
        (
            "fileprefix",
            Box::new(|b| {
                raw_entry(b, b"logs", tar::EntryType::Regular, b"x", None);
                raw_entry(b, b"logs/inner.txt", tar::EntryType::Regular, b"y", None);
            }),
            "logs/inner.txt",
            "also a file",
        ),
    ];
    for (name, build, entry, reason) in cases {
        let p = t.join(format!("{name}.tar.zst"));
        hostile(&p, |b| build(b));
        assert_unsafe(&p, &lim, entry, reason);
    }
}

#[test]
fn oversize_entries_and_decompression_bombs_hit_the_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let big = vec![0u8; 3 << 20]; // 3 MiB of zeros compresses to almost nothing
    let p = tmp.path().join("bomb.tar.zst");
    hostile(&p, |b| {
        for i in 0..4 {
            raw_entry(
                b,
                format!("logs/zero-{i}").as_bytes(),
                tar::EntryType::Regular,
                &big,
                None,
            );
        }
    });
    assert!(
        std::fs::metadata(&p).unwrap().len() < 64 << 10,
        "the bomb is small"
    );
    let per_file = Limits {
        max_file: 1 << 20,
        ..Limits::default()
    };
    assert_unsafe(&p, &per_file, "logs/zero-0", "per-file limit");
    let total = Limits {
        max_total: 10 << 20,
        ..Limits::default()
    };
    assert_unsafe(&p, &total, "logs/zero-3", "decompression bomb");
    let entries = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    assert_unsafe(&p, &entries, "logs/zero-2", "more than 2 entries");
    // Past the floor, more than max_ratio decompressed bytes per compressed byte: a small file
    // cannot cost time out of proportion to its size.
    let ratio = Limits {
        ratio_floor: 1 << 20,
        ..Limits::default()
    };
    assert_unsafe(
        &p,
        &ratio,
        "logs/zero-0",
        "more than 1000:1 past the first 1 MiB",
    );
}

#[test]
fn garbage_is_not_a_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("garbage.tar.zst");
    std::fs::write(&p, b"this is not zstd").unwrap();
    let r = verify(&p, &Limits::default());
    assert!(r
        .first_problem()
        .unwrap()
        .detail
        .contains("not a meshproof bundle"));
    bin().arg("verify").arg(&p).assert().code(3);
    bin()
        .arg("verify")
        .arg(tmp.path().join("absent.tar.zst"))
        .assert()
        .code(2);
}

#[test]
fn pack_refuses_bad_run_directories_and_never_leaves_partial_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    write_run_dir(&dir, MeshModel::Conformant, "osm@1.2.4");
    // An observation that does not parse: error names the file and line; no output appears.
    let obs = dir.join("observations/traffic-access.json");
    let good = std::fs::read(&obs).unwrap();
    std::fs::write(&obs, b"{\n  \"format\": 1,\n  \"case\": 7\n}\n").unwrap();
    let out = tmp.path().join("out.tar.zst");
    let e = pack(&dir, &out, &PackOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("observations/traffic-access.json:3:"),
        "{e}"
    );
    assert!(!out.exists());
    std::fs::write(&obs, good).unwrap();
    // A stray top-level file.
    std::fs::write(dir.join("notes.txt"), "hi").unwrap();
    let e = pack(&dir, &out, &PackOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("notes.txt") && e.to_string().contains("unexpected"),
        "{e}"
    );
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    // An existing output is not overwritten without --force.
    std::fs::write(&out, b"precious").unwrap();
    let e = pack(&dir, &out, &PackOptions::default()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    pack(
        &dir,
        &out,
        &PackOptions {
            force: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(verify(&out, &Limits::default()).ok());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".meshproof-pack-")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn unpack_writes_only_into_a_new_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let b = packed(tmp.path(), MeshModel::Conformant);
    let existing = tmp.path().join("exists");
    std::fs::create_dir(&existing).unwrap();
    let e = unpack(&b, &existing, &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    bin()
        .args(["bundle", "unpack"])
        .arg(&b)
        .arg("-o")
        .arg(&existing)
        .assert()
        .code(2);
}

#[test]
fn format_1_0_bundles_are_still_read() {
    // A 1.0 manifest: no `rejudged_from`, status one of the 1.0 values.
    let tmp = tempfile::tempdir().unwrap();
    let good = packed(tmp.path(), MeshModel::Conformant);
    let mut f = files_of(&good);
    let text = String::from_utf8(f["manifest.json"].clone()).unwrap();
    assert!(!text.contains("rejudged_from"));
    let old = text.replacen(
        &format!("\"minor\": {}", meshproof::bundle::FORMAT_MINOR),
        "\"minor\": 0",
        1,
    );
    assert_ne!(old, text);
    f.insert("manifest.json".into(), old.into_bytes());
    let p = tmp.path().join("v1.0.tar.zst");
    raw_bundle(&p, &f, true);
    let r = verify(&p, &Limits::default());
    assert!(r.ok(), "{:?}", r.lines);
    assert_eq!(r.lines[2].detail, "bundle format 1.0");
    assert_eq!(r.manifest.unwrap().rejudged_from, None);
    bin().arg("show").arg(&p).assert().code(0);
    bin()
        .args(["verify", "--require", "full"])
        .arg(&p)
        .assert()
        .code(0);
    // Verdicts judged by an older verdict format are not called tampered: verify says which
    // meshproof to use.
    let v = String::from_utf8(f["verdicts.json"].clone()).unwrap();
    f.insert(
        "verdicts.json".into(),
        v.replacen(
            &format!("\"format\": {}", meshproof::verdict::VERDICT_FORMAT),
            "\"format\": 1",
            1,
        )
        .into_bytes(),
    );
    let p = tmp.path().join("verdicts-v1.tar.zst");
    raw_bundle(&p, &f, true);
    expect_verify_fails(&p, "verdicts.json has verdict format 1");
}

/// A renderer of another report format, or one that renders other bytes: what a future
/// meshproof (or a changed renderer) would be to today's bundles.
struct OtherRenderings {
    format: u32,
}

impl meshproof::bundle::RenderReports for OtherRenderings {
    fn format(&self) -> u32 {
        self.format
    }
    fn render(
        &self,
        verdicts: &meshproof::verdict::Verdicts,
        manifest: &meshproof::bundle::Manifest,
        mesh_pin: Option<&[u8]>,
    ) -> BTreeMap<String, Vec<u8>> {
        let mut out = meshproof::report::BundleReports.render(verdicts, manifest, mesh_pin);
        for bytes in out.values_mut() {
            bytes.extend_from_slice(b"rendered differently\n");
        }
        out
    }
}

fn reports_line(
    r: &meshproof::bundle::verify::VerifyReport,
) -> &meshproof::bundle::verify::CheckLine {
    r.lines
        .iter()
        .find(|l| l.name == "reports")
        .expect("a reports line")
}

#[test]
fn reports_are_compared_with_renderings_of_their_own_report_format_only() {
    let tmp = tempfile::tempdir().unwrap();
    let b = packed(tmp.path(), MeshModel::Conformant);
    let current = meshproof::bundle::REPORT_FORMAT;
    // The same report format rendering other bytes: the bundle's reports are named.
    let r = meshproof::bundle::verify::verify(
        &b,
        &Limits::default(),
        &OtherRenderings { format: current },
    );
    assert!(!r.ok());
    let line = reports_line(&r);
    assert!(!line.ok);
    assert!(
        line.detail
            .starts_with("report/junit.xml: differs from the report rendered"),
        "{}",
        line.detail
    );
    // A build of a newer report format does not re-render this bundle's older reports (it does
    // not fail them for being old), and says so.
    let r = meshproof::bundle::verify::verify(
        &b,
        &Limits::default(),
        &OtherRenderings {
            format: current + 1,
        },
    );
    assert!(r.ok(), "{:?}", r.lines);
    assert_eq!(
        reports_line(&r).detail,
        format!(
            "not re-rendered: bundle format 1.{} holds report format {current}, this meshproof \
             renders report format {}; the reports match SHA256SUMS",
            meshproof::bundle::FORMAT_MINOR,
            current + 1
        )
    );
    // This build's renderings: compared, identical.
    let r = verify(&b, &Limits::default());
    assert!(
        reports_line(&r).ok
            && reports_line(&r)
                .detail
                .ends_with("identical to the re-rendered reports")
    );
}

#[test]
fn newer_minor_format_versions_are_read_and_named_when_their_reports_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let good = packed(tmp.path(), MeshModel::Conformant);
    let mut f = files_of(&good);
    let text = String::from_utf8(f["manifest.json"].clone()).unwrap();
    let newer = meshproof::bundle::FORMAT_MINOR + 1;
    let edited = text.replacen(
        &format!("\"minor\": {}", meshproof::bundle::FORMAT_MINOR),
        &format!("\"minor\": {newer}"),
        1,
    );
    assert_ne!(edited, text);
    f.insert("manifest.json".into(), edited.into_bytes());
    let p = tmp.path().join("newer-minor.tar.zst");
    raw_bundle(&p, &f, true);
    // Readable: what this build knows of it is there, and its reports render the same.
    let r = verify(&p, &Limits::default());
    assert!(r.ok(), "{:?}", r.lines);
    assert_eq!(r.lines[2].detail, format!("bundle format 1.{newer}"));
    // Reports that differ may be of a newer report format: verify says so.
    let r = meshproof::bundle::verify::verify(
        &p,
        &Limits::default(),
        &OtherRenderings {
            format: meshproof::bundle::REPORT_FORMAT,
        },
    );
    let line = reports_line(&r);
    assert!(!line.ok);
    assert!(
        line.detail.contains(&format!(
            "(bundle format 1.{newer} is newer than this meshproof's 1.{}: its reports may be of \
             a newer report format",
            meshproof::bundle::FORMAT_MINOR
        )),
        "{}",
        line.detail
    );
}

#[test]
fn older_major_format_versions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let good = packed(tmp.path(), MeshModel::Conformant);
    let mut f = files_of(&good);
    let text = String::from_utf8(f["manifest.json"].clone()).unwrap();
    let v0 = text.replacen("\"major\": 1", "\"major\": 0", 1);
    f.insert("manifest.json".into(), v0.into_bytes());
    let p = tmp.path().join("v0.tar.zst");
    raw_bundle(&p, &f, true);
    expect_verify_fails(
        &p,
        &format!(
            "unsupported bundle format 0.{} (this meshproof reads 1.x): the bundle is of an older major format",
            meshproof::bundle::FORMAT_MINOR
        ),
    );
}
