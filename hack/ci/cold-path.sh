#!/usr/bin/env bash
# The cold path of a new machine, proven on a warm one in minutes (CI runs this, `make cold-path`):
#  1. build.sh against an empty Go module cache, reusing the per-binary cache (nothing compiles):
#     every file the script reads must be downloaded by the script itself;
#  2. the errors a new user meets: no Go toolchain, no module proxy: one clear line, exit 1, and no
#     half-written cache entry left behind;
#  3. `dockyard dev-cluster up` right after every binary was evicted from the page cache, several
#     times in a row, with no process left behind by `down`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=.venv/bin
cache_root="${DOCKYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockyard}"
work="$(mktemp -d)"
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
say() { echo "[cold-path] $*"; }
die() { echo "[cold-path] FAILED: $*" >&2; exit 1; }

# A cache with the built binaries (hard links: no copy) and nothing else.
fresh_cache() {  # dir
  mkdir -p "$1/localcluster"
  cp -al "$cache_root/localcluster/parts" "$1/localcluster/parts"
}

say "1. build.sh with an empty module cache"
fresh_cache "$work/cache1"
start=$(date +%s)
out="$(GOMODCACHE="$work/gomod1" DOCKYARD_CACHE_DIR="$work/cache1" hack/localcluster/build.sh --tests | tail -n1)"
for crd in volumesnapshotclasses volumesnapshotcontents volumesnapshots; do
  [[ -s "$out/crds/snapshot.storage.k8s.io_$crd.yaml" ]] || die "CRD $crd missing from $out/crds"
done
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok metrics-server promtool sops kube-score; do
  [[ -x "$out/bin/$b" ]] || die "binary $b missing from $out/bin"
done
say "   assets assembled from an empty module cache in $(( $(date +%s) - start ))s"

say "2a. no Go toolchain"
fresh_cache "$work/cache2"
go_dir="$(dirname "$(command -v go)")"
path_without_go="$(tr ':' '\n' <<<"$PATH" | grep -vxF "$go_dir" | paste -sd: -)"
if msg="$(PATH="$path_without_go" DOCKYARD_CACHE_DIR="$work/cache2" hack/localcluster/build.sh 2>&1)"; then
  die "build.sh succeeded without Go"
fi
grep -q "Go is not installed" <<<"$msg" || die "no clear message without Go: $msg"
say "   $(tail -n1 <<<"$msg")"

say "2b. no module proxy"
if msg="$(GOPROXY=off GOMODCACHE="$work/gomod2" DOCKYARD_CACHE_DIR="$work/cache2" hack/localcluster/build.sh 2>&1)"; then
  die "build.sh succeeded without a module proxy"
fi
grep -q "module proxy" <<<"$msg" || die "no clear message without a proxy: $msg"
leftovers="$(find "$work/cache2/localcluster" -path "$work/cache2/localcluster/parts" -prune -o \( -name '*.tmp' -o -name '.complete-*' -o -name '*.log' \) -print)"
[[ -z "$leftovers" ]] || die "half-written cache entries left: $leftovers"
say "   $(tail -n1 <<<"$msg")"

say "3. dev-cluster up with every binary evicted from the page cache"
export DOCKYARD_STATE_DIR="$work/state"
for round in 1 2 3; do
  $bin/python hack/ci/evict.py "$out"/bin/* "$cache_root"/localcluster/parts/*/*
  start=$(date +%s.%N)
  $bin/dockyard dev-cluster up --name cold >/dev/null || die "dev-cluster up failed in round $round"
  up=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  $bin/dockyard dev-cluster status --name cold >/dev/null || die "status failed in round $round"
  $bin/dockyard dev-cluster down --name cold >/dev/null
  if pgrep -f "$work/state" >/dev/null; then
    pgrep -af "$work/state" >&2
    die "processes left behind after down in round $round"
  fi
  say "   round $round: up in ${up}s, down left no process"
done
say "all cold-path checks passed"
