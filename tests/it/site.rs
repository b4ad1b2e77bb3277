//! `meshproof site`: pages (insta snapshots), determinism over shuffled inputs, rejected inputs,
//! hostile text escaped, and output directories that must not be overwritten.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{bin, write_run_dir, MeshModel};

/// The revision recorded in the bundles the tests pack, so their bytes do not depend on the
/// commit under test.
const REVISION: &str = "unknown";

/// The committed fixture bundle (OSM model, every case Full).
fn fixture() -> PathBuf {
    common::repo().join("tests/fixtures/bundles/osm-model-conformant.tar.zst")
}

/// Pack a run directory into `out` with a fixed revision.
fn pack(run: &Path, out: &Path) {
    bin()
        .env(meshproof::env::MESHPROOF_GIT_REV, REVISION)
        .args(["bundle", "pack"])
        .arg(run)
        .arg("-o")
        .arg(out)
        .assert()
        .code(0);
}

/// Rewrite `manifest.json` of a run directory.
fn edit_manifest(run: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = run.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Bundles the tests share, built once: a later OSM run of a model that ignores HTTPRouteGroups
/// (a regression of traffic-spec against the fixture), the no-mesh control, and a bundle whose
/// log, cluster name and file name are hostile.
struct Bundles {
    _dir: tempfile::TempDir,
    regressed: PathBuf,
    control: PathBuf,
    hostile: PathBuf,
}

const HOSTILE_LOG: &str =
    "start\n<script>alert('log')</script>\n</pre><img src=x onerror=alert(1)>\n\x1b[31mred\n";
/// Put where a bundle records a transport error's detail (the bundle page shows it).
const HOSTILE_DETAIL: &str = "reset\"><script>alert('detail')</script>";
const HOSTILE_FILE: &str = "<b>x<i>'$(id)'.tar.zst";

fn bundles() -> &'static Bundles {
    static B: OnceLock<Bundles> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = |name: &str, model: MeshModel, mesh: &str| {
            let r = dir.path().join(name);
            write_run_dir(&r, model, mesh);
            r
        };
        let r = run("regressed", MeshModel::IgnoresHttpRouteGroup, "osm@1.2.4");
        edit_manifest(&r, |m| {
            m["run"]["id"] = "1111111111111111".into();
            m["run"]["finished_at"] = "2026-11-27T10:12:00Z".into();
        });
        let regressed = dir.path().join("osm-regressed.tar.zst");
        pack(&r, &regressed);
        let r = run("control", MeshModel::NoMesh, "none");
        edit_manifest(&r, |m| m["run"]["id"] = "2222222222222222".into());
        let control = dir.path().join("control.tar.zst");
        pack(&r, &control);
        let r = run("hostile", MeshModel::Conformant, "osm@1.2.4");
        std::fs::write(r.join("logs/app-a/probe.log"), HOSTILE_LOG).unwrap();
        edit_manifest(&r, |m| m["run"]["id"] = "3333333333333333".into());
        let obs = r.join("observations/traffic-access.json");
        let mut o: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&obs).unwrap()).unwrap();
        let records = o["steps"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .flat_map(|s| s.get_mut("attempts").and_then(|a| a.as_array_mut()))
            .flatten()
            .flat_map(|a| a.get_mut("traffic").and_then(|t| t.as_array_mut()))
            .flatten()
            .flat_map(|t| t.get_mut("records").and_then(|r| r.as_array_mut()))
            .flatten();
        let mut n = 0;
        for rec in records.filter(|r| r.get("error").is_some_and(|e| !e.is_null())) {
            rec["error_detail"] = HOSTILE_DETAIL.into();
            n += 1;
        }
        assert!(n > 0, "no failed call to put the detail on");
        std::fs::write(&obs, serde_json::to_vec_pretty(&o).unwrap()).unwrap();
        let hostile = dir.path().join(HOSTILE_FILE);
        pack(&r, &hostile);
        Bundles {
            _dir: dir,
            regressed,
            control,
            hostile,
        }
    })
}

/// Copy bundles into a fresh directory (as an artifact download would lay them out).
fn lay_out(into: &Path, files: &[&Path]) {
    std::fs::create_dir_all(into).unwrap();
    for f in files {
        std::fs::copy(f, into.join(f.file_name().unwrap())).unwrap();
    }
}

/// Every file of a directory: relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    meshproof::spec::catalog::read_tree(dir)
        .unwrap()
        .into_iter()
        .collect()
}

fn site(args: &[&Path], out: &Path) -> assert_cmd::assert::Assert {
    let mut c = bin();
    c.arg("site");
    for a in args {
        c.arg(a);
    }
    c.arg("-o").arg(out).assert()
}

/// One tag per line, so snapshots of pages diff readably.
fn pretty(html: &[u8]) -> String {
    String::from_utf8(html.to_vec())
        .unwrap()
        .replace("><", ">\n<")
}

fn page(out: &Path, rel: &str) -> String {
    String::from_utf8(std::fs::read(out.join(rel)).unwrap()).unwrap()
}

#[test]
fn pages_of_three_bundles_match_their_snapshots() {
    let b = bundles();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("site");
    site(&[&fixture(), &b.regressed, &b.control], &out)
        .code(0)
        .stdout(predicates::str::contains(
            "3 verified bundle(s), 0 rejected input(s)",
        ));
    let files = tree(&out);
    let fixture_sha = meshproof::sha256_file(&fixture()).unwrap();
    let bundle_page = files[&format!("bundles/{}.html", &fixture_sha[..16])].clone();
    let history = files
        .keys()
        .find(|k| k.starts_with("history/osm-"))
        .unwrap();
    let compare = files.keys().find(|k| k.starts_with("compare/")).unwrap();
    // Digests of bundles the test packs follow the repository's suite and workload files, so
    // they are redacted; everything else is compared byte for byte.
    let mut settings = insta::Settings::clone_current();
    settings.add_filter("[0-9a-f]{64}", "[sha256]");
    settings.add_filter("[0-9a-f]{16}", "[id]");
    settings.bind(|| {
        let names: Vec<&String> = files.keys().collect();
        insta::assert_debug_snapshot!("site_files", names);
        insta::assert_snapshot!("matrix", pretty(&files["index.html"]));
        insta::assert_snapshot!(
            "index_json",
            String::from_utf8(files["index.json"].clone()).unwrap()
        );
        insta::assert_snapshot!("history_osm", pretty(&files[history]));
        insta::assert_snapshot!("compare", pretty(&files[compare]));
        insta::assert_snapshot!("bundle_page", pretty(&bundle_page));
    });
}

#[test]
fn the_matrix_shows_the_newest_bundle_and_history_marks_the_regression() {
    let b = bundles();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("site");
    site(&[&fixture(), &b.regressed], &out).code(0);
    let index = page(&out, "index.html");
    let regressed_sha = meshproof::sha256_file(&b.regressed).unwrap();
    // One row for OSM 1.2.4 on its cluster pin, showing the newer (regressed) bundle.
    assert_eq!(index.matches("<tr data-mesh=\"osm\"").count(), 1);
    assert!(index.contains(&format!("bundles/{}.html#case-", &regressed_sha[..16])));
    assert!(index.contains("2 bundles, newest shown"));
    assert!(index.contains("≠ expected Full"), "{index}");
    let history = std::fs::read_dir(out.join("history"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap() != "index.html")
        .unwrap();
    let history = std::fs::read_to_string(history).unwrap();
    assert!(history.contains("▼ regression from Full"), "{history}");
    assert!(history.contains("regression-cell"));
}

#[test]
fn the_same_bundles_in_any_order_and_place_give_the_same_bytes() {
    let b = bundles();
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture();
    let all: [&Path; 4] = [&fx, &b.regressed, &b.control, &b.hostile];
    let one = tmp.path().join("one");
    lay_out(&one, &all);
    let two = tmp.path().join("two/nested");
    let mut shuffled = all;
    shuffled.reverse();
    shuffled.swap(0, 2);
    for (i, f) in shuffled.iter().enumerate() {
        let d = two.join(format!("run-{i}"));
        lay_out(&d, &[f]);
    }
    site(&[&one], &tmp.path().join("a")).code(0);
    // Files named one by one in another order, and a directory, give the same site.
    let files: Vec<PathBuf> = shuffled
        .iter()
        .enumerate()
        .map(|(i, f)| two.join(format!("run-{i}")).join(f.file_name().unwrap()))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    site(&refs, &tmp.path().join("b")).code(0);
    site(&[&two], &tmp.path().join("c")).code(0);
    let a = tree(&tmp.path().join("a"));
    assert!(a.len() > 10, "{:?}", a.keys());
    assert_eq!(a, tree(&tmp.path().join("b")));
    assert_eq!(a, tree(&tmp.path().join("c")));
    // Rebuilding over the previous site gives the same bytes again.
    site(&[&one], &tmp.path().join("a")).code(0);
    assert_eq!(a, tree(&tmp.path().join("a")));
}

#[test]
fn rejected_inputs_are_listed_with_reasons_and_never_shown_as_results() {
    let b = bundles();
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    lay_out(&inputs, &[&fixture(), &b.control]);
    // A duplicate of the fixture under another name.
    std::fs::copy(fixture(), inputs.join("copy-of-fixture.tar.zst")).unwrap();
    // Not a bundle at all.
    std::fs::write(inputs.join("notes.tar.zst"), "just text\n").unwrap();
    // A bundle whose verdicts were tampered with (re-packed by hand, checksums updated).
    let tampered = inputs.join("tampered.tar.zst");
    tamper_verdicts(&b.regressed, &tampered);
    // Truncated.
    let bytes = std::fs::read(&b.regressed).unwrap();
    std::fs::write(inputs.join("truncated.tar.zst"), &bytes[..bytes.len() / 2]).unwrap();

    let out = tmp.path().join("site");
    let assert = site(&[&inputs], &out).code(3);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("4 input(s) rejected"), "{stderr}");
    for (name, why) in [
        (
            "osm-model-conformant.tar.zst",
            "duplicate: the same bytes as copy-of-fixture.tar.zst",
        ),
        ("notes.tar.zst", "verify: archive safety"),
        ("tampered.tar.zst", "verify: verdicts"),
        ("truncated.tar.zst", "verify: archive safety"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("rejected {name}: {why}"))),
            "{name}: {stdout}"
        );
    }
    let index = page(&out, "index.html");
    assert!(index.contains("tampered.tar.zst"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(json["bundles"].as_array().unwrap().len(), 2);
    assert_eq!(json["rejected"].as_array().unwrap().len(), 4);
    // No page of a rejected bundle, and none of its results in the matrix.
    let tampered_sha = meshproof::sha256_file(&tampered).unwrap();
    assert!(!out
        .join(format!("bundles/{}.html", &tampered_sha[..16]))
        .exists());
    assert!(!out
        .join(format!("bundles/{}", &tampered_sha[..16]))
        .exists());
    assert_eq!(index.matches("<tr data-mesh=").count(), 2);
    // --allow-rejected: the same site, exit 0.
    let again = tmp.path().join("again");
    bin()
        .arg("site")
        .arg(&inputs)
        .arg("-o")
        .arg(&again)
        .arg("--allow-rejected")
        .assert()
        .code(0);
    assert_eq!(tree(&out), tree(&again));
}

/// Unpack `bundle`, change one verdict and re-pack it with matching checksums: it must fail
/// verification (the verdicts are not what the observations give).
fn tamper_verdicts(bundle: &Path, out: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    meshproof::bundle::read::unpack(bundle, &dir, &Default::default()).unwrap();
    let p = dir.join("verdicts.json");
    let text = std::fs::read_to_string(&p).unwrap();
    let changed = text.replacen("\"capability\": \"Partial\"", "\"capability\": \"Full\"", 1);
    let changed = if changed == text {
        text.replacen("\"capability\": \"None\"", "\"capability\": \"Full\"", 1)
    } else {
        changed
    };
    assert_ne!(changed, text, "a verdict to tamper with");
    std::fs::write(&p, changed).unwrap();
    let mut sums = String::new();
    for (rel, bytes) in meshproof::spec::catalog::read_tree(&dir).unwrap() {
        if rel != "SHA256SUMS" {
            sums.push_str(&format!("{}  {rel}\n", meshproof::sha256_hex(&bytes)));
        }
    }
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    let file = std::fs::File::create(out).unwrap();
    let mut enc = zstd::Encoder::new(file, 3).unwrap();
    enc.include_checksum(true).unwrap();
    let mut tar = tar::Builder::new(enc);
    for (rel, bytes) in meshproof::spec::catalog::read_tree(&dir).unwrap() {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, rel, bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn hostile_text_from_a_bundle_is_escaped_everywhere() {
    let b = bundles();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("site");
    site(&[&b.hostile], &out).code(0);
    let sha = meshproof::sha256_file(&b.hostile).unwrap();
    let id = &sha[..16];
    let bundle_page = page(&out, &format!("bundles/{id}.html"));
    let log_page = page(&out, &format!("bundles/{id}/log-0.html"));
    // The log renders as text: the markup is escaped, the control character is not passed on.
    assert!(log_page.contains("&lt;script&gt;alert('log')&lt;/script&gt;"));
    assert!(log_page.contains("&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!log_page.contains('\x1b'));
    // The recorded error detail and the file name are escaped on every page.
    for (name, text) in tree(&out) {
        let text = String::from_utf8_lossy(&text).into_owned();
        if !name.ends_with(".html") {
            continue;
        }
        assert!(!text.contains("<script>alert"), "{name}");
        assert!(!text.contains("<img src=x"), "{name}");
        assert!(!text.contains("<b>x"), "{name}");
        // The only script element is the site's own.
        assert_eq!(text.matches("<script").count(), 1, "{name}");
    }
    assert!(
        bundle_page.contains("&gt;&lt;script&gt;alert('detail')&lt;/script&gt;"),
        "{bundle_page}"
    );
    assert!(bundle_page.contains("&lt;b&gt;x&lt;i&gt;'$(id)'.tar.zst"));
    // The reproduce command quotes the file name for the shell.
    assert!(
        bundle_page.contains("meshproof verify '&lt;b&gt;x&lt;i&gt;'\\''$(id)'\\''.tar.zst'"),
        "{bundle_page}"
    );
    // index.json carries the strings as JSON strings.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(json["bundles"][0]["file"], HOSTILE_FILE);
}

#[test]
fn an_output_that_is_not_a_site_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("NOTES.txt"), "mine\n").unwrap();
    site(&[&fixture()], &out)
        .code(2)
        .stderr(predicates::str::contains("is not a meshproof site"));
    assert_eq!(tree(&out).len(), 1);
    assert_eq!(std::fs::read(out.join("NOTES.txt")).unwrap(), b"mine\n");
    // A file is refused too; an empty directory is used.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    site(&[&fixture()], &file).code(2);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    site(&[&fixture()], &empty).code(0);
    assert!(empty.join("index.html").is_file());
    // No staging directory is left behind.
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("staging"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn missing_inputs_and_empty_directories_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    site(&[&tmp.path().join("nope.tar.zst")], &tmp.path().join("s"))
        .code(2)
        .stderr(predicates::str::contains("nope.tar.zst"));
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    site(&[&empty], &tmp.path().join("s"))
        .code(2)
        .stderr(predicates::str::contains("no bundle"));
    assert!(!tmp.path().join("s").exists());
}

/// Debian's `chromium` (or `MESHPROOF_CHROMIUM`), or why the browser tests cannot run.
fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(meshproof::env::MESHPROOF_CHROMIUM) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err("no chromium on PATH (apt-get install chromium; .ci/run does)".into())
}

/// Headless Chromium driven through its command line: `--dump-dom` prints the DOM after the
/// page's scripts ran, `--screenshot` saves a PNG, and `--enable-logging=stderr` prints every
/// console message (errors, CSP violations, uncaught exceptions) as an `INFO:CONSOLE` line.
struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (after printing why) when there is no browser and CI does not require one.
    fn new(test: &str) -> Option<Browser> {
        match chromium() {
            Ok(bin) => Some(Browser {
                bin,
                profile: tempfile::tempdir().unwrap(),
            }),
            Err(why) if meshproof::env::require_browser() => {
                panic!("{test}: {why}, and MESHPROOF_REQUIRE_BROWSER=1")
            }
            Err(why) => {
                common::gate::skip(test, &why);
                None
            }
        }
    }

    fn run(&self, args: &[&str], url: &str) -> (String, String) {
        let out = std::process::Command::new(&self.bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--allow-file-access-from-files",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(args)
            .arg(url)
            .output()
            .expect("chromium starts");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "chromium {url}: {stderr}");
        (stdout, stderr)
    }

    /// The DOM after the page loaded and ran its script; fails on any console message.
    fn dom(&self, url: &str) -> String {
        let (dom, stderr) = self.run(&["--dump-dom"], url);
        let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(console.is_empty(), "{url}: console messages: {console:#?}");
        assert!(dom.contains("</html>"), "{url}: {dom}");
        dom
    }

    fn screenshot(&self, url: &str, png: &Path) {
        self.run(&[&format!("--screenshot={}", png.display())], url);
        let bytes = std::fs::read(png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", png.display());
        assert!(
            bytes.len() > 10_000,
            "{}: {} bytes",
            png.display(),
            bytes.len()
        );
    }
}

fn url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// The texts of the badges in the matrix row of `mesh` that mentions `also`, in column order.
fn row_cells(dom: &str, mesh: &str, also: &str) -> Vec<String> {
    let row = dom
        .split("<tr data-mesh=")
        .skip(1)
        .map(|r| &r[..r.find("</tr>").unwrap()])
        .find(|r| r.starts_with(&format!("\"{mesh}\"")) && r.contains(also))
        .unwrap_or_else(|| panic!("no row {mesh} with {also}"));
    let re = regex::Regex::new(
        r#"<td class="cell[^"]*"><a [^>]*><span class="badge [^"]+">([^<]+)</span>"#,
    )
    .unwrap();
    re.captures_iter(row).map(|c| c[1].to_string()).collect()
}

/// The target of the first link whose `href` starts with `prefix`.
fn first_href<'a>(dom: &'a str, prefix: &str) -> &'a str {
    let needle = format!("href=\"{prefix}");
    let i = dom
        .find(&needle)
        .unwrap_or_else(|| panic!("no link to {prefix}*"));
    let rest = &dom[i + 6..];
    &rest[..rest.find('"').unwrap()]
}

#[test]
fn in_a_real_browser_the_matrix_filters_and_links_to_bundle_and_log_pages() {
    let Some(browser) =
        Browser::new("in_a_real_browser_the_matrix_filters_and_links_to_bundle_and_log_pages")
    else {
        return;
    };
    let b = bundles();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("site");
    site(&[&fixture(), &b.regressed, &b.control, &b.hostile], &out).code(0);

    // The matrix: its cells as the browser shows them, the script ran (row count) without a
    // console message (no CSP violation, no exception).
    let index = out.join("index.html");
    let dom = browser.dom(&url(&index));
    assert!(
        dom.contains("id=\"shown\">2 of 2 rows shown</span>"),
        "{dom}"
    );
    // The control run's harness smoke (column `smoke`, first by name) passed; no mesh row plans it.
    assert_eq!(
        row_cells(&dom, "none", "kind-v0.32.0"),
        ["Full", "None", "None", "None", "None"]
    );
    let osm = row_cells(&dom, "osm", "kind-v0.21.0-k8s-1.24");
    assert_eq!(
        osm.len(),
        4,
        "the smoke is not planned under a mesh: no badge"
    );
    // The regressed run is the newest of its row.
    assert!(osm.iter().any(|c| c != "Full"), "{osm:?}");
    browser.screenshot(&url(&index), &tmp.path().join("matrix.png"));

    // A filter in the URL fragment hides the other rows.
    let dom = browser.dom(&format!("{}#mesh=none", url(&index)));
    assert!(dom.contains("1 of 2 rows shown"), "{dom}");
    assert_eq!(dom.matches("class=\"hidden\"").count(), 1, "{dom}");
    let dom = browser.dom(&format!("{}#status=mismatch", url(&index)));
    assert!(dom.contains("of 2 rows shown"), "{dom}");

    // Follow the first cell of the OSM row to its bundle page.
    let dom = browser.dom(&url(&index));
    let row = &dom[dom.find("kind-v0.21.0-k8s-1.24").unwrap()..];
    let cell = &row[row.find("class=\"cell").unwrap()..];
    let href = first_href(cell, "bundles/");
    let (file, anchor) = href.split_once('#').unwrap();
    assert_eq!(anchor, "case-0");
    let bundle_page = out.join(file);
    let dom = browser.dom(&format!("{}#{anchor}", url(&bundle_page)));
    assert!(
        dom.contains("<h1>Open Service Mesh 1.2.4 on kind-v0.21.0-k8s-1.24"),
        "{dom}"
    );
    assert!(dom.contains("id=\"case-0\""));
    assert!(dom.contains("<svg"), "a chart");
    browser.screenshot(&url(&bundle_page), &tmp.path().join("bundle.png"));

    // And from there to a log page, rendered as text.
    let log = first_href(&dom[dom.find("<h2>Logs</h2>").unwrap()..], "");
    let log_page = bundle_page.parent().unwrap().join(log);
    let dom = browser.dom(&url(&log_page));
    assert!(
        dom.contains("<pre class=\"log\">listening on 0.0.0.0:9091\n</pre>"),
        "{dom}"
    );

    // The hostile bundle's log page: its markup is text, no script of it ran.
    let sha = meshproof::sha256_file(&b.hostile).unwrap();
    let hostile_log = out.join(format!("bundles/{}/log-0.html", &sha[..16]));
    let dom = browser.dom(&url(&hostile_log));
    assert!(
        dom.contains("&lt;script&gt;alert('log')&lt;/script&gt;"),
        "{dom}"
    );
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    browser.screenshot(&url(&hostile_log), &tmp.path().join("hostile-log.png"));
}

#[test]
fn with_keys_each_attestation_is_checked_and_a_bad_one_rejects_its_bundle() {
    let b = bundles();
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    lay_out(&inputs, &[&fixture(), &b.control, &b.regressed]);
    let key = tmp.path().join("maker.key");
    bin().arg("keygen").arg("-o").arg(&key).assert().code(0);
    let other = tmp.path().join("other.key");
    bin().arg("keygen").arg("-o").arg(&other).assert().code(0);
    let attest = |bundle: &str, key: &Path| {
        bin()
            .arg("attest")
            .arg(inputs.join(bundle))
            .arg("--key")
            .arg(key)
            .arg("--require")
            .arg("none")
            .assert()
            .code(0);
    };
    // The fixture signed by the trusted key, the control by a key nobody trusts, the regressed
    // bundle not at all.
    attest("osm-model-conformant.tar.zst", &key);
    attest("control.tar.zst", &other);
    let out = tmp.path().join("site");
    let a = bin()
        .arg("site")
        .arg(&inputs)
        .arg("-o")
        .arg(&out)
        .arg("--key")
        .arg(tmp.path().join("maker.pub"))
        .assert()
        .code(3);
    let stdout = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("rejected control.tar.zst: verify --attestation"),
        "{stdout}"
    );
    let fixture_sha = meshproof::sha256_file(&fixture()).unwrap();
    let signed = page(&out, &format!("bundles/{}.html", &fixture_sha[..16]));
    assert!(
        signed.contains("signed: verified with maker.pub (keyid"),
        "{signed}"
    );
    let regressed_sha = meshproof::sha256_file(&b.regressed).unwrap();
    let unsigned = page(&out, &format!("bundles/{}.html", &regressed_sha[..16]));
    assert!(unsigned.contains("unsigned: no attestation beside the bundle"));
    // --require-signed also rejects the unsigned one.
    let strict = tmp.path().join("strict");
    let a = bin()
        .arg("site")
        .arg(&inputs)
        .arg("-o")
        .arg(&strict)
        .arg("--key")
        .arg(tmp.path().join("maker.pub"))
        .arg("--require-signed")
        .assert()
        .code(3);
    let stdout = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("rejected osm-regressed.tar.zst: unsigned: no attestation osm-regressed.tar.zst.intoto.json beside it"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(strict.join("index.json")).unwrap()).unwrap();
    assert_eq!(json["bundles"].as_array().unwrap().len(), 1);
    assert_eq!(json["bundles"][0]["signature"]["state"], "verified");
}
