//! `meshproof site`: a static site (matrix, history, bundle, compare and log pages, `index.json`)
//! built from bundles that are verified, with `verify`'s own code, while it is built.
//!
//! Flow: inputs → hashed and de-duplicated → each bundle verified, read and its pages written, in
//! parallel (a bundle that fails is a rejection, never a result) → matrix, history and compare
//! pages and `index.json` from the small summaries kept → the staged directory moved into place.
//! Output bytes depend only on the bundles' bytes and names: everything is sorted, and no time
//! but the ones bundles record appears.

pub mod args;
mod inputs;
mod load;
pub mod model;
mod output;
mod render;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use args::SiteArgs;
use model::{Entry, Rejected};

use crate::provenance::TrustedKey;

/// Version of `index.json` (bumped on incompatible change).
pub const INDEX_FORMAT: u32 = 1;

/// Errors of the site layer (a bundle that fails is not one: it is listed as rejected).
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// Bad input or an output that must not be overwritten (exit 2).
    #[error("{path}: {reason}")]
    BadInput { path: String, reason: String },
    /// Reading or writing failed (exit 4).
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl SiteError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        SiteError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct SiteOptions {
    /// Trusted keys: with any, each bundle's `BUNDLE.intoto.json` is checked.
    pub keys: Vec<TrustedKey>,
    pub require_signed: bool,
    /// Bundles verified at once (at least 1).
    pub jobs: usize,
}

/// What was built.
#[derive(Debug)]
pub struct SiteReport {
    pub bundles: usize,
    pub rejected: Vec<Rejected>,
    pub files: usize,
}

/// Build the site from bundle files and directories into `out`.
pub fn build(inputs: &[PathBuf], out: &Path, opts: &SiteOptions) -> Result<SiteReport, SiteError> {
    output::check_target(out)?;
    let files = inputs::expand(inputs)?;
    if files.is_empty() {
        return Err(SiteError::BadInput {
            path: inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: format!("no bundle (*{}) found", inputs::BUNDLE_SUFFIX),
        });
    }
    let hashed = par_map(&files, opts.jobs, |p| {
        crate::sha256_file(p).map_err(|e| format!("cannot read: {e}"))
    });
    let (unique, mut rejected) = inputs::dedupe(files.into_iter().zip(hashed).collect());
    let staging = output::Staging::new(out)?;
    let ctx = load::Context {
        staging: &staging.dir,
        keys: &opts.keys,
        require_signed: opts.require_signed,
    };
    // Each summary is copied on this thread as it arrives: the workers' allocator arenas then hold
    // only what one bundle needs at a time, so memory beyond the index does not grow with the
    // number of bundles.
    let loaded = par_map_then(
        &unique,
        opts.jobs,
        |u| load::load(u, &ctx),
        |r| r.map(|e| copied_here(&e)),
    );
    let mut entries: Vec<Entry> = Vec::new();
    for (u, r) in unique.iter().zip(loaded) {
        match r {
            Ok(e) => entries.push(e),
            Err(reason) => rejected.push(Rejected {
                name: u.name.clone(),
                sha256: Some(u.sha256.clone()),
                reason,
            }),
        }
    }
    rejected.sort();
    entries.sort_by(|a, b| {
        (
            &a.mesh,
            &a.mesh_version,
            &a.cluster,
            &a.finished_at,
            &a.sha256,
        )
            .cmp(&(
                &b.mesh,
                &b.mesh_version,
                &b.cluster,
                &b.finished_at,
                &b.sha256,
            ))
    });
    let mut files = count_files(&staging.dir);
    files += write_pages(&staging, &entries, &rejected)?;
    staging.finish()?;
    Ok(SiteReport {
        bundles: entries.len(),
        rejected,
        files: files + 1,
    })
}

/// Pages made from all bundles: matrix, histories, compares, `index.json` and the assets.
fn write_pages(
    staging: &output::Staging,
    entries: &[Entry],
    rejected: &[Rejected],
) -> Result<usize, SiteError> {
    let mut n = 0;
    let mut put = |rel: &str, bytes: &[u8]| {
        n += 1;
        staging.write(rel, bytes)
    };
    put(render::CSS_FILE, render::CSS.as_bytes())?;
    put(render::JS_FILE, render::JS.as_bytes())?;
    // GitHub Pages serves the files as they are (no Jekyll processing).
    put(".nojekyll", b"")?;
    put(
        "index.html",
        render::matrix::page(entries, rejected).as_bytes(),
    )?;
    let histories = model::histories(entries);
    put(
        "history/index.html",
        render::history::index(&histories).as_bytes(),
    )?;
    for h in &histories {
        put(
            &render::history::page_name(h),
            render::history::page(h).as_bytes(),
        )?;
        for w in h.entries.windows(2) {
            put(
                &model::compare_page(w[0], w[1]),
                render::compare::page(w[0], w[1]).as_bytes(),
            )?;
        }
    }
    staging.write_json("index.json", &index(entries, rejected))?;
    Ok(n + 1)
}

/// One bundle in `index.json`: its summary, its page, and that it verified.
#[derive(serde::Serialize)]
struct IndexEntry<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    page: String,
    verified: bool,
}

/// `index.json`, serialized straight from the summaries (no intermediate JSON tree).
#[derive(serde::Serialize)]
struct Index<'a> {
    generator: &'static str,
    format: u32,
    meshproof: &'static str,
    bundles: Vec<IndexEntry<'a>>,
    rejected: &'a [Rejected],
}

/// The machine-readable index: one entry per verified bundle, and the rejected inputs.
fn index<'a>(entries: &'a [Entry], rejected: &'a [Rejected]) -> Index<'a> {
    Index {
        generator: "meshproof site",
        format: INDEX_FORMAT,
        meshproof: crate::TOOL_VERSION,
        bundles: entries
            .iter()
            .map(|entry| IndexEntry {
                entry,
                page: entry.page(),
                verified: true,
            })
            .collect(),
        rejected,
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        count_files(&p)
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A copy of an entry allocated by the calling thread (the original, made on a worker, is
/// dropped by the caller).
fn copied_here(e: &Entry) -> Entry {
    e.clone()
}

/// `f` over `items` on `jobs` threads; results in the order of `items`.
fn par_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    par_map_then(items, jobs, f, |r| r)
}

/// `f` over `items` on `jobs` threads, then `then` on the calling thread as each result arrives;
/// results in the order of `items`.
fn par_map_then<T: Sync, R: Send, S>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
    mut then: impl FnMut(R) -> S,
) -> Vec<S> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<S>> = (0..items.len()).map(|_| None).collect();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            let tx = tx.clone();
            let (next, f) = (&next, &f);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                if tx.send((i, f(&items[i]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            results[i] = Some(then(r));
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every item mapped"))
        .collect()
}
