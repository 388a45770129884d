# shellcheck shell=bash
# bench/run tfb: TechEmpower's six test types, sourced by bench/run (uses its helpers).
#
# wrk -c256 -> nginx (1 worker) -> a FastCGI app on TFB's hello_world schema in a private
# MariaDB (examples/techempower_schema.sql; lower_case_table_names=1, utf8 server charset as
# TFB's my.cnf), for each test type: json, plaintext, db, queries (?queries=20), fortunes,
# updates (?queries=20). Contenders:
#   cofcgi      examples/techempower --threads TFB_THREADS (2) --pool TFB_POOL (32, in all),
#               behind upstream keepalive TFB_CONNS + 16 (it multiplexes kept connections);
#   php-N       bench/peers/tfb_php/*.php (PDO, persistent connections, one UPDATE per row:
#               what TFB's frameworks/PHP/php entry does) on php-fpm, pm static with N
#               children for each N in TFB_PHP_CHILDREN ("32 128"), behind upstream keepalive
#               N/2: a kept connection pins a child, so fewer are kept than there are children
#               (else requests on new connections wait in the backlog).
# The same nginx, the same MariaDB; each round runs every test with every contender back to
# back (contenders alternate), medians over the rounds. Every answer is checked first.
# Recorded per run: requests/s, latency, errors, and the CPU time (from /proc/PID/stat) of
# the app (a php-fpm pool: the processes holding its listening socket), the nginx worker and
# mariadbd, per request.
#
# Environment: TFB_TESTS ("json plaintext db queries fortunes updates"), TFB_THREADS (2),
# TFB_POOL (32), TFB_CONNS (256: wrk -c), TFB_PHP_CHILDREN ("32 128"), TFB_CPUS (the CPU list
# every process is pinned to; default all: MariaDB's own CPU matters here).

# bench/run sets root, build, tmp, prio, started_pid, ...; private_mariadb.sh sets mariadb_*:
# shellcheck disable=SC2154
# shellcheck source=../lib/private_mariadb.sh
source "$root/bench/lib/private_mariadb.sh"

# tfb_path TEST: the URL path of a test type (the same for every contender).
tfb_path() {
  case "$1" in
    queries | updates) echo "/$1?queries=20" ;;
    *) echo "/$1" ;;
  esac
}

# tfb_check PORT LABEL: every test type answers as TFB requires before anything is measured.
tfb_check() {
  local url="http://127.0.0.1:$1" label="$2" body ctype t
  body="$(curl -sS --max-time 10 "$url/json")"
  [[ "$body" == '{"message":"Hello, World!"}' ]] || die "$label /json answered '$body'"
  body="$(curl -sS --max-time 10 "$url/plaintext")"
  [[ "$body" == "Hello, World!" ]] || die "$label /plaintext answered '$body'"
  body="$(curl -sS --max-time 10 "$url/db")"
  [[ "$body" =~ ^\{\"id\":[0-9]+,\"randomNumber\":[0-9]+\}$ ]] || die "$label /db answered '$body'"
  for t in queries updates; do
    body="$(curl -sS --max-time 10 "$url$(tfb_path "$t")")"
    [[ "$(grep -o '"randomNumber":[0-9]*' <<<"$body" | wc -l)" = 20 ]] ||
      die "$label $(tfb_path "$t") answered '${body:0:200}'"
  done
  body="$(curl -sS --max-time 10 "$url/fortunes")"
  ctype="$(curl -sS --max-time 10 -o /dev/null -w '%{content_type}' "$url/fortunes")"
  [[ "$body" == *"<tr><td>0</td><td>Additional fortune added at request time.</td></tr>"* &&
    "$body" == *"&lt;script&gt;"* && "$ctype" == "text/html; charset=utf-8" ]] ||
    die "$label /fortunes answered '${body:0:300}' ($ctype)"
}

# tfb_php_conf CHILDREN...: one php-fpm master, a static pool per children count.
tfb_php_conf() {
  cat <<EOF
[global]
pid = $tmp/php-fpm.pid
error_log = $tmp/php-fpm.error.log
daemonize = no
process.max = 0
EOF
  local n
  for n in "$@"; do
    cat <<EOF
[php$n]
listen = 127.0.0.1:${app_port[php-$n]}
listen.backlog = 4096
pm = static
pm.max_children = $n
pm.max_requests = 0
access.log = /dev/null
php_admin_value[opcache.enable] = 1
EOF
  done
}

# tfb_nginx_conf CHILDREN...: one server per contender in one nginx.
tfb_nginx_conf() {
  nginx_conf_preamble 8192
  echo "  upstream cofcgi { server 127.0.0.1:${app_port[cofcgi]}; keepalive $((tconns + 16)); keepalive_requests 1000000; }"
  local n
  for n in "$@"; do
    echo "  upstream php$n { server 127.0.0.1:${app_port[php-$n]}; keepalive $((n / 2)); keepalive_requests 1000000; }"
  done
  cat <<EOF
  server {
    listen 127.0.0.1:${web_port[cofcgi]};
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass cofcgi;
      fastcgi_keep_conn on;
    }
  }
EOF
  for n in "$@"; do
    cat <<EOF
  server {
    listen 127.0.0.1:${web_port[php-$n]};
    root $tmp/php;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$uri.php;
      fastcgi_param TFB_DSN "mysql:unix_socket=$mariadb_socket;dbname=hello_world;charset=utf8mb4";
      fastcgi_pass php$n;
      fastcgi_keep_conn on;
    }
  }
EOF
  done
  echo "}"
}

# tfb_pool_pids PORT: the processes holding a php-fpm pool's listening socket (its children,
# and the master, whose own CPU is negligible).
tfb_pool_pids() {
  ss -Htlnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' '
}

# tfb_ticks PID...: user+sys clock ticks of these processes (all their threads).
tfb_ticks() {
  local p total=0 t
  for p in "$@"; do
    t="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  echo "$total"
}

# tfb_settle PID...: waits (at most 30 s) until these processes use less than 5 % of a core
# over half a second: what the previous run left queued (a php-fpm backlog, MariaDB still
# working through it) must not load the next one.
tfb_settle() {
  local before after
  for _ in $(seq 60); do
    before="$(tfb_ticks "$@")"
    sleep 0.5
    after="$(tfb_ticks "$@")"
    (((after - before) * 100 < 5 * clk_tck / 2)) && return 0
  done
  log "warning: still busy after 30 s: $*"
}

scenario_tfb() {
  tests="${TFB_TESTS:-json plaintext db queries fortunes updates}"
  threads="${TFB_THREADS:-2}"
  pool="${TFB_POOL:-32}"
  tconns="${TFB_CONNS:-256}"
  children="${TFB_PHP_CHILDREN:-32 128}"
  cpus="${TFB_CPUS:-0-$(($(nproc) - 1))}"
  need wrk wrk
  need nginx nginx
  need gnuplot gnuplot-nox
  need curl curl
  php_fpm="$(command -v php-fpm 2>/dev/null || ls /usr/sbin/php-fpm* 2>/dev/null | head -1 || true)"
  [[ -n "$php_fpm" ]] || die "php-fpm not found (apt-get install php-fpm php-mysql)"
  # grep reads all of it (-q would stop early, and php-fpm's SIGPIPE failed the pipeline under pipefail)
  "$php_fpm" -m 2>/dev/null | grep -x pdo_mysql >/dev/null || die "php-fpm lacks pdo_mysql (apt-get install php-mysql)"
  build_targets techempower
  local app="$build/examples/techempower"
  [[ -x "$app" ]] || die "$app missing (build it, or drop --no-build)"

  tmp="$(mktemp -d /tmp/cofcgi-bench-tfb.XXXXXX)"
  chmod 755 "$tmp"
  mkdir -p "$tmp/tmp" "$tmp/php"
  cp "$root"/bench/peers/tfb_php/*.php "$tmp/php/"

  local n max_children=0
  for n in $children; do ((n > max_children)) && max_children=$n; done
  # Every contender's connections at once: cofcgi's pools and every php-fpm child.
  start_private_mariadb "$tmp/db" "$cpus" $((pool + 2 * max_children + 300)) \
    --lower-case-table-names=1 --character-set-server=utf8 --collation-server=utf8_general_ci
  local client
  client="$(command -v mariadb || command -v mysql)"
  "$client" --no-defaults -uroot -S "$mariadb_socket" <"$root/examples/techempower_schema.sql" ||
    die "loading examples/techempower_schema.sql failed"

  declare -gA web_port app_port label_of app_pid
  contenders=()
  want cofcgi && contenders+=(cofcgi)
  for n in $children; do
    if want php-fpm || want "php-$n"; then contenders+=("php-$n"); fi
  done
  ((${#contenders[@]})) || die "--only $only selects no contender"
  local k
  for k in cofcgi $(printf 'php-%s ' $children); do
    web_port[$k]="$(free_port)"
    app_port[$k]="$(free_port)"
  done
  label_of[cofcgi]="cofcgi, $threads threads, pool $pool"
  for n in $children; do label_of[php-$n]="php-fpm, $n children"; done

  # shellcheck disable=SC2086
  tfb_nginx_conf $children >"$tmp/nginx.conf"
  # shellcheck disable=SC2086
  tfb_php_conf $children >"$tmp/php-fpm.conf"
  local nginx_pid worker php_pid
  start nginx "$cpus" nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log"
  nginx_pid=$started_pid
  start cofcgi "$cpus" "$app" --listen "127.0.0.1:${app_port[cofcgi]}" --threads "$threads" \
    --mysql-socket "$mariadb_socket" --mysql-user benchmarkdbuser --mysql-password benchmarkdbpass \
    --mysql-db hello_world --pool "$pool"
  app_pid[cofcgi]=$started_pid
  local php_root=()
  [[ "$(id -u)" = 0 ]] && php_root=(-R)
  start php-fpm "$cpus" "$php_fpm" "${php_root[@]}" --nodaemonize --fpm-config "$tmp/php-fpm.conf"
  php_pid=$started_pid
  wait_port "${web_port[cofcgi]}" "$nginx_pid" nginx
  wait_port "${app_port[cofcgi]}" "${app_pid[cofcgi]}" cofcgi
  for n in $children; do wait_port "${app_port[php-$n]}" "$php_pid" php-fpm; done
  worker="$(nginx_worker "$nginx_pid")"

  for k in "${contenders[@]}"; do tfb_check "${web_port[$k]}" "${label_of[$k]}"; done
  log "every contender answers every test as TFB requires"

  local wrk_cmd=("${prio[@]}" taskset -c "$cpus" wrk -t2 "-c$tconns" --timeout 10s --latency)
  log "warming up ($warmup per test and contender)"
  local t
  for t in $tests; do
    for k in "${contenders[@]}"; do
      "${wrk_cmd[@]}" "-d$warmup" "http://127.0.0.1:${web_port[$k]}$(tfb_path "$t")" >/dev/null 2>&1 || true
    done
  done

  # raw.tsv: round test key rps p50 p99 non2xx serr requests secs app_ticks nginx_ticks db_ticks
  local raw="$tmp/raw.tsv" r out t0 t1 a0 a1 n0 n1 d0 d1 rps p50 p99 non2xx serr reqs secs pids
  : >"$raw"
  for ((r = 1; r <= rounds; r++)); do
    for t in $tests; do
      for k in "${contenders[@]}"; do
        log "round $r/$rounds: $t, ${label_of[$k]}"
        # shellcheck disable=SC2046
        tfb_settle "$mariadb_pid" "${app_pid[cofcgi]}" "$php_pid" $(cat /proc/"$php_pid"/task/*/children 2>/dev/null)
        pids="${app_pid[$k]:-}"
        [[ "$k" == php-* ]] && pids="$(tfb_pool_pids "${app_port[$k]}")"
        # shellcheck disable=SC2086
        a0="$(tfb_ticks $pids)"
        n0="$(tfb_ticks "$worker")"
        d0="$(tfb_ticks "$mariadb_pid")"
        t0="$(date +%s.%N)"
        out="$("${wrk_cmd[@]}" "-d$duration" "http://127.0.0.1:${web_port[$k]}$(tfb_path "$t")" 2>&1)" ||
          { echo "$out" >&2; die "wrk failed"; }
        t1="$(date +%s.%N)"
        # shellcheck disable=SC2086
        a1="$(tfb_ticks $pids)"
        n1="$(tfb_ticks "$worker")"
        d1="$(tfb_ticks "$mariadb_pid")"
        echo "$out" >"$tmp/wrk-$r-$t-$k.txt"
        read -r rps p50 p99 non2xx serr < <(wrk_figures "$out")
        reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
        secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$k" "$rps" "$p50" \
          "$p99" "${non2xx:-0}" "${serr:-0}" "$reqs" "$secs" $((a1 - a0)) $((n1 - n0)) $((d1 - d0)) >>"$raw"
        log "  $rps req/s, p99 $p99 ms, non-2xx ${non2xx:-0}, socket errors ${serr:-0}, app CPU" \
          "$(awk -v a=$((a1 - a0)) -v q="$reqs" -v c="$clk_tck" 'BEGIN {printf "%.0f", (q > 0) ? 1e6 * a / c / q : 0}') us/request"
      done
    done
  done
  kill -0 "${app_pid[cofcgi]}" 2>/dev/null || die "cofcgi died during the run (see $tmp/cofcgi.log)"
  kill -0 "$php_pid" 2>/dev/null || die "php-fpm died during the run (see $tmp/php-fpm.log)"
  report_tfb "$raw"
}

# tfb_median RAW TEST KEY FIELD: the median of a raw.tsv field over the rounds.
tfb_median() { awk -F'\t' -v t="$2" -v k="$3" -v f="$4" '$2 == t && $3 == k {print $f}' "$1" | median_of; }

# tfb_us RAW TEST KEY FIELD: median over rounds of CPU microseconds per request for a ticks
# field (11 app, 12 nginx, 13 mariadbd).
tfb_us() {
  awk -F'\t' -v t="$2" -v k="$3" -v f="$4" -v c="$clk_tck" \
    '$2 == t && $3 == k && $9 > 0 {print 1e6 * $f / c / $9}' "$1" | median_of
}

# tfb_pct RAW TEST KEY FIELD: median over rounds of a ticks field as % of one core.
tfb_pct() {
  awk -F'\t' -v t="$2" -v k="$3" -v f="$4" -v c="$clk_tck" \
    '$2 == t && $3 == k && $10 > 0 {print 100 * $f / c / $10}' "$1" | median_of
}

report_tfb() {
  local raw="$1" date_tag md png commit dirty
  date_tag="$(date +%Y-%m-%d)"
  mkdir -p "$outdir"
  md="$outdir/tfb-$date_tag.md"
  [[ -e "$md" ]] && md="$outdir/tfb-$date_tag-$(date +%H%M%S).md"
  png="${md%.md}.png"
  commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dirty="$(git -C "$root" diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)')"
  local t k n target
  declare -A targets=([json]=3 [plaintext]=3 [db]=3 [fortunes]=3 [queries]=2 [updates]=2)
  local phps=()
  for k in "${contenders[@]}"; do [[ "$k" == php-* ]] && phps+=("$k"); done

  {
    echo "# TechEmpower's six test types through nginx, $(date '+%Y-%m-%d %H:%M %Z')"
    echo
    echo "- machine: $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
    echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other jobs ran alongside)"
    echo "- commit: $commit$dirty"
    echo "- build: ${build#"$root"/} (CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" | cut -d= -f2)); $(${CXX:-c++} --version | head -1)"
    echo "- $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $("$mariadb_bin" --version 2>/dev/null | awk '{print $1, $3}'); $("$php_fpm" -v 2>/dev/null | head -1 | cut -d' ' -f1-2)"
    local envs="TFB_THREADS=$threads TFB_POOL=$pool TFB_CONNS=$tconns TFB_PHP_CHILDREN=\"$children\" TFB_CPUS=$cpus"
    if ((bench_rt > 0)); then envs+=" BENCH_RT=$bench_rt"; else envs+=" BENCH_NICE=$bench_nice"; fi
    echo "- command: \`$envs bench/run --build ${build#"$root"/}$( ((do_build)) || echo ' --no-build') --rounds $rounds --duration $duration tfb\`"
    echo
    echo "Setup: one private mariadbd (unix socket, TFB's schema from examples/techempower_schema.sql,"
    echo "\`--lower-case-table-names=1 --character-set-server=utf8\`), one nginx worker, both contenders"
    echo "behind it. cofcgi: \`examples/techempower --threads $threads --pool $pool\` behind upstream"
    echo "\`keepalive $((tconns + 16))\`. php-fpm: \`bench/peers/tfb_php/*.php\` (PDO persistent"
    echo "connections, emulated prepares, one UPDATE per row, as TFB's PHP entry), pm static with N"
    echo "children, opcache on, behind upstream \`keepalive N/2\`. Every process pinned to CPUs $cpus"
    echo "with \`${prio[*]}\`. Each round runs every test with every contender back to back:"
    echo
    echo '```'
    echo "${prio[*]} taskset -c $cpus wrk -t2 -c$tconns -d$duration --timeout 10s --latency http://127.0.0.1:PORT/PATH"
    echo '```'
    echo
    echo "Paths: /json /plaintext /db /queries?queries=20 /fortunes /updates?queries=20. App CPU is"
    echo "user+sys time of the app's processes (/proc/PID/stat; a php-fpm pool: the processes holding"
    echo "its listening socket) over the run, divided by the requests wrk completed."
    echo
    echo "## Requests/s, medians over $rounds round(s) (app CPU µs per request)"
    echo
    local header="| test |" sep="| --- |"
    for k in "${contenders[@]}"; do header+=" ${label_of[$k]} |"; sep+=" ---: |"; done
    ((${#phps[@]})) && [[ " ${contenders[*]} " == *" cofcgi "* ]] && { header+=" cofcgi / best php-fpm | target |"; sep+=" ---: | --- |"; }
    echo "$header"
    echo "$sep"
    for t in $tests; do
      local row="| $t |" best=0 rps
      for k in "${contenders[@]}"; do
        rps="$(tfb_median "$raw" "$t" "$k" 4)"
        row+=" $(printf '%.0f' "$rps") ($(printf '%.0f' "$(tfb_us "$raw" "$t" "$k" 11)") µs) |"
        [[ "$k" == php-* ]] && best="$(awk -v a="$best" -v b="$rps" 'BEGIN {print (b > a) ? b : a}')"
      done
      if ((${#phps[@]})) && [[ " ${contenders[*]} " == *" cofcgi "* ]]; then
        local ratio
        ratio="$(awk -v a="$(tfb_median "$raw" "$t" cofcgi 4)" -v b="$best" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')"
        target="${targets[$t]:-}"
        row+=" ${ratio}× | ≥ ${target}× $(awk -v r="$ratio" -v g="$target" 'BEGIN {print (r + 0 >= g) ? "met" : "**missed**"}') |"
      fi
      echo "$row"
    done
    echo
    echo "## Where the CPU goes (medians: µs per request, and % of one core)"
    echo
    echo "| test | contender | app µs | nginx µs | mariadbd µs | app % | nginx % | mariadbd % | non-2xx | socket errors |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for t in $tests; do
      for k in "${contenders[@]}"; do
        printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %s |\n' "$t" "${label_of[$k]}" \
          "$(tfb_us "$raw" "$t" "$k" 11)" "$(tfb_us "$raw" "$t" "$k" 12)" "$(tfb_us "$raw" "$t" "$k" 13)" \
          "$(tfb_pct "$raw" "$t" "$k" 11)" "$(tfb_pct "$raw" "$t" "$k" 12)" "$(tfb_pct "$raw" "$t" "$k" 13)" \
          "$(awk -F'\t' -v t="$t" -v k="$k" '$2 == t && $3 == k {s += $7} END {print s + 0}' "$raw")" \
          "$(awk -F'\t' -v t="$t" -v k="$k" '$2 == t && $3 == k {s += $8} END {print s + 0}' "$raw")"
      done
    done
    echo
    echo "## Every run"
    echo
    echo "| round | test | contender | requests/s | p50 ms | p99 ms | non-2xx | socket errors | requests | app µs/req |"
    echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' -v c="$clk_tck" '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, ($9 > 0) ? 1e6 * $11 / c / $9 : 0}' "$raw"
    echo
    echo "Plot: $(basename "$png")."
  } >"$md"

  # Plot: requests/s per test (log scale), one bar per contender.
  local dat="$tmp/plot.dat" cols=""
  {
    printf 'test'
    for k in "${contenders[@]}"; do printf '\t"%s"' "${label_of[$k]}"; done
    echo
    for t in $tests; do
      printf '%s' "$t"
      for k in "${contenders[@]}"; do printf '\t%s' "$(tfb_median "$raw" "$t" "$k" 4)"; done
      echo
    done
  } >"$dat"
  local i=2
  for k in "${contenders[@]}"; do
    cols+="'$dat' using $i:xtic(1) title columnheader($i), "
    i=$((i + 1))
  done
  gnuplot <<EOF 2>"$tmp/gnuplot.err" || { cat "$tmp/gnuplot.err" >&2; log "gnuplot failed: no PNG"; }
set terminal pngcairo size 1100,520 noenhanced font "DejaVu Sans,10"
set output "$png"
set title "TechEmpower test types through nginx, wrk -c$tconns -d$duration, median of $rounds round(s) - $(uname -n), $(date '+%Y-%m-%d'), commit $commit (shared, loaded machine)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [100:*]
set grid ytics
set ylabel "requests/s (log scale)"
set key top right box opaque
plot ${cols%, }
EOF
  log "wrote $md"
  [[ -e "$png" ]] && log "wrote $png"
  cat "$md"
}
