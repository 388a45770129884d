#!/bin/sh
# run_fuzz.sh EXE WORK_DIR MAX_LEN SEED_DIR...: one bounded libFuzzer run, the CTest command
# of every tests/fuzz target. Fuzzes for $COFCGI_FUZZ_SECONDS (default 20) seconds, starting
# from WORK_DIR/corpus (what earlier runs found; kept) and the seed dirs; an input that
# crashes is saved as WORK_DIR/crash-<sha1> (or leak-, timeout-, oom-) and fails the test.
set -eu
exe=$1 work=$2 max_len=$3
shift 3
seconds=${COFCGI_FUZZ_SECONDS:-20}
mkdir -p "$work/corpus"
rc=0
"$exe" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "run_fuzz.sh: $exe failed (exit $rc); reproduce with: $exe $work/<crash-file>" >&2
  ls -l "$work" >&2
fi
exit "$rc"
