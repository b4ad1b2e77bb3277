#!/usr/bin/env bash
# Which meshproof the GitHub Action (action.yml) builds, and the reference its bundles record.
#
#   derive-ref.sh ACTION_PATH [VERSION]
#
# ACTION_PATH is $GITHUB_ACTION_PATH; VERSION is the action's `meshproof-version` input (a tag,
# branch or commit of the action's repository; empty: the revision the action was used at).
# Prints, for $GITHUB_OUTPUT:
#   build=<flake reference>       what the action builds (`nix build "<build>#default"`)
#   flake-ref=<github:o/r/<rev>>  what bundles record (MESHPROOF_FLAKE_REF); empty when unknown
#   rev=<40-hex commit>           what bundles record (MESHPROOF_GIT_REV); empty when unknown
# Problems go to stderr as workflow commands; a VERSION that cannot be resolved exits 2.
#
# Why the path: inside a composite action `github.action_repository` and `github.action_ref` are
# empty (actions/runner issue 2525; GitHub's docs do not promise them for composite actions,
# github/docs issue 25336). The runner unpacks a repository action into
# <runner>/_actions/<owner>/<repo>/<ref> (actions/runner, src/Runner.Worker/ActionManager.cs) and
# points GITHUB_ACTION_PATH there; a local action (`uses: ./`) is a folder of the workspace.
# A `path:` flake has no `self.rev`, so the revision is derived here rather than left to Nix
# (which would record `.../dirty`): a tag or branch is resolved to its commit, and that commit is
# what gets built (`github:<owner>/<repo>/<commit>`), so the recorded reference is the build.
set -euo pipefail

path="${1:?usage: derive-ref.sh ACTION_PATH [VERSION]}"
version="${2:-}"
NIX="${NIX:-nix}"

fail() { printf '::error::%s\n' "$*" >&2; exit 2; }
warn() { printf '::warning::%s\n' "$*" >&2; }
is_rev() { [[ "$1" =~ ^[0-9a-f]{40}$ ]]; }

# The commit a tag, branch or commit of github:<owner>/<repo> names, as Nix resolves it.
resolve() {
  local want="$1" rev
  if is_rev "$want"; then
    printf '%s' "$want"
    return
  fi
  rev="$("$NIX" eval --raw --impure --expr "(builtins.fetchTree \"github:${owner}/${repo}/${want}\").rev")" \
    || fail "cannot resolve github:${owner}/${repo}/${want} to a commit"
  is_rev "$rev" || fail "github:${owner}/${repo}/${want} resolved to '${rev}', not a commit"
  printf '%s' "$rev"
}

owner="" repo="" ref=""
case "$path" in
  */_actions/*/*/*)
    rest="${path#*/_actions/}"
    owner="${rest%%/*}"
    rest="${rest#*/}"
    repo="${rest%%/*}"
    ref="${rest#*/}"
    ;;
  *)
    # A local action: the repository it was checked out from (actions/checkout sets origin).
    origin="$(git -C "$path" remote get-url origin 2>/dev/null || true)"
    if [[ "$origin" =~ github\.com[:/]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$ ]]; then
      owner="${BASH_REMATCH[1]}"
      repo="${BASH_REMATCH[2]%.git}"
    fi
    ;;
esac

if [ -n "$ref" ] || [ -n "$version" ]; then
  [ -n "$owner" ] || fail "meshproof-version '${version}' is set, but the action's repository is unknown (${path} is not under _actions/ and has no github.com origin)"
  rev="$(resolve "${version:-$ref}")"
  build="github:${owner}/${repo}/${rev}"
  printf 'build=%s\nflake-ref=%s\nrev=%s\n' "$build" "$build" "$rev"
  exit 0
fi

# A local action without a version: build the checkout itself; record it only when it is a
# clean commit of a known GitHub repository (otherwise nothing, rather than a wrong reference).
rev=""
if head="$(git -C "$path" rev-parse HEAD 2>/dev/null)" && [ -z "$(git -C "$path" status --porcelain 2>/dev/null)" ]; then
  rev="$head"
else
  warn "${path} is not a clean git checkout: bundles will not name the meshproof revision that made them"
fi
flake_ref=""
if [ -n "$rev" ] && [ -n "$owner" ]; then
  flake_ref="github:${owner}/${repo}/${rev}"
elif [ -n "$rev" ]; then
  warn "${path} has no github.com origin: bundles record the revision ${rev} but no flake reference"
fi
printf 'build=%s\nflake-ref=%s\nrev=%s\n' "path:${path}" "$flake_ref" "$rev"
