#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) briefly: each
# parser and signature check of untrusted input gets FUZZTIME (default 3s)
# of fresh inputs on top of its seed corpus, which `go test` already runs.
# A crasher is written to the package's testdata/fuzz and fails the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${FUZZTIME:-3s}
mapfile -t files < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --exclude-dir=bin --exclude-dir=hack . | sort)
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
echo "fuzz: $total targets passed"
