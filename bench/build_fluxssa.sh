#!/usr/bin/env bash
# Builds the peer engine of bench/bench_apply.py, Flux's server-side apply (github.com/fluxcd/pkg/ssa,
# as kustomize-controller uses it), from bench/fluxssa with modules from the Go module proxy, into
# a cache outside the repository keyed by its sources. Prints the binary's path on stdout.
#
# A cold build takes about 80 s on 2 cores; a second run with the same sources does nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v go >/dev/null 2>&1 || { echo "[fluxssa] error: Go is not installed (or not on PATH)" >&2; exit 1; }
cache_root="${DOCKYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockyard}"
key="$(cat "$here/fluxssa/go.mod" "$here/fluxssa/go.sum" "$here/fluxssa/main.go" | sha256sum | cut -c1-12)"
out="$cache_root/bench/flux-ssa-apply-$key"
if [[ -x "$out" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$(dirname "$out")"
echo "[fluxssa] building $out (go mod download, then go build)" >&2
(cd "$here/fluxssa" && GOFLAGS=-mod=readonly go mod download && GOFLAGS=-mod=readonly go build -trimpath -o "$out.tmp" .)
mv "$out.tmp" "$out"
echo "$out"
