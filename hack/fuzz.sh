#!/usr/bin/env bash
# Runs every Go fuzz target in the module for the given time each: hack/fuzz.sh 30s
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
status=0
while IFS= read -r file; do
  pkg=./$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/'); do
    echo "fuzz: $pkg $target for $time"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg" > /tmp/fuzz-$$.log 2>&1; then
      cat /tmp/fuzz-$$.log; status=1
    fi
  done
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | sort)
rm -f /tmp/fuzz-$$.log
exit $status
