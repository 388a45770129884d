#!/bin/sh
# tools/gdb/cofcgi.py on a live process stopped by gdb, then on the kernel's core file of the
# same program: `cofcgi coroutines` lists the parked coroutines, `cofcgi bt ID` shows the
# function one is parked in. Usage: gdb_script_test.sh GDB SCRIPT TARGET
# (gdb's own generate-core-file is no substitute: it drops the sections holding the
# coroutine stacks, whose guard pages it cannot read.)
set -eu
gdb=$1 script=$2 target=$(realpath "$3")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; echo "--- gdb said:"; cat "$dir/out"; exit 1; }

check() {
  grep -q '#1 gdb-target-parked: parked in sleep' "$dir/out" || fail "$1: coroutine #1 not listed"
  grep -q '#3 gdb-target-parked: parked in sleep' "$dir/out" || fail "$1: coroutine #3 not listed"
  grep -q ' gdb_target_parked_function (n=' "$dir/out" || fail "$1: bt 2 lacks the parked function"
  grep -q ' co::sleep_until (deadline=' "$dir/out" || fail "$1: bt 2 lacks co::sleep_until"
}

"$gdb" -batch -nx -ex "source $script" -ex run -ex "cofcgi coroutines" -ex "cofcgi bt 2" \
  -ex kill --args "$target" > "$dir/out" 2>&1 || true
check "live process"

case "$(cat /proc/sys/kernel/core_pattern)" in
  core | core.*) ;;
  *) echo "PASS: live process (core file part skipped: core_pattern is not a plain file)"; exit 0 ;;
esac
(cd "$dir" && ulimit -c unlimited && "$target" > /dev/null 2>&1) || true
core=$(ls "$dir"/core* 2> /dev/null | head -n 1)
[ -n "$core" ] || { echo "PASS: live process (no core file written here: core part skipped)"; exit 0; }
"$gdb" -batch -nx -ex "source $script" -ex "cofcgi coroutines" -ex "cofcgi bt 2" \
  "$target" "$core" > "$dir/out" 2>&1 || true
check "core file"
echo "PASS: live process and core file"
