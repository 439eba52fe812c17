#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd,
# kwok) and promtool from the Go module proxy into a cache outside the repository, keyed by the pinned
# versions, and copies the VolumeSnapshot CRDs next to them. A second run with the same versions
# does nothing. Prints the binary directory as its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${DOCKYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockyard}"
key="$(cat "$here/versions.env" "$here"/*/go.sum | sha256sum | cut -c1-12)"
out="$cache_root/localcluster/${KUBE_VERSION}-${key}"
if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
mkdir -p "$out/bin" "$out/crds"
start=$(date +%s)
step() { echo "[localcluster] $(( $(date +%s) - start ))s: $*" >&2; }

# Each binary is cached on its own, keyed by its wrapper module's go.sum and version, so a change
# of one pinned version rebuilds that binary only.
build() {  # module-dir version binary package [ldflags]
  local module="$1" version="$2" binary="$3" package="$4" ldflags="${5:--s -w}"
  local part
  part="$cache_root/localcluster/parts/${binary}-${version}-$(sha256sum "$here/$module/go.sum" | cut -c1-12)"
  if [[ ! -x "$part/$binary" ]]; then
    step "building $binary $version (the first build takes minutes on 2 cores)"
    mkdir -p "$part"
    (cd "$here/$module" && go build -trimpath -ldflags "$ldflags" -o "$part/$binary.tmp" "$package")
    mv "$part/$binary.tmp" "$part/$binary"
  fi
  ln -f "$part/$binary" "$out/bin/$binary" 2>/dev/null || cp "$part/$binary" "$out/bin/$binary"
}

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
kube_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"

# kubectl of the same release: tests and benchmarks use it, whatever the machine has installed.
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build kube "$KUBE_VERSION" "$cmd" "k8s.io/kubernetes/cmd/$cmd" "$kube_ldflags"
done
build etcd "$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3
build kwok "$KWOK_VERSION" kwok sigs.k8s.io/kwok/cmd/kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}"
build promtool "$PROMETHEUS_VERSION" promtool github.com/prometheus/prometheus/cmd/promtool

step "copying VolumeSnapshot CRDs from external-snapshotter/client ${SNAPSHOTTER_VERSION}"
crd_dir="$(cd "$here/snapshotter" && go list -m -f '{{.Dir}}' github.com/kubernetes-csi/external-snapshotter/client/v8)/config/crd"
for kind in volumesnapshotclasses volumesnapshotcontents volumesnapshots; do
  install -m 0644 "$crd_dir/snapshot.storage.k8s.io_${kind}.yaml" "$out/crds/"
done

touch "$out/.complete"
# Assembled directories of other versions only hold links to the per-binary cache; drop them.
for stale in "$cache_root"/localcluster/v*; do
  if [[ "$stale" != "$out" && -f "$stale/.complete" ]]; then rm -rf "$stale"; fi
done
step "done in $(( $(date +%s) - start ))s"
echo "$out"
