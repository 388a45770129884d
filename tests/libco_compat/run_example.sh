#!/usr/bin/env bash
# run_example.sh PATTERN PROGRAM [ARGS...]: runs a libco-style example (60 s at most) and
# passes when it exits 0 and one line of its output matches the extended regex PATTERN.
set -euo pipefail
pattern="$1"
shift
rc=0
out="$(timeout 60 "$@" 2>&1)" || rc=$?
printf '%s\n' "$out"
if ((rc != 0)); then
  echo "FAIL: $* exited $rc" >&2
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$out"; then
  echo "FAIL: no line of the output matches: $pattern" >&2
  exit 1
fi
echo "PASS: $(basename "$1")"
