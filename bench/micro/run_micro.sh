#!/usr/bin/env bash
# Runs the micro benchmarks pinned to one core and writes their Markdown output, with the
# machine, date, commit and exact commands at the top, to bench/results/micro-<date>.md.
#
#   bench/micro/run_micro.sh [BUILD_DIR] [--10m]
#
# BUILD_DIR defaults to build-bench (configure it with
#   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench).
# --10m adds the 10-million shared-stack coroutine run of memory_bench (~11 GiB of RAM).
# CPU=N pins to core N instead of 0; REPS=N overrides the repetitions of every program.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="build-bench"
ten_m=0
for arg in "$@"; do
  case "$arg" in
    --10m) ten_m=1 ;;
    *) build="$arg" ;;
  esac
done
[[ "$build" = /* ]] || build="$root/$build"
bin="$build/bench/micro"
for b in switch_bench create_bench memory_bench timer_bench threads_bench; do
  [[ -x "$bin/$b" ]] || { echo "run_micro: $bin/$b missing; build first" >&2; exit 1; }
done

cpu="${CPU:-0}"
reps=()
[[ -n "${REPS:-}" ]] && reps=(--reps "$REPS")
date_tag="$(date +%Y-%m-%d)"
out="$root/bench/results/micro-$date_tag.md"
# Never overwrite an earlier run of the day (it may carry notes added by hand).
[[ -e "$out" ]] && out="$root/bench/results/micro-$date_tag-$(date +%H%M%S).md"
mkdir -p "$root/bench/results"

{
  echo "# cofcgi micro benchmarks, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "- machine: $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
  echo "- memory: $(free -g | awk '/^Mem:/ {print $2 " GiB total"}')"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)')"
  echo "- compiler: $(${CXX:-c++} --version | head -1)"
  echo "- build: $build (CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" | cut -d= -f2))"
  echo
} > "$out"

run() {
  local cmd=("taskset" "-c" "$cpu" "$@")
  echo "\$ ${cmd[*]}" | sed "s|$root/||g" >> "$out"
  echo >> "$out"
  "${cmd[@]}" >> "$out"
  echo >> "$out"
}

run "$bin/switch_bench" "${reps[@]}"
run "$bin/create_bench" "${reps[@]}"
run "$bin/timer_bench" "${reps[@]}"
run "$bin/memory_bench" "${reps[@]}"
# Several threads by design: on the allowed cores, not pinned to one.
echo "\$ $bin/threads_bench ${reps[*]}" | sed "s|$root/||g" >> "$out"
echo >> "$out"
"$bin/threads_bench" "${reps[@]}" >> "$out"
echo >> "$out"
if ((ten_m)); then
  run "$bin/memory_bench" --only-10m
fi
echo "run_micro: wrote $out"
