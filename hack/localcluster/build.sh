#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd,
# kwok) from the Go module proxy into a cache outside the repository, keyed by the pinned
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

minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
kube_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"

for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  step "building $cmd ${KUBE_VERSION} (the first build takes a while on 2 cores)"
  (cd "$here/kube" && go build -trimpath -ldflags "$kube_ldflags" -o "$out/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd")
done
step "building etcd ${ETCD_VERSION}"
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd" go.etcd.io/etcd/server/v3)
step "building kwok ${KWOK_VERSION}"
(cd "$here/kwok" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" -o "$out/bin/kwok" sigs.k8s.io/kwok/cmd/kwok)

step "copying VolumeSnapshot CRDs from external-snapshotter/client ${SNAPSHOTTER_VERSION}"
crd_dir="$(cd "$here/snapshotter" && go list -m -f '{{.Dir}}' github.com/kubernetes-csi/external-snapshotter/client/v8)/config/crd"
for kind in volumesnapshotclasses volumesnapshotcontents volumesnapshots; do
  install -m 0644 "$crd_dir/snapshot.storage.k8s.io_${kind}.yaml" "$out/crds/"
done

touch "$out/.complete"
step "done in $(( $(date +%s) - start ))s"
echo "$out"
