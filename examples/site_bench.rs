//! Site benchmark: `meshproof site` over many bundles against `meshproof verify` of the same
//! bundles run back to back, both on one core; peak memory at two bundle counts.
//!
//! ```text
//! cargo run --release --example site_bench -- [--count 1000] [--dir DIR] [--keep] [--bin PATH]
//! ```
//!
//! Generates `--count` bundles by editing copies of the committed fixture run directory
//! (`tests/fixtures/runs/osm-model-conformant`: its run id, finish time and cluster selection,
//! and in every third copy one answering backend of `observations/traffic-split.json`, so those
//! re-judge to a lower capability) and packing each with `seal::pack`. Then, as child
//! processes pinned to CPU 0 with `taskset -c 0`, timed once after one untimed warm-up:
//!
//! - `meshproof verify B` for every bundle, one process after another (the baseline);
//! - `meshproof site DIR -o OUT --jobs 1` over all of them;
//! - `meshproof site` over a tenth of them, for peak memory against the bundle count;
//! - `meshproof site DIR -o OUT` with its default jobs on every core (for the record).
//!
//! Peak RSS comes from `/usr/bin/time -v` ("Maximum resident set size"). The release binary is
//! built first unless `--bin` names one. Work files go to `--dir` (default
//! `/tmp/meshproof-site-bench-<pid>`, which must not exist) and are deleted unless `--keep`.
//! See `docs/performance.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshproof::bundle::write::PackOptions;
use meshproof::seal::pack;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    count: usize,
    dir: Option<PathBuf>,
    keep: bool,
    bin: Option<PathBuf>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        count: 1000,
        dir: None,
        keep: false,
        bin: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--count" => a.count = value("--count")?.parse::<usize>()?.max(10),
            "--dir" => a.dir = Some(PathBuf::from(value("--dir")?)),
            "--bin" => a.bin = Some(PathBuf::from(value("--bin")?)),
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("usage: site_bench [--count 1000] [--dir DIR] [--keep] [--bin PATH]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)").into()),
        }
    }
    Ok(a)
}

/// The clusters the generated runs claim (matrix rows).
const CLUSTERS: [&str; 4] = [
    "kind-v0.21.0-k8s-1.24",
    "kind-v0.21.0-k8s-1.25",
    "kind-v0.22.0-k8s-1.26",
    "kind-v0.23.0-k8s-1.27",
];

fn copy_tree(from: &Path, to: &Path) -> Res<()> {
    for (rel, bytes) in meshproof::spec::catalog::read_tree(from)? {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent"))?;
        std::fs::write(p, bytes)?;
    }
    Ok(())
}

/// Bundle `i`: the fixture run with its own id, time and cluster; every third one answered by
/// the wrong backend once in traffic-split.
fn generate(repo: &Path, work: &Path, out: &Path, i: usize) -> Res<()> {
    let run = work.join(format!("run-{i}"));
    copy_tree(&repo.join("tests/fixtures/runs/osm-model-conformant"), &run)?;
    let mp = run.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mp)?)?;
    m["run"]["id"] = format!("{i:016x}").into();
    m["run"]["finished_at"] = format!(
        "2026-{:02}-{:02}T{:02}:{:02}:00Z",
        1 + i / 600 % 12,
        1 + i / 24 % 28,
        i % 24,
        i % 60
    )
    .into();
    m["run"]["selection"]["cluster"] = CLUSTERS[i % CLUSTERS.len()].into();
    std::fs::write(&mp, serde_json::to_vec_pretty(&m)?)?;
    if i % 3 == 2 {
        let op = run.join("observations/traffic-split.json");
        let text = std::fs::read_to_string(&op)?;
        let edited = text.replacen("\"backend\": \"app-c\"", "\"backend\": \"app-b\"", 1);
        std::fs::write(&op, edited)?;
    }
    pack(
        &run,
        out,
        &PackOptions {
            scoring: None,
            force: true,
            from: None,
            jobs: None,
            tool: meshproof::tool(),
        },
    )?;
    std::fs::remove_dir_all(&run)?;
    Ok(())
}

/// Wall time and peak RSS (KiB) of a command under `/usr/bin/time -v`, pinned to CPU 0 when
/// `one_core`.
fn measure(one_core: bool, argv: &[&str]) -> Res<(Duration, u64)> {
    let mut c = if one_core {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "/usr/bin/time", "-v"]);
        c
    } else {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v");
        c
    };
    c.args(argv).stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let out = c.output()?;
    let wall = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{argv:?} failed: {stderr}").into());
    }
    let rss = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .ok_or("no RSS in /usr/bin/time output")?
        .trim()
        .parse()?;
    Ok((wall, rss))
}

fn main() -> Res<()> {
    let a = parse_args()?;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("meshproof-site-bench-{}", std::process::id()))
    });
    if work.exists() {
        return Err(format!("{} exists; pass a new --dir", work.display()).into());
    }
    let bin = match &a.bin {
        Some(b) => b.clone(),
        None => {
            let ok = Command::new("cargo")
                .args(["build", "--release", "--bin", "meshproof"])
                .current_dir(&repo)
                .status()?
                .success();
            if !ok {
                return Err("cargo build --release failed".into());
            }
            repo.join("target/release/meshproof")
        }
    };
    let bin = bin.to_str().ok_or("binary path is not UTF-8")?.to_string();
    let all = work.join("bundles");
    let tenth = work.join("tenth");
    std::fs::create_dir_all(&all)?;
    std::fs::create_dir_all(&tenth)?;
    let t = Instant::now();
    for i in 0..a.count {
        let b = all.join(format!("b-{i:05}.tar.zst"));
        generate(&repo, &work, &b, i)?;
        if i % 10 == 0 {
            std::fs::copy(&b, tenth.join(b.file_name().expect("a name")))?;
        }
    }
    eprintln!("generated {} bundles in {:.1?}", a.count, t.elapsed());
    let bytes: u64 = std::fs::read_dir(&all)?
        .map(|e| e.map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)))
        .sum::<Result<u64, _>>()?;

    let verify_all = format!(
        "for f in {}/*.tar.zst; do {bin} verify \"$f\" >/dev/null || exit 1; done",
        all.display()
    );
    let site_out = work.join("site");
    let all_s = all.to_str().ok_or("path")?.to_string();
    let out_s = site_out.to_str().ok_or("path")?.to_string();
    let tenth_s = tenth.to_str().ok_or("path")?.to_string();
    let tenth_out = work.join("site-tenth");
    let tenth_out_s = tenth_out.to_str().ok_or("path")?.to_string();

    // Warm-up (page cache, binary), then one timed run each.
    measure(true, &["sh", "-c", &verify_all])?;
    let (verify_wall, verify_rss) = measure(true, &["sh", "-c", &verify_all])?;
    measure(true, &[&bin, "site", &all_s, "-o", &out_s, "--jobs", "1"])?;
    let (site_wall, site_rss) =
        measure(true, &[&bin, "site", &all_s, "-o", &out_s, "--jobs", "1"])?;
    measure(
        true,
        &[&bin, "site", &tenth_s, "-o", &tenth_out_s, "--jobs", "1"],
    )?;
    let (tenth_wall, tenth_rss) = measure(
        true,
        &[&bin, "site", &tenth_s, "-o", &tenth_out_s, "--jobs", "1"],
    )?;
    let (par_wall, par_rss) = measure(false, &[&bin, "site", &all_s, "-o", &out_s])?;
    let files = meshproof::spec::catalog::read_tree(&site_out)?;
    let site_bytes: usize = files.values().map(Vec::len).sum();

    let ratio = site_wall.as_secs_f64() / verify_wall.as_secs_f64();
    println!("| what | wall | peak RSS |");
    println!("|---|---:|---:|");
    println!(
        "| `meshproof verify` × {} back to back, CPU 0 | {:.2} s | {:.1} MiB (largest process) |",
        a.count,
        verify_wall.as_secs_f64(),
        verify_rss as f64 / 1024.0
    );
    println!(
        "| `meshproof site` of {} bundles, `--jobs 1`, CPU 0 | {:.2} s | {:.1} MiB |",
        a.count,
        site_wall.as_secs_f64(),
        site_rss as f64 / 1024.0
    );
    println!(
        "| `meshproof site` of {} bundles, `--jobs 1`, CPU 0 | {:.2} s | {:.1} MiB |",
        a.count.div_ceil(10),
        tenth_wall.as_secs_f64(),
        tenth_rss as f64 / 1024.0
    );
    println!(
        "| `meshproof site` of {} bundles, default jobs, every core | {:.2} s | {:.1} MiB |",
        a.count,
        par_wall.as_secs_f64(),
        par_rss as f64 / 1024.0
    );
    println!();
    println!(
        "site / verify (one core): {ratio:.2}× (target ≤ 1.5×); bundles {bytes} bytes; site {} files, {site_bytes} bytes",
        files.len()
    );
    if !a.keep {
        std::fs::remove_dir_all(&work)?;
    }
    Ok(())
}
