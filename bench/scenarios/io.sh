# shellcheck shell=bash
# bench/run io: the I/O-bound scenario, sourced by bench/run (uses its helpers and options).
#
# wrk -> nginx (1 worker) -> a FastCGI app whose every request runs SELECT SLEEP(0.05) on a
# private MariaDB (unix socket), at wrk concurrency 50, 200, 500, 1000. Contenders:
#   cofcgi    examples/sleep_sql, one app thread, co::mysql::Pool of IO_POOL connections,
#             behind upstream keepalive (it multiplexes kept connections); at c=500 also
#             without it ("cofcgi-nokeep": the peers' nginx configuration, for reference);
#   cofcgi-NAME  the same from another build (--compare NAME=DIR), configured the same way;
#   libfcgi   bench/peers/libfcgi_sleep_sql.c, IO_WORKERS threads, a MariaDB connection each;
#   php-fpm   bench/peers/sleep_sql.php, pm static, IO_WORKERS children, mysqli persistent
#             connection each, opcache on.
# The peers get no upstream keepalive: a kept connection pins one of their workers for good,
# so nginx's other connections would wait in the backlog until fastcgi_read_timeout; closing
# after each request is how they are deployed. Both get listen backlog 4096 so that queued
# requests wait instead of being refused.
# Per run also the per-request costs of bench/run's per_request_costs: app and nginx CPU
# microseconds per request and the app's syscalls per request (perf), in steady-state windows.
# The contenders' order rotates from round to round (drift on a shared machine spreads evenly).
# Then "equal memory": each peer restarted with as many workers as fit in the PSS cofcgi used
# at concurrency 500, measured again at 500.
#
# Environment: IO_CONCURRENCY ("50 200 500 1000"), IO_WORKERS (32), IO_POOL (500), IO_SLEEP
# (0.05), IO_EQUAL_MEMORY (1; 0 skips it), IO_EQ_MAX (2000: cap on the equal-memory workers),
# IO_CPUS (CPU list every process is pinned to; default all of them: the scenario is
# I/O-bound and MariaDB, nginx, the app and wrk share the machine's cores).

# bench/run sets root, build, tmp, prio, started_pid, ...; private_mariadb.sh sets mariadb_*:
# shellcheck disable=SC2154
# shellcheck source=../lib/private_mariadb.sh
source "$root/bench/lib/private_mariadb.sh"

# mem_kib PID: "RSS PSS" in KiB of PID and its children (php-fpm's workers), from
# smaps_rollup. RSS counts shared pages once per process; PSS divides them among the sharers.
mem_kib() {
  local p rss=0 pss=0 r s
  for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    read -r r s < <(awk '/^Rss:/ {r = $2} /^Pss:/ {s = $2} END {print r + 0, s + 0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
    rss=$((rss + r))
    pss=$((pss + s))
  done
  echo "$rss $pss"
}

# mem_sampler PID FILE: until killed, writes the peak "RSS PSS" (KiB) seen so far to FILE,
# sampling every 0.25 s.
mem_sampler() {
  local max_r=0 max_p=0 r p
  while :; do
    read -r r p < <(mem_kib "$1")
    ((r > max_r)) && max_r=$r
    ((p > max_p)) && max_p=$p
    echo "$max_r $max_p" > "$2.new" && mv "$2.new" "$2"
    sleep 0.25
  done
}

# listen_queue PORT: connections waiting in the app's accept queue.
listen_queue() { ss -Htln "sport = :$1" 2>/dev/null | awk '{s += $2} END {print s + 0}'; }

# drain PORT: waits until the app has no queued connection and nothing in flight any more
# (the previous measurement's leftovers must not load the next one).
drain() {
  local port="$1"
  for _ in $(seq 120); do
    [[ "$(listen_queue "$port")" = 0 ]] &&
      [[ "$(ss -Htn state established "( sport = :$port )" 2>/dev/null | awk '$2 > 0 || $3 > 0' | wc -l)" = 0 ]] && break
    sleep 0.25
  done
  sleep "$(awk -v s="$io_sleep" 'BEGIN {print 2 * s + 0.2}')"
}

# php_pool_conf NAME PORT CHILDREN: a php-fpm configuration with one static pool.
php_pool_conf() {
  cat <<EOF
[global]
pid = $tmp/php-$1.pid
error_log = $tmp/php-$1.error.log
daemonize = no
process.max = 0
[$1]
listen = 127.0.0.1:$2
listen.backlog = 4096
pm = static
pm.max_children = $3
pm.max_requests = 0
access.log = /dev/null
clear_env = yes
env[MYSQL_SOCKET] = $mariadb_socket
php_admin_value[opcache.enable] = 1
php_admin_value[mysqli.allow_persistent] = 1
php_admin_value[mysqli.max_persistent] = -1
EOF
}

# io_start_app KEY WORKERS: starts contender KEY's app (cofcgi, libfcgi, php-fpm and their
# -probe/-eq instances) with WORKERS threads/children on its app port; sets $started_pid.
io_start_app() {
  local key="$1" workers="$2" port="${app_port[$1]}"
  case "$key" in
    cofcgi | cofcgi-*)
      start "$key" "$io_cpus" "${cof_bin[$key]}" --listen "127.0.0.1:$port" --threads 1 \
        --mysql-socket "$mariadb_socket" --pool "$io_pool" ;;
    libfcgi*)
      start "$key" "$io_cpus" "$libfcgi_peer" --listen "127.0.0.1:$port" --threads "$workers" \
        --mysql-socket "$mariadb_socket" --backlog 4096 ;;
    php-fpm*)
      php_pool_conf "$key" "$port" "$workers" > "$tmp/$key.conf"
      local php_root=()
      [[ "$(id -u)" = 0 ]] && php_root=(-R)
      start "$key" "$io_cpus" "$php_fpm" "${php_root[@]}" --nodaemonize --fpm-config "$tmp/$key.conf" ;;
    *) die "io: no app $key" ;;
  esac
  app_pid[$key]=$started_pid
  wait_port "$port" "$started_pid" "$key"
}

# stop_app KEY: ends KEY's app (its process group) and waits until it is gone, so that its
# port, memory and MariaDB connections are free again.
stop_app() {
  local pid="${app_pid[$1]}"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  sleep 0.2
}

# io_check KEY: one request through nginx must answer the sleep_sql body.
io_check() {
  local body
  body="$(curl -sS --max-time 10 "http://127.0.0.1:${web_port[$1]}/?s=$io_sleep" || true)"
  [[ "$body" == "SLEEP($io_sleep) = 0" ]] ||
    { tail -n 20 "$tmp"/*.log >&2; die "$1 answered '$body' (expected SLEEP($io_sleep) = 0)"; }
}

# io_measure ROUND KEY CONCURRENCY: one wrk run; appends a line to $raw.
io_measure() {
  local r="$1" key="$2" c="$3" port="${web_port[$2]}" apid="${app_pid[$2]}"
  drain "${app_port[$key]}"
  local a0 a1 n0 n1 m0 m1 t0 t1 out sampler wrk_pid costs
  mem_sampler "$apid" "$tmp/mem-$key" &
  sampler=$!
  a0="$(cpu_ticks "$apid")"; n0="$(cpu_ticks "$worker")"; m0="$(cpu_ticks "$mariadb_pid")"
  t0="$(date +%s.%N)"
  "${prio[@]}" taskset -c "$io_cpus" wrk -t1 "-c$c" "-d$duration" --timeout 30s --latency \
    "http://127.0.0.1:$port/?s=$io_sleep" > "$tmp/wrk.out" 2>&1 &
  wrk_pid=$!
  costs="$(per_request_costs "$(duration_s "$duration")" "$status_port" "$apid" "$worker")"
  wait "$wrk_pid" || { cat "$tmp/wrk.out" >&2; die "wrk failed"; }
  out="$(cat "$tmp/wrk.out")"
  t1="$(date +%s.%N)"
  a1="$(cpu_ticks "$apid")"; n1="$(cpu_ticks "$worker")"; m1="$(cpu_ticks "$mariadb_pid")"
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  echo "$out" > "$tmp/wrk-$r-$key-$c.txt"
  local rps p50 p99 non2xx serr secs rss pss app_us ngx_us sys_req sys_names
  read -r rps p50 p99 non2xx serr < <(wrk_figures "$out")
  read -r app_us ngx_us sys_req sys_names <<<"$costs"
  secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
  read -r rss pss < "$tmp/mem-$key"
  pct() { awk -v a="$1" -v b="$2" -v t="$clk_tck" -v s="$secs" 'BEGIN {printf "%.0f", 100 * (b - a) / t / s}'; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$key" "$c" "$rps" "$p50" "$p99" \
    "${non2xx:-0}" "${serr:-0}" "$((rss / 1024))" "$((pss / 1024))" "$(pct "$a0" "$a1")" "$(pct "$n0" "$n1")" \
    "$(pct "$m0" "$m1")" "${workers_of[$key]}" "$app_us" "$ngx_us" "$sys_req" "$sys_names" >> "$raw"
  printf '  %-10s c=%-5s %9s req/s  p50 %9s ms  p99 %9s ms  non-2xx %s  socket errors %s  RSS %s MiB  PSS %s MiB  cpu app %s%% nginx %s%% mariadbd %s%%  per request: app %s us, nginx %s us, %s syscalls (%s)\n' \
    "$key" "$c" "$rps" "$p50" "$p99" "${non2xx:-0}" "${serr:-0}" "$((rss / 1024))" "$((pss / 1024))" \
    "$(pct "$a0" "$a1")" "$(pct "$n0" "$n1")" "$(pct "$m0" "$m1")" "$app_us" "$ngx_us" "$sys_req" "$sys_names" >&2
}

scenario_io() {
  need wrk wrk
  need nginx nginx
  need gnuplot gnuplot-nox
  need ss iproute2
  need curl curl
  [[ -e /usr/include/fcgiapp.h ]] || die "libfcgi headers missing (apt-get install libfcgi-dev)"
  io_conc="${IO_CONCURRENCY:-50 200 500 1000}"
  io_workers="${IO_WORKERS:-32}"
  io_pool="${IO_POOL:-500}"
  io_sleep="${IO_SLEEP:-0.05}"
  local io_eq="${IO_EQUAL_MEMORY:-1}" io_eq_max="${IO_EQ_MAX:-2000}"
  io_cpus="${IO_CPUS:-0-$(($(nproc) - 1))}"

  build_targets sleep_sql
  sleep_sql="$build/examples/sleep_sql"
  [[ -x "$sleep_sql" ]] || die "$sleep_sql missing (build it, or drop --no-build)"
  declare -gA cof_bin=([cofcgi]="$sleep_sql")
  local cof_keys=(cofcgi) name
  for name in "${compare_names[@]}"; do
    cof_bin[cofcgi-$name]="${compare_dir[$name]}/examples/sleep_sql"
    [[ -x "${cof_bin[cofcgi-$name]}" ]] || die "--compare $name: ${cof_bin[cofcgi-$name]} missing (build it there)"
    cof_keys+=("cofcgi-$name")
  done
  ((perf_available)) || log "perf with syscall tracepoints not available (linux-perf; root): no syscall counts"
  # shellcheck disable=SC2046
  libfcgi_peer="$(build_peer libfcgi_sleep_sql $(pkg-config --cflags --libs libmariadb) -lfcgi)"
  php_fpm="$(command -v php-fpm 2>/dev/null || ls /usr/sbin/php-fpm* 2>/dev/null | head -1 || true)"
  [[ -n "$php_fpm" ]] || die "php-fpm not found (apt-get install php-fpm php-mysql)"
  "${php_fpm}" -m 2>/dev/null | grep -qx mysqli || die "php-fpm lacks mysqli (apt-get install php-mysql)"

  tmp="$(mktemp -d /tmp/cofcgi-bench-io.XXXXXX)"
  chmod 755 "$tmp"
  mkdir -p "$tmp/tmp"
  cp "$root/bench/peers/sleep_sql.php" "$tmp/sleep_sql.php"
  chmod 644 "$tmp/sleep_sql.php"

  local max_c
  max_c="$(tr ' ' '\n' <<<"$io_conc" | sort -n | tail -1)"
  start_private_mariadb "$tmp/mariadb" "$io_cpus" $((${#cof_keys[@]} * io_pool + 3 * io_workers + io_eq_max + 100))

  # Apps: the contenders, 1-worker probes (the memory a peer needs before its workers) and
  # the equal-memory instances, started later.
  declare -gA app_port web_port app_pid workers_of
  local keys=("${cof_keys[@]}" cofcgi-nokeep libfcgi php-fpm libfcgi-probe php-fpm-probe libfcgi-eq php-fpm-eq) k
  for k in "${keys[@]}"; do
    app_port[$k]="$(free_port)"
    web_port[$k]="$(free_port)"
  done
  app_port[cofcgi-nokeep]="${app_port[cofcgi]}"  # the same app, reached without keep-alive
  status_port="$(free_port)"
  local conf="$tmp/nginx.conf"
  {
    nginx_conf_preamble $((4 * max_c + 1024))
    nginx_status_server "$status_port"
    for k in "${keys[@]}"; do
      if [[ -n "${cof_bin[$k]:-}" ]]; then
        echo "  upstream $k { server 127.0.0.1:${app_port[$k]}; keepalive $((max_c + 24)); keepalive_requests 1000000; }"
      else
        echo "  upstream $k { server 127.0.0.1:${app_port[$k]}; }"
      fi
      cat <<EOF
  server {
    listen 127.0.0.1:${web_port[$k]} backlog=4096;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $tmp/sleep_sql.php;
      fastcgi_pass $k;
$([[ -n "${cof_bin[$k]:-}" ]] && echo "      fastcgi_keep_conn on;")
    }
  }
EOF
    done
    echo "}"
  } > "$conf"
  local nginx_pid
  start nginx "$io_cpus" nginx -p "$tmp" -c "$conf" -e "$tmp/error.log"
  nginx_pid=$started_pid
  wait_port "${web_port[cofcgi]}" "$nginx_pid" nginx
  worker="$(nginx_worker "$nginx_pid")"

  workers_of=([libfcgi]=$io_workers [php-fpm]=$io_workers [libfcgi-probe]=1 [php-fpm-probe]=1)
  for k in "${cof_keys[@]}"; do workers_of[$k]=1; done
  for k in "${cof_keys[@]}" libfcgi php-fpm libfcgi-probe php-fpm-probe; do
    io_start_app "$k" "${workers_of[$k]}"
    io_check "$k"
  done
  app_pid[cofcgi-nokeep]="${app_pid[cofcgi]}"
  workers_of[cofcgi-nokeep]=1
  io_check cofcgi-nokeep
  local eq_c=500
  [[ " $io_conc " == *" 500 "* ]] || eq_c="$max_c"

  local contenders=()
  for k in "${cof_keys[@]}" libfcgi php-fpm; do want "$k" && contenders+=("$k"); done
  ((${#contenders[@]})) || die "--only $only selects no contender"

  # Warm-up at the highest concurrency: fills cofcgi's pool, every peer worker connects.
  log "warming up ($warmup each at c=$max_c)"
  for k in "${contenders[@]}"; do
    drain "${app_port[$k]}"
    "${prio[@]}" wrk -t1 "-c$max_c" "-d$warmup" --timeout 30s "http://127.0.0.1:${web_port[$k]}/?s=$io_sleep" >/dev/null 2>&1 || true
  done

  # Idle memory after warm-up: the peers' cost per worker, from N workers vs 1 worker.
  local k_base
  declare -gA idle_pss
  for k in libfcgi php-fpm libfcgi-probe php-fpm-probe "${cof_keys[@]}"; do
    drain "${app_port[$k]}"
    idle_pss[$k]="$(mem_kib "${app_pid[$k]}" | awk '{print $2}')"
  done

  raw="$tmp/raw.tsv"
  : > "$raw"
  local r c i n_cont=${#contenders[@]}
  for ((r = 1; r <= rounds; r++)); do
    for c in $io_conc; do
      for ((i = 0; i < n_cont; i++)); do
        k="${contenders[$(((i + r - 1) % n_cont))]}"
        log "round $r/$rounds: $k at c=$c"
        io_measure "$r" "$k" "$c"
      done
      if [[ "$c" = "$eq_c" && " ${contenders[*]} " == *" cofcgi "* ]]; then
        log "round $r/$rounds: cofcgi without upstream keepalive at c=$c"
        io_measure "$r" cofcgi-nokeep "$c"
      fi
    done
  done
  for k in "${cof_keys[@]}" libfcgi php-fpm; do
    kill -0 "${app_pid[$k]}" 2>/dev/null || die "$k died during the run (see $tmp/$k.log)"
  done

  # Equal memory: workers = (cofcgi's peak PSS at c=500 - the peer's base) / its cost per
  # worker, where base and cost come from the idle N-worker and 1-worker instances.
  eq_note=""
  if ((io_eq)) && [[ " ${contenders[*]} " == *" cofcgi "* ]]; then
    local cof_pss
    cof_pss="$(awk -v c="$eq_c" '$2 == "cofcgi" && $3 == c {print $10 * 1024}' "$raw" | median_of)"
    for k_base in libfcgi php-fpm; do
      [[ " ${contenders[*]} " == *" $k_base "* ]] || continue
      local n per base n_eq
      n="${workers_of[$k_base]}"
      per="$(awk -v a="${idle_pss[$k_base]}" -v b="${idle_pss[$k_base-probe]}" -v n="$n" 'BEGIN {v = (a - b) / (n - 1); print (v > 1) ? v : 1}')"
      base="$(awk -v b="${idle_pss[$k_base-probe]}" -v p="$per" 'BEGIN {print b - p}')"
      n_eq="$(awk -v m="$cof_pss" -v b="$base" -v p="$per" -v cap="$io_eq_max" 'BEGIN {v = int((m - b) / p); if (v < 1) v = 1; if (v > cap) v = cap; print v}')"
      stop_app "$k_base"  # its memory and MariaDB connections go back
      # Memory is not linear in workers (glibc shares at most 8 malloc arenas per core among
      # threads): start with the estimate, then correct it once from the warm instance.
      local pass eq_pss
      for pass in 1 2; do
        workers_of[$k_base-eq]=$n_eq
        log "equal memory: $k_base with $n_eq workers (base $((${base%.*} / 1024)) MiB + $per KiB each vs cofcgi $((cof_pss / 1024)) MiB PSS)"
        io_start_app "$k_base-eq" "$n_eq"
        io_check "$k_base-eq"
        drain "${app_port[$k_base-eq]}"
        "${prio[@]}" wrk -t1 "-c$max_c" "-d$warmup" --timeout 30s "http://127.0.0.1:${web_port[$k_base-eq]}/?s=$io_sleep" >/dev/null 2>&1 || true
        drain "${app_port[$k_base-eq]}"
        eq_pss="$(mem_kib "${app_pid[$k_base-eq]}" | awk '{print $2}')"
        ((pass == 2)) && break
        per="$(awk -v a="$eq_pss" -v b="$base" -v n="$n_eq" 'BEGIN {v = (a - b) / n; print (v > 1) ? v : 1}')"
        local n_next
        n_next="$(awk -v m="$cof_pss" -v b="$base" -v p="$per" -v cap="$io_eq_max" 'BEGIN {v = int((m - b) / p); if (v < 1) v = 1; if (v > cap) v = cap; print v}')"
        awk -v a="$n_next" -v b="$n_eq" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d > 0.05 * b)}' || break
        n_eq=$n_next
        stop_app "$k_base-eq"
      done
      eq_note+="| $k_base | $((${idle_pss[$k_base-probe]} / 1024)) | $(awk -v p="$per" 'BEGIN {printf "%.0f", p}') | $((cof_pss / 1024)) | $n_eq | $((eq_pss / 1024)) |"$'\n'
      for ((r = 1; r <= rounds; r++)); do
        log "round $r/$rounds: $k_base-eq at c=$eq_c"
        io_measure "$r" "$k_base-eq" "$eq_c"
      done
      stop_app "$k_base-eq"
    done
  fi
  report_io
}

report_io() {
  local date_tag md png commit dirty
  date_tag="$(date +%Y-%m-%d)"
  mkdir -p "$outdir"
  md="$outdir/io-$date_tag.md"
  [[ -e "$md" ]] && md="$outdir/io-$date_tag-$(date +%H%M%S).md"
  png="${md%.md}.png"
  commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dirty="$(git -C "$root" diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)')"

  # Medians over rounds per (contender, concurrency): the table rows, in $tmp/med.tsv:
  # key c rps p50 p99 non2xx(sum) serr(sum) rss pss appcpu nginxcpu dbcpu workers app_us
  # nginx_us syscalls breakdown(last round's); "-" (not measured) stays out of a median.
  awk -F'\t' '{ k = $2 "\t" $3; n[k]++; if (!(k in order)) { order[k] = ++m; keys[m] = k }
      for (i = 4; i <= 17; i++) v[k, i, n[k]] = $i
      last[k] = $18 }
    END {
      for (j = 1; j <= m; j++) {
        k = keys[j]; line = k
        for (i = 4; i <= 17; i++) {
          if (i == 7 || i == 8) { s = 0; for (x = 1; x <= n[k]; x++) s += v[k, i, x]; line = line "\t" s; continue }
          c = 0; for (x = 1; x <= n[k]; x++) if (v[k, i, x] != "-" && v[k, i, x] != "") a[++c] = v[k, i, x] + 0
          if (c == 0) { line = line "\t-"; continue }
          for (x = 1; x <= c; x++) for (y = x + 1; y <= c; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
          med = (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
          line = line "\t" med
        }
        print line "\t" last[k]
      }
    }' "$raw" > "$tmp/med.tsv"
  med() { awk -F'\t' -v k="$1" -v c="$2" -v f="$3" '$1 == k && $2 == c {print $f}' "$tmp/med.tsv"; }
  ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }
  label_of() {
    case "$1" in
      cofcgi) echo "cofcgi sleep_sql, 1 thread, pool $io_pool ($(build_commit "$build"))" ;;
      cofcgi-nokeep) echo "cofcgi, same app, no upstream keepalive (reference)" ;;
      cofcgi-*) echo "cofcgi ${1#cofcgi-} ($(build_commit "${compare_dir[${1#cofcgi-}]}")), same settings" ;;
      libfcgi) echo "libfcgi, $io_workers threads" ;;
      php-fpm) echo "php-fpm, $io_workers children" ;;
      libfcgi-eq) echo "libfcgi, ${workers_of[libfcgi-eq]} threads (equal memory)" ;;
      php-fpm-eq) echo "php-fpm, ${workers_of[php-fpm-eq]} children (equal memory)" ;;
    esac
  }
  local eq_c=500
  [[ " $io_conc " == *" 500 "* ]] || eq_c="$(tr ' ' '\n' <<<"$io_conc" | sort -n | tail -1)"

  {
    echo "# I/O-bound: SELECT SLEEP($io_sleep) per request through nginx, $(date '+%Y-%m-%d %H:%M %Z')"
    echo
    echo "- machine: $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other jobs ran alongside)"
    echo "- commit: $commit$dirty"
    echo "- build: ${build#$root/} (CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" | cut -d= -f2)); $(${CXX:-c++} --version | head -1)"
    echo "- $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $("$mariadb_bin" --version 2>/dev/null | awk '{print $1, $3}'); libfcgi $(dpkg-query -W -f '${Version}' libfcgi-dev 2>/dev/null || echo '?'); $("$php_fpm" -v 2>/dev/null | head -1 | cut -d' ' -f1-2)"
    local envs="IO_CONCURRENCY=\"$io_conc\" IO_WORKERS=$io_workers IO_POOL=$io_pool IO_SLEEP=$io_sleep IO_CPUS=$io_cpus"
    if ((bench_rt > 0)); then envs+=" BENCH_RT=$bench_rt"; else envs+=" BENCH_NICE=$bench_nice"; fi
    local cmp="" name
    for name in "${compare_names[@]}"; do cmp+=" --compare $name=${compare_dir[$name]}"; done
    echo "- command: \`$envs bench/run --build ${build#$root/}$( ((do_build)) || echo ' --no-build')$cmp --rounds $rounds --duration $duration io\`"
    echo
    echo "Setup: one private \`mariadbd\` (unix socket, thread per connection), one nginx worker;"
    echo "each request is \`GET /?s=$io_sleep\` and runs \`SELECT SLEEP($io_sleep)\`. cofcgi:"
    echo "\`examples/sleep_sql --threads 1 --pool $io_pool\` behind \`upstream { keepalive $((${max_c:-1000} + 24)); }\` +"
    echo "\`fastcgi_keep_conn on\`. libfcgi: \`bench/peers/libfcgi_sleep_sql.c\` (threads in"
    echo "FCGX_Accept_r, one MariaDB connection per thread). php-fpm: \`bench/peers/sleep_sql.php\`"
    echo "(mysqli persistent connection per child, opcache on, pm static). The peers have no"
    echo "upstream keep-alive (a kept connection would pin one of their workers) and listen"
    echo "backlog 4096; the reference row \"cofcgi, no upstream keepalive\" is the same cofcgi app"
    echo "behind the peers' nginx configuration, at c=$eq_c. All pools were warmed at"
    echo "c=${max_c:-1000} first. Every process (MariaDB, nginx, the apps, wrk) is pinned to CPUs"
    echo "$io_cpus with \`${prio[*]}\`. Load:"
    echo
    echo '```'
    echo "${prio[*]} taskset -c $io_cpus wrk -t1 -cC -d$duration --timeout 30s --latency 'http://127.0.0.1:PORT/?s=$io_sleep'"
    echo '```'
    echo
    echo "Limit = Little's law: min(concurrency, workers) / $io_sleep s. Memory is the peak over"
    echo "samples every 0.25 s during the run of the app (php-fpm: master + children): RSS"
    echo "counts pages shared between php-fpm children once per child, PSS splits them."
    echo
    echo "## Medians over $rounds round(s)"
    echo
    echo "| contender | concurrency | requests/s | % of limit | p50 ms | p99 ms | non-2xx | socket errors | peak RSS MiB | peak PSS MiB | app CPU % | nginx CPU % | mariadbd CPU % | app CPU µs/req | nginx CPU µs/req | app syscalls/req |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    local key c rps p50 p99 non serr rss pss acpu ncpu mcpu w aus nus sreq snames limit
    while IFS=$'\t' read -r key c rps p50 p99 non serr rss pss acpu ncpu mcpu w aus nus sreq snames; do
      if [[ "$key" == cofcgi* ]]; then
        limit="$(awk -v c="$c" -v p="$io_pool" -v s="$io_sleep" 'BEGIN {print (c < p ? c : p) / s}')"
      else
        limit="$(awk -v c="$c" -v w="$w" -v s="$io_sleep" 'BEGIN {print (c < w ? c : w) / s}')"
      fi
      printf '| %s | %s | %.0f | %.0f %% | %.1f | %.1f | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %s | %s |\n' "$(label_of "$key")" "$c" "$rps" \
        "$(awk -v r="$rps" -v l="$limit" 'BEGIN {print 100 * r / l}')" "$p50" "$p99" "$non" "$serr" "$rss" "$pss" "$acpu" "$ncpu" "$mcpu" "$aus" "$nus" "$sreq"
    done < "$tmp/med.tsv"
    echo
    echo "Per-request costs (bench/run's per_request_costs), medians over rounds: app and nginx CPU"
    echo "µs per request from /proc/PID/stat utime+stime over the window from 1/6 to 1/2 of each"
    echo "run; the app's syscalls per request over the window from 1/2 to 5/6, counted by"
    echo "\`perf stat -e raw_syscalls:sys_enter -p APP\` (every syscall of every app thread and"
    echo "child, whatever its kind); requests in each window from nginx's stub_status."
    echo
    echo "### Syscalls per request by name (last round)"
    echo
    echo "| contender | concurrency | syscalls/req | of which |"
    echo "| --- | ---: | ---: | --- |"
    while IFS=$'\t' read -r key c rps p50 p99 non serr rss pss acpu ncpu mcpu w aus nus sreq snames; do
      echo "| $(label_of "$key") | $c | $sreq | ${snames//;/, } |"
    done < "$tmp/med.tsv"
    echo
    echo "## Targets (medians)"
    echo
    echo "| figure | value | target | verdict |"
    echo "| --- | ---: | --- | --- |"
    local v cof500
    cof500="$(med cofcgi "$eq_c" 3)"
    if [[ -n "$cof500" ]]; then
      v="$(awk -v r="$cof500" -v c="$eq_c" -v s="$io_sleep" 'BEGIN {printf "%.0f", 100 * r * s / c}')"
      echo "| cofcgi at c=$eq_c, % of $eq_c / $io_sleep s = $(awk -v c="$eq_c" -v s="$io_sleep" 'BEGIN {print c / s}') req/s | $v % | >= 90 % | $( ((v >= 90)) && echo met || echo '**missed**') |"
      local nokeep
      nokeep="$(med cofcgi-nokeep "$eq_c" 3)"
      if [[ -n "$nokeep" && -n "$(med libfcgi "$eq_c" 3)" ]]; then
        echo "| reference: cofcgi without upstream keepalive (the peers' nginx configuration) / libfcgi, $io_workers threads at c=$eq_c | $(ratio "$nokeep" "$(med libfcgi "$eq_c" 3)")x | (>= 10x) | |"
      fi
      for k in libfcgi php-fpm libfcgi-eq php-fpm-eq; do
        local peer_rps
        peer_rps="$(med "$k" "$eq_c" 3)"
        [[ -n "$peer_rps" ]] || continue
        v="$(ratio "$cof500" "$peer_rps")"
        echo "| cofcgi / $(label_of "$k") at c=$eq_c | ${v}x | >= 10x | $(awk -v v="$v" 'BEGIN {print (v >= 10) ? "met" : "**missed**"}') |"
      done
    fi
    echo
    echo "## Per-request costs (issue 15's goals; medians)"
    echo
    echo "| figure | contender | value | goal | verdict |"
    echo "| --- | --- | ---: | --- | --- |"
    local ck cval
    for ck in "${cof_keys[@]}"; do
      cval="$(med "$ck" "$eq_c" 16)"
      [[ -n "$cval" && "$cval" != - ]] &&
        echo "| app syscalls per request at c=$eq_c | $(label_of "$ck") | $cval | <= 5 | $(awk -v v="$cval" 'BEGIN {print (v <= 5) ? "met" : "**missed**"}') |"
      cval="$(med "$ck" "$eq_c" 14)"
      [[ -n "$cval" && "$cval" != - ]] &&
        echo "| app CPU µs per request at c=$eq_c | $(label_of "$ck") | $cval | <= 20 | $(awk -v v="$cval" 'BEGIN {print (v <= 20) ? "met" : "**missed**"}') |"
      cval="$(med "$ck" 1000 3)"
      if [[ -n "$cval" ]] && ((io_pool >= 1000)); then
        echo "| requests/s at c=1000, pool $io_pool | $(label_of "$ck") | $(printf '%.0f' "$cval") | >= 18,000 | $(awk -v v="$cval" 'BEGIN {print (v >= 18000) ? "met" : "**missed**"}') |"
      fi
    done
    if ((${#cof_keys[@]} > 1)); then
      echo
      echo "Ratios this build / the other build, per round at the same concurrency, median over rounds:"
      echo
      echo "| other build | concurrency | requests/s | app CPU µs/req | nginx CPU µs/req | app syscalls/req |"
      echo "| --- | ---: | ---: | ---: | ---: | ---: |"
      for ck in "${cof_keys[@]:1}"; do
        for c in $io_conc; do
          local cells=() f
          for f in 4 15 16 17; do
            cells+=("$(awk -F'\t' -v x=cofcgi -v y="$ck" -v c="$c" -v f="$f" '$3 == c && $2 == x {a[$1] = $f} $3 == c && $2 == y {b[$1] = $f}
              END { for (r in a) if ((r in b) && a[r] != "-" && b[r] != "-" && b[r] > 0) printf "%.4f\n", a[r] / b[r] }' "$raw" | median_of | awk '{printf "%.2f", $1}')")
          done
          echo "| $(label_of "$ck") | $c | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} |"
        done
      done
    fi
    echo
    if [[ -n "$eq_note" ]]; then
      echo "## Equal memory: how the peers' worker counts were chosen"
      echo
      echo "Workers = (cofcgi's peak PSS at c=$eq_c - the peer's base) / the peer's PSS per worker,"
      echo "measured idle after warm-up: base from an instance with 1 worker, per worker first from"
      echo "the $io_workers-worker instance minus that (so a worker's MariaDB connection counts in it),"
      echo "then corrected once from the warm equal-memory instance itself (memory is not linear in"
      echo "threads: glibc shares its malloc arenas among them). PSS is user-space memory only: a"
      echo "thread's kernel stack and task (~20 KiB) are not in it."
      echo
      echo "| peer | 1-worker PSS MiB | PSS per worker KiB (final) | cofcgi peak PSS MiB | workers given | their PSS warm, idle, MiB |"
      echo "| --- | ---: | ---: | ---: | ---: | ---: |"
      printf '%s' "$eq_note"
      echo
    fi
    echo "## Every run"
    echo
    echo "| round | contender | concurrency | requests/s | p50 ms | p99 ms | non-2xx | socket errors | peak RSS MiB | peak PSS MiB | app CPU % | nginx CPU % | mariadbd CPU % | app µs/req | nginx µs/req | syscalls/req |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17}' "$raw"
    echo
    echo "Socket errors are wrk's connect + read + write + timeout counts (timeout 30 s). CPU % is"
    echo "user+sys time over the run (100 = one core). Plot: $(basename "$png")."
  } > "$md"

  # Plot: requests/s (log) and p99 (log) against concurrency, one line per contender.
  local dat_args=() k
  for k in "${cof_keys[@]}" libfcgi php-fpm; do
    awk -F'\t' -v k="$k" '$1 == k {print $2, $3, $5}' "$tmp/med.tsv" > "$tmp/plot-$k.dat"
    [[ -s "$tmp/plot-$k.dat" ]] && dat_args+=("$k")
  done
  local plot_rps="" plot_p99="" color
  declare -A colors=([cofcgi]="#228833" [libfcgi]="#4477aa" [php-fpm]="#aa3377")
  for k in "${dat_args[@]}"; do
    color="${colors[$k]:-#ccbb44}"
    plot_rps+="\"$tmp/plot-$k.dat\" using 1:2 with linespoints lw 2 pt 7 lc rgb \"$color\" title \"$(label_of "$k")\", "
    plot_p99+="\"$tmp/plot-$k.dat\" using 1:3 with linespoints lw 2 pt 7 lc rgb \"$color\" title \"$(label_of "$k")\", "
  done
  local pt
  for k in cofcgi-nokeep libfcgi-eq php-fpm-eq; do
    awk -F'\t' -v k="$k" '$1 == k {print $2, $3, $5}' "$tmp/med.tsv" > "$tmp/plot-$k.dat"
    [[ -s "$tmp/plot-$k.dat" ]] || continue
    color="${colors[${k%-*}]}"
    pt=9
    [[ "$k" = cofcgi-nokeep ]] && pt=6
    plot_rps+="\"$tmp/plot-$k.dat\" using 1:2 with points pt $pt ps 2 lc rgb \"$color\" title \"$(label_of "$k")\", "
    plot_p99+="\"$tmp/plot-$k.dat\" using 1:3 with points pt $pt ps 2 lc rgb \"$color\" title \"$(label_of "$k")\", "
  done
  plot_rps+="(x < $io_pool ? x : $io_pool) / $io_sleep with lines dt 2 lc rgb \"#888888\" title \"Little's law: concurrency / ${io_sleep} s\""
  plot_p99="${plot_p99%, }"
  gnuplot <<EOF 2>"$tmp/gnuplot.err" || { cat "$tmp/gnuplot.err" >&2; log "gnuplot failed: no PNG"; }
set terminal pngcairo size 1200,520 noenhanced font "DejaVu Sans,10"
set output "$png"
set multiplot layout 1,2 title "SELECT SLEEP($io_sleep) per request through nginx, wrk -d$duration, median of $rounds round(s) - $(uname -n), $(date '+%Y-%m-%d'), commit $commit"
set logscale xy
set grid
set xlabel "concurrent clients (wrk -c)"
set xrange [35:1400]
set xtics (50, 100, 200, 500, 1000, 2000)
set key bottom right box opaque
set ylabel "requests/s"
set yrange [100:30000]
plot $plot_rps
set ylabel "p99 latency, ms"
set yrange [10:*]
plot $plot_p99
unset multiplot
EOF
  [[ -e "$png" ]] || log "no PNG written"
  log "wrote $md"
  [[ -e "$png" ]] && log "wrote $png"
  cat "$md"
}
