#!/usr/bin/env bash
# Vendors the runtime's third-party JavaScript from npm into the embedded
# static folder. No CDN: the runtime serves these files itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dst="$root/runtime/internal/web/static/vendor"
HTMX_VERSION=${HTMX_VERSION:-2.0.11}
IDIOMORPH_VERSION=${IDIOMORPH_VERSION:-0.8.0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
echo "vendor-js: fetching htmx.org@$HTMX_VERSION and idiomorph@$IDIOMORPH_VERSION from npm"
npm pack --silent "htmx.org@$HTMX_VERSION" "idiomorph@$IDIOMORPH_VERSION" >/dev/null
tar -xzf "htmx.org-$HTMX_VERSION.tgz" package/dist/htmx.min.js
mkdir -p "$dst"
cp package/dist/htmx.min.js "$dst/htmx.min.js"
rm -rf package
# idiomorph merges live updates into the page (static/live.js) without
# losing what a member is typing, their selections or scroll positions.
tar -xzf "idiomorph-$IDIOMORPH_VERSION.tgz" package/dist/idiomorph.min.js
cp package/dist/idiomorph.min.js "$dst/idiomorph.min.js"
rm -f "$dst/htmx-ext-sse.js"
printf 'htmx.org %s\nidiomorph %s\n' "$HTMX_VERSION" "$IDIOMORPH_VERSION" > "$dst/VERSIONS"
(cd "$dst" && sha256sum htmx.min.js idiomorph.min.js > SHA256SUMS)
echo "vendor-js: wrote $(ls "$dst" | tr '\n' ' ')"
