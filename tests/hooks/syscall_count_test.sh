#!/bin/sh
# The hooked libmariadb read shape costs recv, park, recv (issue 15): syscall_probe's
# reader, parked every round, makes no ppoll call of its own (a round used to cost two: one
# before parking, one after) and one failed recv. Counted with strace -c over the whole run.
# Usage: syscall_count_test.sh STRACE PROBE
set -eu
strace=$1 probe=$2
rounds=400
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$strace" -qq -o /dev/null true 2> /dev/null || { echo "SKIP: strace cannot trace here"; exit 77; }
# LeakSanitizer cannot run under ptrace: off for the traced probe in sanitizer builds.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
  "$strace" -f -qq -c -U calls,errors,name -o "$out" "$probe" "$rounds"
cat "$out"
# count NAME COLUMN: the calls (2) or errors (3) column of NAME's row, 0 when absent.
count() { awk -v name="$1" -v col="$2" '$NF == name { v = $col } END { print v + 0 }' "$out"; }
ppoll=$(count ppoll 1)
failed_recv=$(count recvfrom 2)
echo "ppoll calls: $ppoll for $rounds parked rounds; failed recvfrom: $failed_recv"
# A few ppoll calls are allowed for the first round (the fd is not registered yet).
[ "$ppoll" -le 4 ] || { echo "FAIL: the reader polls the kernel before or after parking"; exit 1; }
[ "$failed_recv" -le $((rounds + 4)) ] || { echo "FAIL: more than one EAGAIN per round"; exit 1; }
echo PASS
