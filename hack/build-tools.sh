#!/usr/bin/env bash
# Builds the real dependencies that tests and `make dev` run, from Go modules,
# into bin/. Idempotent: a binary whose inputs have not changed is not rebuilt.
#
#   hack/build-tools.sh etcd kube-apiserver vault ...
#
# Known names: etcd kube-apiserver kube-controller-manager kube-scheduler kubectl vault helm versitygw
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
mkdir -p "$bin/.stamps"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

kver=v1.37.2
kldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kver -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"

stamp_of() { # module dir -> hash of everything that decides the binary
  (cd "$1" && cat go.mod go.sum $(find . -name '*.go' -not -path './_sdk/*' | sort) && go env GOVERSION) | sha256sum | cut -c1-16
}

build() { # name moddir pkg ldflags
  local name=$1 mod=$2 pkg=$3 ldflags=$4 want have start
  want=$(stamp_of "$mod")
  have=$(cat "$bin/.stamps/$name" 2>/dev/null || true)
  if [ -x "$bin/$name" ] && [ "$want" = "$have" ]; then
    echo "build-tools: $name is up to date (bin/$name)"
    return
  fi
  start=$(date +%s)
  echo "build-tools: building $name from Go modules (a cold build takes minutes; warm is a relink)..."
  (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$want" > "$bin/.stamps/$name"
  echo "build-tools: built bin/$name in $(( $(date +%s) - start ))s"
}

for t in "$@"; do
  case "$t" in
    etcd) build etcd "$root/hack/tools/etcd" . "-s -w" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl)
      build "$t" "$root/hack/tools/kube" "./cmd/$t" "$kldflags" ;;
    vault)
      "$root/hack/tools/vault-sdk.sh"
      build vault "$root/hack/tools/vault" . "-s -w" ;;
    helm)
      hver=$(awk '$1 == "require" && $2 == "helm.sh/helm/v3" {print $3}' "$root/hack/tools/helm/go.mod")
      build helm "$root/hack/tools/helm" helm.sh/helm/v3/cmd/helm "-s -w -X helm.sh/helm/v3/internal/version.version=$hver" ;;
    versitygw) # the S3 server the backup store tests run against
      gver=$(awk '$1 == "require" && $2 == "github.com/versity/versitygw" {print $3}' "$root/hack/tools/versitygw/go.mod")
      build versitygw "$root/hack/tools/versitygw" github.com/versity/versitygw/cmd/versitygw "-s -w -X main.Version=$gver" ;;
    *) echo "build-tools: unknown tool $t" >&2; exit 2 ;;
  esac
done
