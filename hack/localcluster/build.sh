#!/usr/bin/env bash
# Builds the local control plane from the Go module proxy into a cache outside the repository,
# keyed by the pinned versions, and copies the VolumeSnapshot CRDs next to the binaries.
#
#   build.sh            the cluster: kube-apiserver, kube-controller-manager, kube-scheduler,
#                       kubectl, etcd, kwok, metrics-server and the CRDs (what `make demo` needs)
#   build.sh --tests    the cluster and the test tools (promtool, sops, kube-score)
#
# A second run with the same versions does nothing. Progress goes to stderr, one line per step
# with the elapsed time; the last line on stdout is the output directory. Every failure is one
# line that says what is missing and what to do; no half-written cache entry is left behind.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

profile=cluster
case "${1:-}" in
  "") ;;
  --tests) profile=tests ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

start=$(date +%s)
step() { echo "[localcluster] $(( $(date +%s) - start ))s: $*" >&2; }
fail() { echo "[localcluster] error: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 \
  || fail "Go is not installed (or not on PATH); install Go 1.24 or newer from https://go.dev/dl and run again"
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum (coreutils) is missing"

cache_root="${DOCKYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockyard}"
key="$(cat "$here/versions.env" "$here"/*/go.sum | sha256sum | cut -c1-12)"
out="$cache_root/localcluster/${KUBE_VERSION}-${key}"
stamp="$out/.complete-$profile"
if [[ -f "$stamp" ]]; then
  touch "$out"  # in use: see the removal of unused ones at the end
  echo "$out"
  exit 0
fi

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
mkdir -p "$out/bin" "$out/crds" || fail "cannot create $out (is the disk full or read-only?)"

# A temporary file of this run is removed whatever ends it (an error, Ctrl-C, a full disk), so the
# next run starts clean: cache entries only ever appear by an atomic rename of a finished file.
tmp_files=()
cleanup() { local f; for f in "${tmp_files[@]}"; do rm -rf -- "$f"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Explains a failed go command in one line: the usual causes are the network and the disk.
go_failed() {  # what log
  local what="$1" log="$2"
  tail -n 20 "$log" >&2
  if grep -qiE 'no space left on device' "$log"; then
    fail "$what failed: the disk is full ($(df -h --output=avail "$cache_root" 2>/dev/null | tail -n1 | tr -d ' ') free under $cache_root); free some space and run again"
  elif grep -qiE 'GOPROXY=off|module lookup disabled|dial tcp|lookup .*(no such host|server misbehaving)|connection refused|i/o timeout|TLS handshake|proxyconnect|403 Forbidden|404 Not Found|410 Gone' "$log"; then
    fail "$what failed: the Go module proxy ($(go env GOPROXY)) cannot be reached or does not serve a pinned version; check the network or GOPROXY and run again"
  fi
  fail "$what failed (the go output is above)"
}

# Each binary is cached on its own, keyed by its wrapper module's go.sum and version, so a change
# of one pinned version rebuilds that binary only.
build() {  # module-dir version binary package [ldflags]
  local module="$1" version="$2" binary="$3" package="$4" ldflags="${5:--s -w}"
  local part began log
  part="$cache_root/localcluster/parts/${binary}-${version}-$(sha256sum "$here/$module/go.sum" | cut -c1-12)"
  if [[ ! -x "$part/$binary" ]]; then
    began=$(date +%s)
    step "building $binary $version (a first build takes minutes on 2 cores)"
    mkdir -p "$part" || fail "cannot create $part (is the disk full?)"
    log="$part/.build.log"
    tmp_files+=("$part/$binary.tmp" "$log")
    if ! (cd "$here/$module" && go build -trimpath -ldflags "$ldflags" -o "$part/$binary.tmp" "$package") >"$log" 2>&1; then
      go_failed "building $binary" "$log"
    fi
    mv "$part/$binary.tmp" "$part/$binary"
    step "built $binary in $(( $(date +%s) - began ))s"
  fi
  ln -f "$part/$binary" "$out/bin/$binary" 2>/dev/null || cp "$part/$binary" "$out/bin/$binary" \
    || fail "cannot copy $binary into $out/bin (is the disk full?)"
}

# The directory of a module in the module cache, downloaded first: `go list -m` alone prints an
# empty line for a module whose zip was never fetched, so the download is explicit and the answer
# is checked.
module_dir() {  # wrapper-module-dir module-path
  local wrapper="$1" module="$2" log="$out/.download.log" dir
  if ! (cd "$here/$wrapper" && go mod download "$module") >"$log" 2>&1; then
    go_failed "downloading $module" "$log"
  fi
  dir="$(cd "$here/$wrapper" && go list -m -f '{{.Dir}}' "$module" 2>>"$log")" || go_failed "locating $module" "$log"
  [[ -n "$dir" && -d "$dir" ]] || fail "module $module was downloaded but has no directory in the module cache ($(go env GOMODCACHE))"
  echo "$dir"
}

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
kube_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"

# The CRDs first: they take seconds, so a broken download shows before the long builds.
tmp_files+=("$out/.download.log")
step "copying VolumeSnapshot CRDs from external-snapshotter/client ${SNAPSHOTTER_VERSION}"
snapshotter_dir="$(module_dir snapshotter "github.com/kubernetes-csi/external-snapshotter/client/v8@${SNAPSHOTTER_VERSION}")"
for kind in volumesnapshotclasses volumesnapshotcontents volumesnapshots; do
  crd="$snapshotter_dir/config/crd/snapshot.storage.k8s.io_${kind}.yaml"
  [[ -s "$crd" ]] || fail "$crd is missing from external-snapshotter/client ${SNAPSHOTTER_VERSION}; check SNAPSHOTTER_VERSION in versions.env"
  install -m 0644 "$crd" "$out/crds/" || fail "cannot copy $crd into $out/crds (is the disk full?)"
done

# kubectl of the same release: tests and benchmarks use it, whatever the machine has installed.
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build kube "$KUBE_VERSION" "$cmd" "k8s.io/kubernetes/cmd/$cmd" "$kube_ldflags"
done
build etcd "$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3
build kwok "$KWOK_VERSION" kwok sigs.k8s.io/kwok/cmd/kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}"
build metrics-server "$METRICS_SERVER_VERSION" metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server
touch "$out/.complete-cluster"

if [[ "$profile" == tests ]]; then
  # promtool checks the daemon's /metrics and the shipped alert rules; only the tests need it.
  build promtool "$PROMETHEUS_VERSION" promtool github.com/prometheus/prometheus/cmd/promtool
  # sops encrypts the tests' Secret fixtures with an independent implementation of the format.
  build sops "$SOPS_VERSION" sops github.com/getsops/sops/v3/cmd/sops
  # kube-score judges the rendered example; main.version is what `kube-score version` prints.
  build kube-score "$KUBE_SCORE_VERSION" kube-score github.com/zegl/kube-score/cmd/kube-score \
    "-s -w -X main.version=${KUBE_SCORE_VERSION}"
  touch "$out/.complete-tests"
fi

# Assembled directories of other versions only hold links to the per-binary cache; drop those no
# build has asked for in a week. Not all of them: another checkout with other pinned versions may
# be running a cluster from one right now, and its components restart from it.
touch "$out"
find "$cache_root/localcluster" -mindepth 1 -maxdepth 1 -type d -name 'v*' ! -path "$out" -mtime +7 \
  -exec rm -rf {} +
step "done in $(( $(date +%s) - start ))s"
echo "$out"
