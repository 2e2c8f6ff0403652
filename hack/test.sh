#!/usr/bin/env bash
# `make test`: installs and builds every real dependency (idempotently), then
# runs all tests. The tests start their own PostgreSQL, Vault, etcd,
# kube-apiserver and S3 server (versitygw) on loopback ports and tear them
# down, pass or fail.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)

echo "==> test: Debian packages"
hack/install-deps.sh
echo "==> test: control plane, Vault, helm and versitygw (S3) binaries (bin/)"
hack/build-tools.sh etcd kube-apiserver kube-controller-manager kube-scheduler kubectl vault helm versitygw
echo "==> test: generated code and manifests are up to date"
snapshot() { find api config charts -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum; }
before=$(snapshot)
make --no-print-directory generate manifests >/dev/null
if [ "$before" != "$(snapshot)" ]; then
  echo "test: 'make generate manifests' changed files under api/, config/ or charts/; review and commit them" >&2
  exit 1
fi
echo "==> test: go vet"
go vet ./...

export KUBEBUILDER_ASSETS="$root/bin"
echo "==> test: go test ./... (KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS)"
# One package at a time: several suites start their own control plane,
# PostgreSQL and Vault, and on 2 cores running them together only makes each
# slower and its timing-sensitive waits flakier.
go test -count=1 -p 1 -timeout 20m ${GOTESTFLAGS:-} ./...
echo "==> test: fuzz targets, briefly (hack/fuzz.sh)"
hack/fuzz.sh
echo "==> test: done in $(( $(date +%s) - start ))s"
