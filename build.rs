//! Build script: the revision this binary is built from, compiled in as
//! `MESHPROOF_BUILD_REVISION` and recorded in every bundle (`lib.rs::git_revision`).
//!
//! In order: `MESHPROOF_GIT_REV` at build time (the release workflow sets it); `git rev-parse
//! HEAD` when this package's directory is the top of a git work tree (`cargo build`, `cargo
//! install --path .`, and `cargo install --git`, whose checkouts are git work trees), with
//! `-dirty` appended when a tracked file that is compiled in differs from HEAD;
//! `.cargo_vcs_info.json` of a packaged crate; otherwise `unknown`, said explicitly. The Nix build
//! has no `.git`: its wrapper passes the flake's revision at run time (`MESHPROOF_GIT_REV`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files and folders compiled into the binary: a change there makes the tree `-dirty`.
const COMPILED: [&str; 5] = ["src", "crates", "build.rs", "Cargo.toml", "Cargo.lock"];

fn main() {
    println!("cargo:rerun-if-env-changed=MESHPROOF_GIT_REV");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let revision = std::env::var("MESHPROOF_GIT_REV")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| from_git(&dir))
        .or_else(|| from_vcs_info(&dir))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=MESHPROOF_BUILD_REVISION={revision}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// HEAD of the git work tree whose top is `dir` (never a parent repository's), `-dirty` when a
/// compiled-in tracked file differs from it.
fn from_git(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let head = git(dir, &["rev-parse", "--verify", "HEAD"])?;
    // Rebuild when HEAD moves (commit, checkout, reset: all append to the HEAD reflog) or a
    // compiled-in file changes. Only existing paths: cargo reruns for a missing one every time.
    let mut watched = vec!["HEAD".to_string(), "logs/HEAD".into(), "packed-refs".into()];
    watched.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
    for p in watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &p]).map(|p| dir.join(p)) {
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    for p in COMPILED {
        println!("cargo:rerun-if-changed={p}");
    }
    // No optional locks: a build never rewrites the index under a concurrent git command.
    let mut status = vec![
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
    ];
    status.extend(COMPILED);
    let dirty = !git(dir, &status)?.is_empty();
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// `git.sha1` of the `.cargo_vcs_info.json` that `cargo package` writes (`-dirty` if it says so).
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&path).ok()?;
    println!("cargo:rerun-if-changed={}", path.display());
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let sha = v["git"]["sha1"].as_str()?;
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let dirty = v["git"]["dirty"].as_bool().unwrap_or(false);
    Some(if dirty {
        format!("{sha}-dirty")
    } else {
        sha.to_string()
    })
}
