#!/bin/sh
# The hooked libmariadb read shape costs park, recv (issue 15): syscall_probe's reader,
# parked every round, makes no ppoll call of its own (a round used to cost two: one before
# parking, one after) and no failed recv (it cost one: the short read of the round before
# now notes the socket empty, so the next recv answers EAGAIN without asking the kernel).
# Counted with strace -c over the whole run.
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
# The first round may fail one recv (nothing noted yet); no other round may.
[ "$failed_recv" -le 4 ] || { echo "FAIL: the reader's recv says EAGAIN ($failed_recv times)"; exit 1; }
recvs=$(count recvfrom 1)
[ "$recvs" -le $((rounds + 4)) ] || { echo "FAIL: $recvs recvfrom for $rounds rounds"; exit 1; }
echo PASS
