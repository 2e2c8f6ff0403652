#!/usr/bin/env bash
# Lays a copy of github.com/hashicorp/vault/sdk v0.9.2 at hack/tools/vault/_sdk
# with the one start-up check that Vault 1.14.2's sys backend fails removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dst="$here/vault/_sdk"
[ -f "$dst/.patched" ] && exit 0
src=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json github.com/hashicorp/vault/sdk@v0.9.2 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "vault-sdk: could not download github.com/hashicorp/vault/sdk@v0.9.2" >&2; exit 1; }
rm -rf "$dst"; cp -r "$src" "$dst"; chmod -R u+w "$dst"
python3 - "$dst/framework/backend.go" <<'PY'
import sys,re
p=sys.argv[1]; s=open(p).read()
start=s.index("\t\t// Detect the coding error of attempting to define a CreateOperation without defining an ExistenceCheck")
end=s.index("\t\t// Automatically anchor the pattern")
s=s[:start]+s[end:]
open(p,"w").write(s)
PY
grep -q "defines a CreateOperation but no ExistenceCheck" "$dst/framework/backend.go" && { echo "vault-sdk: patch failed" >&2; exit 1; }
touch "$dst/.patched"
