#!/bin/sh
# What a pooled lease of a plain prepared SELECT costs the kernel (issue 15), counted by
# strace between lease_syscalls_probe's two getppid() markers. With
# Config::reset_only_when_changed a lease is one round trip: one send, one recv - no
# COM_RESET_CONNECTION, no re-prepare, no ppoll(0) health check before lending (the
# netpoller knows the socket stayed empty), no recv that only says EAGAIN.
# Usage: lease_syscalls_test.sh STRACE PROBE
set -eu
strace=$1 probe=$2
leases=100
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$strace" -qq -o /dev/null true 2> /dev/null || { echo "SKIP: strace cannot trace here"; exit 77; }
# LeakSanitizer cannot run under ptrace: off for the traced probe in sanitizer builds.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$strace" -qq -o "$log" "$probe" "$leases"
# The window between the markers: each syscall's name, with "!" after failed ones.
window=$(awk '/^getppid\(/ { n++; next } n == 1 {
  name = $0; sub(/\(.*/, "", name); if ($0 ~ /= -1 /) name = name "!"; print name }' "$log" |
  sort | uniq -c)
echo "syscalls for $leases leases:"
echo "$window"
count() { echo "$window" | awk -v name="$1" '$2 == name { v = $1 } END { print v + 0 }'; }
sends=$(($(count sendto) + $(count write) + $(count sendmsg)))
recvs=$(($(count recvfrom) + $(count read)))
failed=$(($(count recvfrom!) + $(count read!)))
polls=$(($(count ppoll) + $(count poll)))
total=$(echo "$window" | awk '{ s += $1 } END { print s + 0 }')
echo "per $leases leases: $sends sends, $recvs reads, $failed failed reads, $polls polls, $total in all"
fail=0
[ "$sends" -le "$leases" ] || { echo "FAIL: more than one send per lease (reset or re-prepare)"; fail=1; }
[ "$polls" -le 2 ] || { echo "FAIL: the pool polls the socket before lending it"; fail=1; }
[ "$failed" -le 2 ] || { echo "FAIL: reads that only say EAGAIN"; fail=1; }
# The loop's epoll_wait calls come on top; a few per lease at most.
[ "$total" -le $((leases * 4)) ] || { echo "FAIL: more than 4 syscalls per lease"; fail=1; }
[ "$fail" -eq 0 ] && echo PASS
exit "$fail"
