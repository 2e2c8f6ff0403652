#!/usr/bin/env bash
# Runs, briefly, the fuzz targets of everything that parses what a provider
# sends (webhook bodies and signatures, mail, OAuth answers): each gets
# FUZZTIME (default 2000x: two thousand fresh inputs; a count, because a
# duration that ends while a worker is busy fails with "context deadline
# exceeded" on a loaded machine) on top of its seed corpus. Every
# other fuzz target's seed corpus runs with `go test` as usual; FUZZ_DIRS
# widens the set (e.g. FUZZ_DIRS=". " fuzzes every target in the tree).
# A crasher is written to the package's testdata/fuzz and fails the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${FUZZTIME:-2000x}
dirs=${FUZZ_DIRS:-runtime/internal/channels runtime/internal/web/oauth_test.go}
# shellcheck disable=SC2086
mapfile -t files < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' $dirs | sort -u)
start=$(date +%s)
total=0
for f in "${files[@]}"; do
  pkg="./$(dirname "${f#./}")"
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$f" | awk '{print $2}'); do
    total=$((total + 1))
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1; }
  done
done
rm -f /tmp/fuzz.$$.log
echo "fuzz: $total targets passed in $(( $(date +%s) - start ))s"
