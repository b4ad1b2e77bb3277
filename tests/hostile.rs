//! Regression corpus of hostile bundles: every class of issue 13, built here from a good bundle
//! (no binary blobs), each run through the commands that read bundles with the exit code and
//! the message fragment it must give.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{bin, write_run_dir, MeshModel};
use meshproof::bundle::write::{pack, PackOptions};
use serde_json::Value;

type Files = BTreeMap<String, Vec<u8>>;

/// A good bundle of the conformant model and its files.
fn good(tmp: &Path) -> (PathBuf, Files) {
    let dir = tmp.join("run");
    write_run_dir(&dir, MeshModel::Conformant, "osm@1.2.4");
    let out = tmp.join("good.tar.zst");
    pack(&dir, &out, &PackOptions::default()).unwrap();
    let files = untar(&zstd::decode_all(std::fs::read(&out).unwrap().as_slice()).unwrap());
    (out, files)
}

/// The files of an uncompressed tar stream (a trusted one: our own good bundle).
fn untar(bytes: &[u8]) -> Files {
    let mut out = Files::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        out.insert(p, v);
    }
    out
}

/// A sorted tar of `files` ending with the two zero blocks, as meshproof writes it.
fn tar_of(files: &Files) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (k, v) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(v.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, k, v.as_slice()).unwrap();
    }
    tar.into_inner().unwrap()
}

/// One zstd frame of `bytes`, with or without its content checksum.
fn frame(bytes: &[u8], checksum: bool) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(checksum).unwrap();
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn bundle_of(files: &Files) -> Vec<u8> {
    frame(&tar_of(files), true)
}

/// SHA256SUMS recomputed over the other files, as a forger would.
fn resum(files: &mut Files) {
    let mut sums = String::new();
    for (k, v) in files.iter() {
        if k != "SHA256SUMS" {
            sums.push_str(&format!("{}  {k}\n", meshproof::sha256_hex(v)));
        }
    }
    files.insert("SHA256SUMS".into(), sums.into_bytes());
}

fn manifest(files: &Files) -> Value {
    serde_json::from_slice(&files["manifest.json"]).unwrap()
}

fn set_manifest(files: &mut Files, m: &Value) {
    let mut b = serde_json::to_vec_pretty(m).unwrap();
    b.push(b'\n');
    files.insert("manifest.json".into(), b);
}

/// A hostile bundle and what every reader must say about it.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Exit code of `verify`, `show`, `diff`, `bundle unpack`, `reproduce` and `rerun`.
    code: i32,
    /// In every command's output.
    needle: &'static str,
}

fn output(cmd: &mut assert_cmd::Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Run every reader on the case; nothing may be written outside the unpack target, which must
/// not survive a refusal.
fn run_readers(tmp: &Path, good: &Path, c: &Case) {
    let path = tmp.join(format!("{}.tar.zst", c.name));
    std::fs::write(&path, &c.bytes).unwrap();
    let dest = tmp.join(format!("{}.unpacked", c.name));
    let commands: Vec<(&str, assert_cmd::Command)> = vec![
        ("verify", {
            let mut b = bin();
            b.arg("verify").arg(&path);
            b
        }),
        ("show", {
            let mut b = bin();
            b.arg("show").arg(&path);
            b
        }),
        ("diff", {
            let mut b = bin();
            b.arg("diff").arg(good).arg(&path);
            b
        }),
        ("unpack", {
            let mut b = bin();
            b.args(["bundle", "unpack"]).arg(&path).arg("-o").arg(&dest);
            b
        }),
        ("reproduce", {
            let mut b = bin();
            b.arg("reproduce").arg(&path).arg("--quiet");
            b
        }),
        ("rerun", {
            let mut b = bin();
            b.arg("rerun").arg(&path).arg("--quiet");
            b
        }),
    ];
    for (name, mut cmd) in commands {
        let (code, text) = output(&mut cmd);
        assert_eq!(code, c.code, "{} {name}: exit {code}\n{text}", c.name);
        assert!(
            text.contains(c.needle),
            "{} {name}: `{}` not in\n{text}",
            c.name,
            c.needle
        );
        assert!(
            !text.contains("panicked"),
            "{} {name} panicked:\n{text}",
            c.name
        );
    }
    assert!(!dest.exists(), "{}: unpack left {}", c.name, dest.display());
}

#[test]
fn selection_names_with_path_segments_never_become_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let (good_path, files) = good(tmp.path());
    // Enough `..` to climb out of any temporary directory, then back into this test's own:
    // before the fix, `reproduce` wrote the bundle's inputs there.
    let up = "../".repeat(16);
    let target = tmp.path().join("planted");
    let planted = format!(
        "{up}{}",
        target.display().to_string().trim_start_matches('/')
    );
    let fields = [
        ("cluster", planted.clone()),
        ("mesh", format!("osm@{planted}")),
        ("mesh", planted.clone()),
        ("workload", planted.clone()),
        ("suite", planted.clone()),
        ("only", format!("traffic-access,{planted}")),
    ];
    for (i, (field, value)) in fields.iter().enumerate() {
        let mut f = files.clone();
        let mut m = manifest(&f);
        m["run"]["selection"][*field] = Value::String(value.clone());
        set_manifest(&mut f, &m);
        resum(&mut f);
        let c = Case {
            name: Box::leak(format!("selection-{field}-{i}").into_boxed_str()),
            bytes: bundle_of(&f),
            code: 3,
            needle: Box::leak(format!("run.selection.{field} `").into_boxed_str()),
        };
        run_readers(tmp.path(), &good_path, &c);
        assert!(
            !target.exists(),
            "{field}: {} was written",
            target.display()
        );
        assert!(
            !tmp.path().join("planted.yaml").exists(),
            "{field}: planted.yaml was written"
        );
    }
}

#[test]
fn inputs_must_agree_with_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let (good_path, files) = good(tmp.path());
    let mut cases = Vec::new();

    // An input changed, SHA256SUMS recomputed, the manifest's hashes left stale.
    let mut f = files.clone();
    f.insert("inputs/cluster.yaml".into(), b"# changed\n".to_vec());
    resum(&mut f);
    cases.push(Case {
        name: "input-changed",
        bytes: bundle_of(&f),
        code: 3,
        needle: "inputs/cluster.yaml: sha256 differs from manifest.json inputs",
    });

    // A suite file weakened the same way: the expectation no longer asks for a denial.
    let mut f = files.clone();
    let case = "inputs/suite/traffic-access/case.yaml";
    let text = String::from_utf8(f[case].clone()).unwrap();
    let weakened = text.replacen("expect:", "expect: # weakened\n   ", 1);
    assert_ne!(text, weakened);
    f.insert(case.into(), weakened.into_bytes());
    resum(&mut f);
    cases.push(Case {
        name: "suite-weakened",
        bytes: bundle_of(&f),
        code: 3,
        needle: "inputs/suite/traffic-access/case.yaml: sha256 differs from manifest.json inputs",
    });

    // Listed in the manifest, missing from the archive.
    let mut f = files.clone();
    f.remove("inputs/mesh.yaml");
    resum(&mut f);
    cases.push(Case {
        name: "input-missing",
        bytes: bundle_of(&f),
        code: 3,
        needle: "inputs/mesh.yaml: listed in manifest.json inputs but missing from the archive",
    });

    // In the archive, not in the manifest.
    let mut f = files.clone();
    f.insert("inputs/suite/extra.yaml".into(), b"a: 1\n".to_vec());
    resum(&mut f);
    cases.push(Case {
        name: "input-unlisted",
        bytes: bundle_of(&f),
        code: 3,
        needle: "inputs/suite/extra.yaml: in the archive but not listed in manifest.json inputs",
    });

    for c in &cases {
        run_readers(tmp.path(), &good_path, c);
    }
}

#[test]
fn reports_must_be_what_the_verdicts_render() {
    let tmp = tempfile::tempdir().unwrap();
    let (good_path, files) = good(tmp.path());
    let mut cases = Vec::new();

    let mut f = files.clone();
    let junit = String::from_utf8(f["report/junit.xml"].clone()).unwrap();
    let edited = junit.replacen("failures=\"0\"", "failures=\"0\" edited=\"1\"", 1);
    assert_ne!(junit, edited);
    f.insert("report/junit.xml".into(), edited.into_bytes());
    resum(&mut f);
    cases.push((
        "junit-edited",
        f,
        "report/junit.xml: differs from the report",
    ));

    let mut f = files.clone();
    f.insert(
        "report/summary.md".into(),
        b"# All Full, trust me\n".to_vec(),
    );
    resum(&mut f);
    cases.push(("summary-edited", f, "report/summary.md: differs"));

    let mut f = files.clone();
    f.remove("report/meshery.json");
    resum(&mut f);
    cases.push((
        "meshery-deleted",
        f,
        "report/meshery.json: missing: the re-judged verdicts render it",
    ));

    let mut f = files.clone();
    f.remove("report/summary.md");
    resum(&mut f);
    cases.push((
        "summary-deleted",
        f,
        "report/summary.md: missing from the bundle",
    ));

    let mut f = files.clone();
    f.insert("report/index.html".into(), b"<script>".to_vec());
    resum(&mut f);
    cases.push((
        "report-added",
        f,
        "report/index.html: not part of the bundle format",
    ));

    let mut f = files;
    f.insert("run.sh".into(), b"rm -rf ~".to_vec());
    resum(&mut f);
    cases.push((
        "top-level-added",
        f,
        "run.sh: not part of the bundle format",
    ));

    for (name, f, needle) in cases {
        let bytes = bundle_of(&f);
        let p = tmp.path().join(format!("{name}.tar.zst"));
        std::fs::write(&p, &bytes).unwrap();
        // verify proves the reports; the layout cases are refused by every reader.
        let (code, text) = output(bin().arg("verify").arg(&p));
        assert_eq!(code, 3, "{name}: {text}");
        assert!(text.contains(needle), "{name}: `{needle}` not in\n{text}");
        if needle.contains("not part of the bundle format") || needle.contains("missing from") {
            run_readers(
                tmp.path(),
                &good_path,
                &Case {
                    name,
                    bytes,
                    code: 3,
                    needle,
                },
            );
        }
    }
}

#[test]
fn trailing_and_truncated_data_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (good_path, files) = good(tmp.path());
    let good_bytes = std::fs::read(&good_path).unwrap();
    let tar = tar_of(&files);
    assert!(tar.ends_with(&[0u8; 1024]));
    let mut cases = Vec::new();

    cases.push(Case {
        name: "checksum-cut",
        bytes: good_bytes[..good_bytes.len() - 4].to_vec(),
        code: 3,
        needle: "truncated: the zstd frame ends early",
    });
    let mut b = good_bytes.clone();
    b.extend_from_slice(b"trailing garbage");
    cases.push(Case {
        name: "garbage-after-frame",
        bytes: b,
        code: 3,
        needle: "data after the zstd frame",
    });
    // A second, valid frame holding more entries: concatenated frames are one stream to zstd.
    let mut extra = Files::new();
    extra.insert("logs/zz-extra.txt".into(), b"smuggled\n".to_vec());
    let mut b = good_bytes.clone();
    b.extend_from_slice(&bundle_of(&extra));
    cases.push(Case {
        name: "second-frame",
        bytes: b,
        code: 3,
        needle: "data after the zstd frame",
    });
    // Tar entries after the end-of-archive blocks, inside the one frame.
    let mut t = tar.clone();
    t.extend_from_slice(&tar_of(&extra));
    cases.push(Case {
        name: "entries-after-tar-end",
        bytes: frame(&t, true),
        code: 3,
        needle: "data after the tar end-of-archive marker",
    });
    // The tar cut before its end-of-archive blocks.
    cases.push(Case {
        name: "no-tar-end",
        bytes: frame(&tar[..tar.len() - 1024], true),
        code: 3,
        needle: "ends without its end-of-archive marker",
    });
    // An empty frame: "unpacked 0 files" before.
    cases.push(Case {
        name: "empty-frame",
        bytes: frame(b"", true),
        code: 3,
        needle: "ends without its end-of-archive marker",
    });
    // The same archive in a frame without its content checksum.
    cases.push(Case {
        name: "no-checksum",
        bytes: frame(&tar, false),
        code: 3,
        needle: "no content checksum",
    });
    // Entries out of order (meshproof sorts them).
    let mut t = Vec::new();
    {
        let mut b = tar::Builder::new(&mut t);
        for (k, v) in files.iter().rev() {
            let mut h = tar::Header::new_gnu();
            h.set_size(v.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, k, v.as_slice()).unwrap();
        }
        b.finish().unwrap();
    }
    cases.push(Case {
        name: "unsorted",
        bytes: frame(&t, true),
        code: 3,
        needle: "entries are not sorted by path",
    });
    for c in &cases {
        run_readers(tmp.path(), &good_path, c);
    }
}

#[test]
fn unknown_major_versions_are_refused_by_every_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let (good_path, mut f) = good(tmp.path());
    let mut m = manifest(&f);
    m["format"]["major"] = Value::from(7);
    m["run"] = Value::String("a future layout".into());
    set_manifest(&mut f, &m);
    resum(&mut f);
    run_readers(
        tmp.path(),
        &good_path,
        &Case {
            name: "major-7",
            bytes: bundle_of(&f),
            code: 3,
            needle: "unsupported bundle format 7.",
        },
    );
}

#[test]
fn unpack_filesystem_refusals_are_bad_input_naming_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (good_path, mut f) = good(tmp.path());
    // A dangling symlink where the output should go: refused, the link left alone.
    let link = tmp.path().join("dangling");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &link).unwrap();
    let (code, text) = output(
        bin()
            .args(["bundle", "unpack"])
            .arg(&good_path)
            .arg("-o")
            .arg(&link),
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("already exists"), "{text}");
    assert!(std::fs::symlink_metadata(&link).is_ok());
    assert!(!tmp.path().join("nowhere").exists());

    // A log name longer than the filesystem allows (255 bytes per name on Linux filesystems).
    let long = format!("logs/{}.log", "n".repeat(300));
    f.insert(long, b"x\n".to_vec());
    resum(&mut f);
    let p = tmp.path().join("long-name.tar.zst");
    std::fs::write(&p, bundle_of(&f)).unwrap();
    let dest = tmp.path().join("long-out");
    let (code, text) = output(
        bin()
            .args(["bundle", "unpack"])
            .arg(&p)
            .arg("-o")
            .arg(&dest),
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("cannot unpack entry `logs/nnnn") && text.contains("too long"),
        "{text}"
    );
    assert!(!dest.exists());
}
