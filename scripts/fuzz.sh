#!/usr/bin/env bash
# fuzz.sh FUZZTIME PKG:TARGET... — runs each Go fuzz target for FUZZTIME
# (make fuzz, and so make test).
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" exactly when a duration -fuzztime runs out, with no failing
# input (a race between its deadline and a worker still executing, fixed in
# Go 1.27: golang/go#75804). A real finding always writes a reproducer
# ("Failing input written to ...") or reports a panic or test error. So a
# failure whose output is only that deadline is retried once, after the
# target's seed and committed corpus pass deterministically (go test -run);
# anything else fails at once.
set -u
fuzztime=$1
shift
go=${GO:-go}
for pt in "$@"; do
  pkg=${pt%%:*} fn=${pt##*:}
  for try in 1 2; do
    echo "fuzz $fn ($fuzztime)"
    out=$("$go" test "./$pkg" -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    [ $rc -eq 0 ] && break
    if [ "$try" = 1 ] && grep -q 'context deadline exceeded' <<<"$out" &&
      ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' <<<"$out"; then
      echo "fuzz $fn: the fuzz-time deadline race of Go's coordinator (no failing input); replaying the corpus, then fuzzing once more"
      "$go" test "./$pkg" -run "^$fn\$" -count=1 || exit 1
      continue
    fi
    exit 1
  done
done
