#!/bin/sh
# run_fuzz.sh EXE WORK_DIR MAX_LEN SEED_DIR...: one bounded libFuzzer run, the CTest command
# of every tests/fuzz target. Fuzzes for $COFCGI_FUZZ_SECONDS (default 20) seconds, starting
# from WORK_DIR/corpus (what earlier runs found; kept) and the seed dirs; an input that
# crashes is saved as WORK_DIR/crash-<sha1> (or leak-, timeout-, oom-) and fails the test,
# and this run and every later one first replay the saved ones, so that a crash found once
# keeps failing until it is fixed (then delete WORK_DIR).
set -eu
exe=$1 work=$2 max_len=$3
shift 3
seconds=${COFCGI_FUZZ_SECONDS:-20}
mkdir -p "$work/corpus"
rc=0
saved=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
  -o -name 'oom-*' \) | sort)
if [ -n "$saved" ]; then
  echo "run_fuzz.sh: replaying what earlier runs saved: $saved"
  # shellcheck disable=SC2086 # one file a word (the names are libFuzzer's: no blanks)
  "$exe" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/" $saved || rc=$?
fi
if [ "$rc" -eq 0 ]; then
  "$exe" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$@" || rc=$?
fi
if [ "$rc" -ne 0 ]; then
  echo "run_fuzz.sh: $exe failed (exit $rc); the inputs that fail it (run $exe FILE):" >&2
  find "$work" -maxdepth 1 -type f >&2
fi
exit "$rc"
