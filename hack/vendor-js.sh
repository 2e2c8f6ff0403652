#!/usr/bin/env bash
# Vendors the runtime's third-party JavaScript from npm into the embedded
# static folder. No CDN: the runtime serves these files itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dst="$root/runtime/internal/web/static/vendor"
HTMX_VERSION=${HTMX_VERSION:-2.0.11}
SSE_VERSION=${SSE_VERSION:-2.2.4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
echo "vendor-js: fetching htmx.org@$HTMX_VERSION and htmx-ext-sse@$SSE_VERSION from npm"
npm pack --silent "htmx.org@$HTMX_VERSION" "htmx-ext-sse@$SSE_VERSION" >/dev/null
tar -xzf "htmx.org-$HTMX_VERSION.tgz" package/dist/htmx.min.js
mkdir -p "$dst"
cp package/dist/htmx.min.js "$dst/htmx.min.js"
rm -rf package
tar -xzf "htmx-ext-sse-$SSE_VERSION.tgz"
cp package/sse.js "$dst/htmx-ext-sse.js" 2>/dev/null || cp package/dist/sse.js "$dst/htmx-ext-sse.js"
printf 'htmx.org %s\nhtmx-ext-sse %s\n' "$HTMX_VERSION" "$SSE_VERSION" > "$dst/VERSIONS"
(cd "$dst" && sha256sum htmx.min.js htmx-ext-sse.js > SHA256SUMS)
echo "vendor-js: wrote $(ls "$dst" | tr '\n' ' ')"
