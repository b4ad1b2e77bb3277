//! The rough edges a new user hits, through the binary: the inputs root, broken pipes, bad
//! `--kubeconfig`/`--out`/`--timeout-scale` refused before anything is written, directories and
//! missing files given as bundles, failed unpacks leaving nothing behind, help for every
//! argument, shell completions and man pages.

use crate::common;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use clap::CommandFactory;
use common::{bin, repo};
use predicates::prelude::*;

const FIXTURE: &str = "tests/fixtures/bundles/osm-model-conformant.tar.zst";

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// Every entry below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_bad_meshproof_home_exits_2_naming_the_path_and_where_it_came_from() {
    let a = bin()
        .env("MESHPROOF_HOME", "/typo")
        .args(["list", "meshes"])
        .assert()
        .code(2);
    assert!(stdout(&a).is_empty(), "no empty table: {}", stdout(&a));
    let e = stderr(&a);
    assert!(
        e.contains("inputs root /typo (from MESHPROOF_HOME) does not exist"),
        "{e}"
    );
    // A directory without the catalog folders is refused the same way, naming what is missing.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("suites")).unwrap();
    let a = bin()
        .env("MESHPROOF_HOME", tmp.path())
        .args(["plan", "--mesh", "none"])
        .assert()
        .code(2);
    let e = stderr(&a);
    assert!(
        e.contains(&format!(
            "inputs root {} (from MESHPROOF_HOME) has no clusters/",
            tmp.path().display()
        )),
        "{e}"
    );
}

#[test]
fn a_bad_root_flag_exits_2_naming_the_path_for_every_command_that_reads_inputs() {
    for args in [
        &["plan"][..],
        &["list", "clusters"],
        &["doctor"],
        &["lock", "--mesh", "osm"],
        &["run", "--mesh", "none"],
        &["rerun", FIXTURE],
        &["reproduce", FIXTURE],
    ] {
        let a = bin()
            .current_dir(repo())
            .args(["--root", "/nonexistent"])
            .args(args)
            .assert()
            .code(2);
        let e = stderr(&a);
        assert!(
            e.contains("inputs root /nonexistent (from --root) does not exist"),
            "{args:?}: {e}"
        );
        assert!(!e.contains("unknown mesh"), "{args:?}: {e}");
    }
}

#[test]
fn the_inputs_root_is_printed_once_on_stderr() {
    let a = bin().args(["plan", "--mesh", "none"]).assert().code(0);
    let e = stderr(&a);
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with("inputs: ")).collect();
    assert_eq!(
        lines,
        [format!(
            "inputs: {} (from MESHPROOF_HOME)",
            repo().display()
        )]
    );
    assert!(!stdout(&a).contains("inputs:"), "stdout stays the plan");
    // Commands that read no inputs say nothing about them.
    let a = bin().arg("verify").arg(repo().join(FIXTURE)).assert();
    assert!(!stderr(&a).contains("inputs:"), "{}", stderr(&a));
}

#[test]
fn plan_into_a_closed_pipe_exits_0_quietly() {
    // The reader is gone before the first write: every write fails with EPIPE.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("meshproof"))
        .env("MESHPROOF_HOME", repo())
        .args(["plan", "--mesh", "osm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");

    // And as a shell pipeline: `plan | head -1` prints one line, and plan's own status is 0.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} plan --mesh osm 2>err | head -1; echo \"status=${{PIPESTATUS[0]}}\"",
            assert_cmd::cargo::cargo_bin("meshproof").display()
        ))
        .env("MESHPROOF_HOME", repo())
        .current_dir(tempfile::tempdir().unwrap().keep())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("cluster "), "{text}");
    assert_eq!(lines[1], "status=0", "{text}");
}

#[test]
fn a_missing_kubeconfig_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = bin()
        .current_dir(tmp.path())
        .env(
            "MESHPROOF_PROBE_IMAGE",
            "ghcr.io/example/meshproof-probe:0.1.0",
        )
        .args(["run", "--mesh", "none", "--kubeconfig", "/nonexistent"])
        .assert()
        .code(2);
    let e = stderr(&a);
    assert!(
        e.contains("--kubeconfig") && e.contains("/nonexistent"),
        "{e}"
    );
    assert!(tree(tmp.path()).is_empty(), "{:?}", tree(tmp.path()));
}

#[test]
fn an_external_cluster_needs_a_known_context_and_a_valid_probe_image_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kc.yaml");
    // The server does not exist: any request would fail with exit 4, not 2.
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let run = |envs: &[(&str, &str)], extra: &[&str]| {
        let mut c = bin();
        c.current_dir(&work)
            .env_remove("MESHPROOF_PROBE_IMAGE")
            .args(["run", "--mesh", "none", "--kubeconfig"])
            .arg(&kc)
            .args(extra);
        for (k, v) in envs {
            c.env(k, v);
        }
        let a = c.assert().code(2);
        stderr(&a)
    };
    let e = run(&[], &[]);
    assert!(
        e.contains("MESHPROOF_PROBE_IMAGE") && e.contains("--probe-image"),
        "{e}"
    );
    let e = run(&[("MESHPROOF_PROBE_IMAGE", "Not An Image")], &[]);
    assert!(
        e.contains("MESHPROOF_PROBE_IMAGE \"Not An Image\": not an image reference"),
        "{e}"
    );
    let e = run(&[], &["--probe-image", "probe:1", "--context", "nope"]);
    assert!(
        e.contains("no context \"nope\"") && e.contains("contexts in the file: ctx"),
        "{e}"
    );
    assert!(tree(&work).is_empty(), "{:?}", tree(&work));
}

#[test]
fn out_in_a_missing_directory_is_refused_before_the_cluster_phase() {
    let tmp = tempfile::tempdir().unwrap();
    let a = bin()
        .current_dir(tmp.path())
        .args([
            "run",
            "--mesh",
            "none",
            "--out",
            "/nonexistent-dir/x.tar.zst",
        ])
        .assert()
        .code(2);
    let e = stderr(&a);
    assert!(
        e.contains("the directory /nonexistent-dir does not exist"),
        "{e}"
    );
    assert!(
        !e.contains("[preflight]") && !e.contains("[cluster]"),
        "{e}"
    );
    assert!(tree(tmp.path()).is_empty());
}

#[test]
fn a_negative_timeout_scale_is_rejected_with_what_it_must_be() {
    for v in ["-1", "0", "abc"] {
        let a = bin().args(["plan", "--timeout-scale", v]).assert().code(2);
        let e = stderr(&a);
        assert!(
            e.contains(&format!("invalid value '{v}' for '--timeout-scale")),
            "{e}"
        );
        assert!(!e.contains("unexpected argument"), "{e}");
    }
    let e = stderr(
        &bin()
            .args(["plan", "--timeout-scale", "-2"])
            .assert()
            .code(2),
    );
    assert!(e.contains("must be greater than 0"), "{e}");
    bin()
        .args(["plan", "--mesh", "none", "--timeout-scale", "2"])
        .assert()
        .code(0);
}

#[test]
fn a_directory_or_a_missing_file_as_bundle_exits_2_from_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let missing = tmp.path().join("missing.tar.zst");
    let fixture = repo().join(FIXTURE);
    for bad in [&dir, &missing] {
        let cases: Vec<Vec<std::ffi::OsString>> = vec![
            vec!["verify".into(), bad.into()],
            vec!["show".into(), bad.into()],
            vec!["show".into(), "--format".into(), "json".into(), bad.into()],
            vec!["diff".into(), bad.into(), fixture.clone().into()],
            vec!["diff".into(), fixture.clone().into(), bad.into()],
            vec![
                "attest".into(),
                bad.into(),
                "--predicate".into(),
                tmp.path().join("p.json").into(),
            ],
            vec!["rerun".into(), bad.into()],
            vec!["reproduce".into(), bad.into()],
        ];
        for args in cases {
            let a = bin().args(&args).assert().code(2);
            let e = stderr(&a);
            assert!(e.contains(&bad.display().to_string()), "{args:?}: {e}");
        }
    }
    let e = stderr(&bin().arg("show").arg(&dir).assert().code(2));
    assert!(e.contains("is a directory, not a bundle file"), "{e}");
}

#[test]
fn a_failed_unpack_leaves_no_directory_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("x");
    bin()
        .arg("bundle")
        .arg("unpack")
        .arg(tmp.path().join("missing.tar.zst"))
        .arg("-o")
        .arg(&dest)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "missing.tar.zst: no such bundle file",
        ));
    assert!(!dest.exists());
    // A file that is not a bundle: the error names it (not "(archive)"), nothing is left.
    let junk = tmp.path().join("junk.tar.zst");
    std::fs::write(&junk, b"not a zstd stream at all").unwrap();
    let a = bin()
        .arg("bundle")
        .arg("unpack")
        .arg(&junk)
        .arg("--out")
        .arg(&dest)
        .assert()
        .failure();
    let e = stderr(&a);
    assert!(e.contains(&junk.display().to_string()), "{e}");
    assert!(!e.contains("(archive)"), "{e}");
    assert!(
        !dest.exists(),
        "the retry must not fail on a leftover directory"
    );
    // The same command then works on a real bundle.
    bin()
        .arg("bundle")
        .arg("unpack")
        .arg(repo().join(FIXTURE))
        .arg("--out")
        .arg(&dest)
        .assert()
        .code(0);
    assert!(dest.join("manifest.json").is_file());
}

#[test]
fn diff_names_the_corrupt_side() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("b.tar.zst");
    std::fs::write(&junk, b"\x28\xb5\x2f\xfd garbage").unwrap();
    let a = bin()
        .arg("diff")
        .arg(repo().join(FIXTURE))
        .arg(&junk)
        .assert()
        .failure();
    let e = stderr(&a);
    assert!(e.contains(&junk.display().to_string()), "{e}");
    assert!(!e.contains("(archive)"), "{e}");
    // verify and show name it too.
    for cmd in ["verify", "show"] {
        let a = bin().arg(cmd).arg(&junk).assert().code(3);
        let all = format!("{}{}", stdout(&a), stderr(&a));
        assert!(all.contains(&junk.display().to_string()), "{cmd}: {all}");
        assert!(!all.contains("(archive)"), "{cmd}: {all}");
    }
}

#[test]
fn every_argument_of_every_command_is_described_and_every_command_has_examples() {
    let cmd = meshproof::cli::Cli::command();
    let mut missing = Vec::new();
    fn walk(c: &clap::Command, path: String, missing: &mut Vec<String>) {
        for a in c.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" || a.is_hide_set() {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
            // Shell names describe themselves.
            let values = if a.get_action().takes_values() && id != "shell" {
                a.get_possible_values()
            } else {
                Vec::new()
            };
            for v in values {
                if v.get_help().is_none() && !v.is_hide_set() {
                    missing.push(format!("{path} {id}={}", v.get_name()));
                }
            }
        }
        let subs: Vec<&clap::Command> = c.get_subcommands().collect();
        if subs.is_empty() || c.get_name() == "bundle" {
            let after = c
                .get_after_help()
                .or(c.get_after_long_help())
                .map(|s| s.to_string())
                .unwrap_or_default();
            if !after.contains("Example") {
                missing.push(format!("{path}: no examples"));
            }
        }
        for s in subs {
            if s.get_name() == "help" {
                continue;
            }
            walk(s, format!("{path} {}", s.get_name()), missing);
        }
    }
    walk(&cmd, "meshproof".into(), &mut missing);
    assert!(missing.is_empty(), "undescribed: {missing:#?}");
    // What the user reads: positionals, -o and --format are described in --help.
    let h = stdout(&bin().args(["bundle", "pack", "--help"]).assert().code(0));
    assert!(h.contains("A run directory"), "{h}");
    assert!(h.contains("-o, --out <FILE>"), "{h}");
    let h = stdout(&bin().args(["show", "--help"]).assert().code(0));
    assert!(h.contains("The bundle file"), "{h}");
    assert!(h.contains("JUnit XML"), "{h}");
    let h = stdout(&bin().args(["rerun", "--help"]).assert().code(0));
    assert!(
        h.contains("`rerun BUNDLE` and `rerun --failed BUNDLE` do the same"),
        "{h}"
    );
}

#[test]
fn file_outputs_are_out_and_output_stays_a_deprecated_alias() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    bin()
        .args(["bundle", "unpack"])
        .arg(repo().join(FIXTURE))
        .arg("--output")
        .arg(&dir)
        .assert()
        .code(0);
    bin()
        .args(["bundle", "pack"])
        .arg(&dir)
        .arg("--out")
        .arg(tmp.path().join("a.tar.zst"))
        .assert()
        .code(0);
    bin()
        .args(["bundle", "pack"])
        .arg(&dir)
        .arg("--output")
        .arg(tmp.path().join("b.tar.zst"))
        .assert()
        .code(0);
    // `run --output` is the progress format, nothing else.
    let e = stderr(
        &bin()
            .args(["run", "--output", "x.tar.zst"])
            .assert()
            .code(2),
    );
    assert!(e.contains("possible values: auto, plain, jsonl"), "{e}");
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = stdout(&bin().args(["completions", shell]).assert().code(0));
        assert!(out.contains("meshproof"), "{shell}");
        assert!(out.contains("reproduce"), "{shell}: subcommands completed");
    }
    let bash = stdout(&bin().args(["completions", "bash"]).assert().code(0));
    assert!(bash.contains("complete -F"), "{bash}");
    bin().args(["completions", "tcsh"]).assert().code(2);

    let man = stdout(&bin().arg("man").assert().code(0));
    assert!(
        man.starts_with(".ie") || man.contains(".TH meshproof 1"),
        "{man}"
    );
    assert!(
        man.contains("meshproof\\-run") || man.contains("meshproof-run"),
        "{man}"
    );
    let tmp = tempfile::tempdir().unwrap();
    bin()
        .arg("man")
        .arg("--out-dir")
        .arg(tmp.path())
        .assert()
        .code(0);
    for page in [
        "meshproof.1",
        "meshproof-run.1",
        "meshproof-verify.1",
        "meshproof-bundle-pack.1",
    ] {
        let p = tmp.path().join(page);
        assert!(p.is_file(), "{page}: {:?}", tree(tmp.path()));
        assert!(std::fs::read_to_string(p).unwrap().contains(".TH"));
    }
}
