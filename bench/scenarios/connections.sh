# shellcheck shell=bash
# bench/scenarios/connections.sh: the "connections" scenario, sourced by bench/run, which
# calls scenario_connections. Uses bench/run's helpers and settings (log, die, start,
# free_port, build_targets, prio, $build, $tmp, $outdir, APP_CPU, WRK_CPU).
#
#   bench/run [--build DIR] [--no-build] connections
#
# How many idle TCP connections one thread holds, and what each costs in resident memory:
# 1. bench/macro/echo_shared_server (libco C API, shared stacks, one coroutine per connection
#    doing blocking read()/write() through the hooks) starts alone; its VmRSS is read.
# 2. bench/macro/idle_conn_client, a separate process with its own fd limit, opens
#    CONN_TARGET connections, checks that each echoes (so each server coroutine has run and
#    parked in read()) and holds them. The server's VmRSS is read again:
#    (after - before) / connections held = resident bytes per idle connection.
# 3. The client checks that every connection still echoes; it closes them, the server's RSS
#    is read once more, and the server is stopped with SIGTERM (it must exit 0).
# 4. The same with --private (a private stack per connection), for comparison.
# 5. bench/micro/memory_bench --only-10m parks 10 million shared-stack coroutines for real
#    (~11 GiB): the measured figure under the extrapolation to 10 million connections.
# Writes bench/results/connections-<date>.md (no plot).
#
# Environment:
#   CONN_TARGET    connections to hold. Default: the hard `ulimit -n` (both processes raise
#                  their soft limit to it) minus CONN_MARGIN. bench/run's --conns is wrk's
#                  connection count for the HTTP scenarios and is not used here.
#   CONN_MARGIN    fds left to the server's own: stdio, listener, epoll, eventfd, signalfd
#                  (default 200)
#   SHARE_STACKS   shared stacks of the server (default 16); STACK_SIZE bytes (default 131072)
#   SKIP_PRIVATE=1 no private-stack row
#   SKIP_10M=1     no memory_bench --only-10m (also skipped, with a note, when MemAvailable is
#                  below 12 GiB)
# Pinning: the server and memory_bench on APP_CPU, the client on WRK_CPU.

# bench/run sets build, root, outdir, app_cpu, wrk_cpu, prio, started_pid, ...:
# shellcheck disable=SC2154

conn_status_kb() {  # conn_status_kb PID FIELD: a "FIELD: N kB" line of /proc/PID/status
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
conn_meminfo_kb() { awk -v f="$1:" '$1 == f {print $2}' /proc/meminfo; }
conn_fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
conn_mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }  # kB -> MiB
conn_gib_10m() {  # bytes each -> GiB for 10 million
  awk -v b="$1" 'BEGIN { if (b + 0 > 0) printf "%.1f", b * 1e7 / 1073741824; else print "n/a" }'
}
# conn_per_kb MODE FIELD0 FIELD1: (res[MODE.FIELD1] - res[MODE.FIELD0]) kB per held connection,
# in bytes.
conn_per_kb() {
  awk -v a="${res[$1.$2]}" -v b="${res[$1.$3]}" -v n="${res[$1.held]}" \
    'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "n/a" }'
}
conn_sockstat_tcp() {  # conn_sockstat_tcp FIELD: inuse, tw, alloc, mem (pages) of the TCP line
  awk -v f="$1" '$1 == "TCP:" {for (i = 2; i < NF; i += 2) if ($i == f) print $(i + 1)}' /proc/net/sockstat
}

# conn_snapshot MODE PID N: the server's memory and fds, and the system's TCP and slab
# figures, into res[MODE.rssN], res[MODE.pteN], res[MODE.fdsN], res[MODE.tcpN], ...
conn_snapshot() {
  local mode="$1" pid="$2" n="$3"
  res[$mode.rss$n]="$(conn_status_kb "$pid" VmRSS)"
  res[$mode.pte$n]="$(conn_status_kb "$pid" VmPTE)"
  res[$mode.fds$n]="$(conn_fd_count "$pid")"
  res[$mode.tcp$n]="$(conn_sockstat_tcp inuse)"
  res[$mode.tcpmem$n]="$(conn_sockstat_tcp mem)"
  res[$mode.slab$n]="$(conn_meminfo_kb Slab)"
}

# conn_wait_log NAME PID PATTERN SECONDS: waits until $tmp/NAME.log has a line matching
# PATTERN; dies if PID exits first or time runs out.
conn_wait_log() {
  local name="$1" pid="$2" pattern="$3" secs="$4" i
  for ((i = 0; i < secs * 10; i++)); do
    grep -q "$pattern" "$tmp/$name.log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.log" >&2; die "$name exited early"; }
    sleep 0.1
  done
  cat "$tmp/$name.log" >&2
  die "$name: no '$pattern' after $secs s"
}

# conn_measure MODE (shared|private): one server, one client; the figures go into the caller's
# associative array `res` as res[MODE.KEY].
conn_measure() {
  local mode="$1" port spid cpid flags=() line rc i
  [[ "$mode" == private ]] && flags=(--private)
  port="$(free_port)"
  # The server is waited for through its "listening" line, not by connecting to it: a probe
  # connection would be one more coroutine to account for.
  start "server-$mode" "$app_cpu" "$conn_server" --listen "127.0.0.1:$port" \
    --share-stacks "$conn_share_stacks" --stack-size "$conn_stack_size" "${flags[@]}"
  spid=$started_pid
  conn_wait_log "server-$mode" "$spid" '^listening ' 10
  sleep 0.5
  conn_snapshot "$mode" "$spid" 0

  log "$mode: holding $conn_target connections"
  start "client-$mode" "$wrk_cpu" "$conn_client" --connect "127.0.0.1:$port" --conns "$conn_target"
  cpid=$started_pid
  conn_wait_log "client-$mode" "$cpid" '^held ' 900
  sleep 1  # let the server finish whatever the last batch left it
  line="$(grep '^held ' "$tmp/client-$mode.log")"
  res[$mode.held_line]="$line"
  res[$mode.held]="$(awk '{print $2}' <<<"$line")"
  res[$mode.open_s]="$(awk '{for (i = 1; i < NF; i++) if ($i == "in") print $(i + 1)}' <<<"$line")"
  conn_snapshot "$mode" "$spid" 1
  kill -USR1 "$spid"
  sleep 0.3
  res[$mode.stats]="$(grep '^connections ' "$tmp/server-$mode.log" | tail -1)"
  log "$mode: $line; server: ${res[$mode.stats]}; VmRSS ${res[$mode.rss0]} -> ${res[$mode.rss1]} kB"

  # Second pass: every connection must still echo after sitting idle.
  kill -USR1 "$cpid"
  rc=0
  wait "$cpid" || rc=$?
  res[$mode.client_rc]=$rc
  res[$mode.verified]="$(awk '/^verified / {print $2}' "$tmp/client-$mode.log")"
  ((rc == 0)) || { cat "$tmp/client-$mode.log" >&2; log "$mode: client failed (exit $rc)"; }

  # The client has closed everything: wait for the server to let go of its fds.
  for ((i = 0; i < 300; i++)); do
    (($(conn_fd_count "$spid") <= ${res[$mode.fds0]})) && break
    sleep 0.1
  done
  res[$mode.rss2]="$(conn_status_kb "$spid" VmRSS)"
  kill -TERM "$spid"
  rc=0
  wait "$spid" || rc=$?
  res[$mode.server_rc]=$rc
  ((rc == 0)) || { cat "$tmp/server-$mode.log" >&2; log "$mode: server exited $rc after SIGTERM"; }
}

scenario_connections() {
  local conn_server="$build/bench/macro/echo_shared_server"
  local conn_client="$build/bench/macro/idle_conn_client"
  local membench="$build/bench/micro/memory_bench"
  local conn_share_stacks="${SHARE_STACKS:-16}" conn_stack_size="${STACK_SIZE:-131072}"
  local skip_10m="${SKIP_10M:-0}" skip_private="${SKIP_PRIVATE:-0}"
  local targets=(echo_shared_server idle_conn_client)
  [[ "$skip_10m" == 1 ]] || targets+=(memory_bench)
  build_targets "${targets[@]}"
  local t
  for t in "$conn_server" "$conn_client"; do
    [[ -x "$t" ]] || die "$t missing (build it, or drop --no-build)"
  done

  local hard margin="${CONN_MARGIN:-200}" conn_target ports
  hard="$(ulimit -Hn)"
  if [[ -n "${CONN_TARGET:-}" ]]; then
    conn_target="$CONN_TARGET"
  else
    [[ "$hard" =~ ^[0-9]+$ ]] || die "hard fd limit is '$hard': set CONN_TARGET"
    conn_target=$((hard - margin))
  fi
  ((conn_target > 0)) || die "nothing to hold: CONN_TARGET $conn_target"
  ports="$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range)"
  ((conn_target < ports)) ||
    log "warning: $conn_target connections but only $ports ephemeral ports (net.ipv4.ip_local_port_range)"

  tmp="$(mktemp -d /tmp/cofcgi-bench-connections.XXXXXX)"
  local -A res=()
  local modes=(shared)
  [[ "$skip_private" == 1 ]] || modes+=(private)
  local mode
  for mode in "${modes[@]}"; do
    conn_measure "$mode"
  done

  # The measured 10M figure.
  local avail_kb mem10m_note=""
  avail_kb="$(conn_meminfo_kb MemAvailable)"
  : > "$tmp/memory_bench.txt"
  if [[ "$skip_10m" == 1 ]]; then
    mem10m_note="skipped (SKIP_10M=1)"
  elif ((avail_kb < 12 * 1024 * 1024)); then
    mem10m_note="skipped: MemAvailable $((avail_kb / 1024)) MiB, it needs ~11 GiB"
  else
    [[ -x "$membench" ]] || die "$membench missing"
    log "memory_bench --only-10m (10M parked coroutines, ~11 GiB)"
    "${prio[@]}" taskset -c "$app_cpu" "$membench" --only-10m > "$tmp/memory_bench.txt" 2>&1 ||
      { cat "$tmp/memory_bench.txt" >&2; die "memory_bench --only-10m failed"; }
  fi

  report_connections "$hard" "$margin" "$mem10m_note" "${modes[@]}"
  local failed=0
  for mode in "${modes[@]}"; do
    [[ "${res[$mode.client_rc]}" == 0 && "${res[$mode.server_rc]}" == 0 ]] || failed=1
  done
  ((failed == 0)) || die "a client or server failed (see above and the report)"
}

# report_connections HARD MARGIN 10M-NOTE MODE...: writes the Markdown report from `res`.
report_connections() {
  local hard="$1" margin="$2" mem10m_note="$3"
  shift 3
  local date_tag md commit dirty
  date_tag="$(date +%Y-%m-%d)"
  mkdir -p "$outdir"
  md="$outdir/connections-$date_tag.md"
  [[ -e "$md" ]] && md="$outdir/connections-$date_tag-$(date +%H%M%S).md"
  commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dirty="$(git -C "$root" diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)')"

  # The 10M rows of memory_bench: "| case | bytes (median) | min | max | note |".
  local go10m libco10m
  go10m="$(awk -F'|' '$2 ~ /co::go \+ WaitGroup::wait, 10M/ && $3 ~ /[0-9]/ {printf "%.0f", $3; exit}' "$tmp/memory_bench.txt")"
  libco10m="$(awk -F'|' '$2 ~ /libco co_yield_ct, 10M/ && $3 ~ /[0-9]/ {printf "%.0f", $3; exit}' "$tmp/memory_bench.txt")"

  local mode label
  {
    echo "# connections: idle TCP connections held by one thread, $(date '+%Y-%m-%d %H:%M %Z')"
    echo
    echo "- machine: $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other jobs ran alongside)"
    echo "- commit: $commit$dirty"
    echo "- build: ${build#"$root"/} (CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" | cut -d= -f2)); $(${CXX:-c++} --version | head -1)"
    local target_how="hard limit - CONN_MARGIN $margin"
    [[ -n "${CONN_TARGET:-}" ]] && target_how="CONN_TARGET"
    echo "- fd limit (\`ulimit -n\`, hard; server and client each raise their soft limit to it): $hard; connections asked for: $conn_target ($target_how)"
    echo "- net.ipv4.ip_local_port_range: $(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range); net.core.somaxconn: $(cat /proc/sys/net/core/somaxconn)"
    local envs="APP_CPU=$app_cpu WRK_CPU=$wrk_cpu"
    if ((bench_rt > 0)); then envs+=" BENCH_RT=$bench_rt"; else envs+=" BENCH_NICE=$bench_nice"; fi
    [[ -n "${CONN_TARGET:-}" ]] && envs+=" CONN_TARGET=$CONN_TARGET"
    [[ "${SKIP_10M:-0}" == 1 ]] && envs+=" SKIP_10M=1"
    echo "- command: \`$envs bench/run --build ${build#"$root"/}$( ((do_build)) || echo ' --no-build') connections\`"
    echo
    echo "Setup: \`bench/macro/echo_shared_server\`, written against libco's C API: one accept"
    echo "coroutine and one coroutine per connection doing plain blocking \`read()\`/\`write()\` (512-byte"
    echo "buffer on its stack), which the hooks turn into parking on the netpoller; every connection"
    echo "coroutine on one of $conn_share_stacks shared stacks of $conn_stack_size bytes (\`co_alloc_sharestack\`)"
    echo "or, in the private row, on a private stack of $conn_stack_size bytes (\`--private\`). One thread."
    echo "\`bench/macro/idle_conn_client\`, a separate process, opens the connections in batches of 256,"
    echo "sends a message naming the connection on each and checks its echo (so every server coroutine"
    echo "has run and parked in \`read()\`), holds them, then checks that each still echoes."
    echo
    echo '```'
    for mode in "$@"; do
      echo "${prio[*]} taskset -c $app_cpu ${conn_server#"$root"/} --listen 127.0.0.1:PORT --share-stacks $conn_share_stacks --stack-size $conn_stack_size$([[ $mode == private ]] && echo ' --private')"
      echo "${prio[*]} taskset -c $wrk_cpu ${conn_client#"$root"/} --connect 127.0.0.1:PORT --conns $conn_target"
    done
    echo '```'
    echo
    echo "Server VmRSS (/proc/PID/status) is read with no connection, after the client holds its"
    echo "connections, and after the client has closed them all."
    echo
    echo "## Connections held"
    echo
    echo "| server | connections held | still echo after idling | server VmRSS, 0 connections | server VmRSS, all held | delta | **bytes per connection (RSS)** | server page tables (VmPTE, kernel) per connection | VmRSS after the client closed all | connect + first echo, all |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for mode in "$@"; do
      if [[ "$mode" == shared ]]; then label="shared stacks ($conn_share_stacks x $((conn_stack_size / 1024)) KiB)"
      else label="private stacks ($((conn_stack_size / 1024)) KiB each)"; fi
      printf '| %s | %s of %s | %s | %s MiB | %s MiB | %s MiB | **%s B** | %s B | %s MiB | %s s |\n' "$label" \
        "${res[$mode.held]}" "$conn_target" "${res[$mode.verified]:-n/a}" "$(conn_mib "${res[$mode.rss0]}")" \
        "$(conn_mib "${res[$mode.rss1]}")" "$(conn_mib $((${res[$mode.rss1]} - ${res[$mode.rss0]})))" \
        "$(conn_per_kb "$mode" rss0 rss1)" "$(conn_per_kb "$mode" pte0 pte1)" "$(conn_mib "${res[$mode.rss2]}")" "${res[$mode.open_s]}"
    done
    echo
    echo "Server's own count at the peak (SIGUSR1):"
    echo
    for mode in "$@"; do
      echo "- $mode: client \`${res[$mode.held_line]}\`; server \`${res[$mode.stats]}\`; server fds open ${res[$mode.fds0]} -> ${res[$mode.fds1]}; client exit ${res[$mode.client_rc]}, server exit after SIGTERM ${res[$mode.server_rc]}"
    done
    echo
    echo "## Kernel memory (not in RSS), for information"
    echo
    echo "Socket buffers and the kernel's per-socket structures are not part of any process's RSS."
    echo "\`/proc/net/sockstat\` and \`Slab\` are system-wide: both ends of every loopback connection"
    echo "(server and client sockets), plus whatever other jobs on the machine did meanwhile."
    echo
    echo "| server | TCP sockets in use (sockstat) | TCP buffer memory (sockstat mem, pages) | Slab (/proc/meminfo) growth | Slab growth per connection (both ends) |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for mode in "$@"; do
      printf '| %s | %s -> %s | %s -> %s | %s MiB | %s B |\n' "$mode" "${res[$mode.tcp0]}" "${res[$mode.tcp1]}" \
        "${res[$mode.tcpmem0]}" "${res[$mode.tcpmem1]}" \
        "$(conn_mib $((${res[$mode.slab1]} - ${res[$mode.slab0]})))" "$(conn_per_kb "$mode" slab0 slab1)"
    done
    echo
    echo "Idle connections have empty queues, so the buffer pages stay near zero; the slab growth"
    echo "(socket, inode, dentry, file, epoll item per socket) is what a kernel pays per connection."
    echo
    echo "## 10 million"
    echo
    local shared_pc="" private_pc=""
    shared_pc="$(conn_per_kb shared rss0 rss1)"
    [[ " $* " == *" private "* ]] && private_pc="$(conn_per_kb private rss0 rss1)"
    echo "| figure | bytes each | for 10 million | how obtained |"
    echo "| --- | ---: | ---: | --- |"
    if [[ -n "$libco10m" ]]; then
      echo "| parked libco coroutine on shared stacks (\`co_create\` + \`co_yield_ct\`), memory_bench | $libco10m B | $(conn_gib_10m "$libco10m") GiB | **measured**: 10,000,000 coroutines parked in one process |"
    fi
    if [[ -n "$go10m" ]]; then
      echo "| parked \`co::go\` coroutine on shared stacks (\`WaitGroup::wait\`), memory_bench | $go10m B | $(conn_gib_10m "$go10m") GiB | **measured**: 10,000,000 coroutines parked in one process |"
    fi
    [[ -z "$libco10m$go10m" ]] && echo "| 10M parked coroutines (memory_bench --only-10m) | — | — | $mem10m_note |"
    echo "| idle echo connection, server RSS, shared stacks | $shared_pc B | $(conn_gib_10m "$shared_pc") GiB | **extrapolated**: $shared_pc B measured over ${res[shared.held]} connections, x 10M |"
    [[ -n "$private_pc" ]] &&
      echo "| idle echo connection, server RSS, private stacks | $private_pc B | $(conn_gib_10m "$private_pc") GiB | **extrapolated**: measured over ${res[private.held]} connections, x 10M |"
    echo
    echo "10 million *connections* were not opened: the fd limit here allows ~$hard per process, and a"
    echo "single client address reaches ~$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range) ports of a server port. What is measured at 10M is the"
    echo "parked coroutine itself; a connection costs the server more (its 512-byte buffer and the"
    echo "hook's park frames in the saved stack copy, the connection object, fd-table and netpoller"
    echo "entries), and that per-connection figure, measured over ${res[shared.held]} connections, is what"
    echo "the 10M-connection line multiplies. It counts user-space memory only: kernel socket"
    echo "structures and buffers (previous section) are not in RSS and would come on top."
    if [[ -s "$tmp/memory_bench.txt" ]]; then
      echo
      echo "### memory_bench --only-10m"
      echo
      echo '```'
      echo "${prio[*]} taskset -c $app_cpu ${membench#"$root"/} --only-10m"
      echo '```'
      echo
      sed 's/^## /#### /' "$tmp/memory_bench.txt"
    fi
    echo
    echo "Plot: $(basename "${md%.md}.png")."
  } > "$md"
  conn_plot "${md%.md}.png" "$commit" "$shared_pc" "$private_pc" "$libco10m" "$go10m"
  log "wrote $md"
  cat "$md"
}

# conn_plot PNG COMMIT SHARED PRIVATE LIBCO10M GO10M: bytes per idle connection (measured over
# the connections held) beside bytes per parked coroutine (measured at 10 million).
conn_plot() {
  local png="$1" commit="$2" dat="$tmp/plot.dat"
  : > "$dat"
  [[ -n "$3" ]] && printf '"idle connection,\\nshared stacks\\n(%s held)"\t%s\t1\n' "${res[shared.held]}" "$3" >> "$dat"
  [[ -n "$4" ]] && printf '"idle connection,\\nprivate stacks\\n(%s held)"\t%s\t1\n' "${res[private.held]}" "$4" >> "$dat"
  [[ -n "$5" ]] && printf '"parked coroutine,\\nlibco API, shared\\n(10M parked)"\t%s\t2\n' "$5" >> "$dat"
  [[ -n "$6" ]] && printf '"parked coroutine,\\nco::go, shared\\n(10M parked)"\t%s\t2\n' "$6" >> "$dat"
  command -v gnuplot >/dev/null || { log "gnuplot missing: no PNG"; return 0; }
  gnuplot <<EOF 2>"$tmp/gnuplot.err" || { cat "$tmp/gnuplot.err" >&2; log "gnuplot failed: no PNG"; }
set terminal pngcairo size 900,520 noenhanced font "DejaVu Sans,10"
set output "$png"
set title "Resident bytes per idle TCP connection (one thread) and per parked coroutine\n$(uname -n), $(date '+%Y-%m-%d'), commit $commit"
set ylabel "bytes of RSS each"
set style fill solid 0.8 border -1
set boxwidth 0.6
set yrange [0:*]
set offsets 0.5, 0.5, graph 0.1, 0
set grid ytics
unset key
set bmargin 5
plot "$dat" using 0:2:(\$3 == 1 ? 0x4477aa : 0x228833):xtic(1) with boxes lc rgb variable, \
     "" using 0:2:(sprintf("%d B", \$2)) with labels offset 0,0.8
EOF
  [[ -e "$png" ]] && log "wrote $png"
  return 0
}
