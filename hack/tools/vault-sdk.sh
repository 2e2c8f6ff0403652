#!/usr/bin/env bash
# Lays a copy of github.com/hashicorp/vault/sdk v0.9.2 at hack/tools/vault/_sdk
# with the one start-up check that Vault 1.14.2's sys backend fails removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dst="$here/vault/_sdk"
[ -f "$dst/.patched" ] && exit 0
echo "vault-sdk: laying a patched copy of github.com/hashicorp/vault/sdk v0.9.2 at hack/tools/vault/_sdk"
src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json github.com/hashicorp/vault/sdk@v0.9.2 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "vault-sdk: could not download github.com/hashicorp/vault/sdk@v0.9.2" >&2; exit 1; }
rm -rf "$dst"; cp -r "$src" "$dst"; chmod -R u+w "$dst"
f="$dst/framework/backend.go"
awk '/Detect the coding error of attempting to define a CreateOperation without defining an ExistenceCheck/ {skip=1}
     /Automatically anchor the pattern/ {skip=0}
     !skip' "$f" > "$f.new" && mv "$f.new" "$f"
grep "defines a CreateOperation but no ExistenceCheck" "$f" >/dev/null && { echo "vault-sdk: patch failed" >&2; exit 1; }
touch "$dst/.patched"
