#!/usr/bin/env bash
# wrk_faults.sh BUILD_DIR [kill|stop|both]: the MariaDB fault figures under load, by hand
# (not a CTest: it takes ~80 s and wants an otherwise quiet machine). wrk -> nginx (one
# worker, keep-alive upstream) -> examples/sleep_sql (--threads 2, --pool 32: one pool for
# the process) -> a private mariadbd on a unix socket, everything in a temp dir.
#   kill: mariadbd SIGKILLed 5 s into a 20 s wrk run, started again 3 s later.
#   stop: mariadbd SIGSTOPped 5 s into a 50 s run, SIGCONT 35 s later (sleep_sql uses the
#         pool's defaults: read_timeout 30 s, connect_timeout 5 s, acquire_timeout 10 s).
# A probe (curl every 50 ms) logs each answer's status and time; at the end the server's
# sessions of the app's user are counted (at most --pool, or connections leaked).
set -euo pipefail
build="$(cd "${1:?usage: wrk_faults.sh BUILD_DIR [kill|stop|both]}" && pwd)"
what="${2:-both}"
tmp="$(mktemp -d /tmp/cofcgi-wrkfaults-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
  [[ -n "${mariadb_pid:-}" ]] && { kill -CONT "$mariadb_pid" 2>/dev/null; kill -9 "$mariadb_pid" 2>/dev/null; } || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
storage=(--datadir="$tmp/data" --tmpdir="$tmp" --lc-messages=en_US --skip-log-bin
  --innodb-buffer-pool-size=16M --innodb-log-file-size=4M --innodb-flush-method=nosync
  --key-buffer-size=1M --aria-pagecache-buffer-size=8M)
[[ "$(id -u)" = 0 ]] && storage+=(--user=root)
echo "temp dir $tmp"
mariadb-install-db --no-defaults --auth-root-authentication-method=normal --skip-test-db \
  --skip-name-resolve "${storage[@]}" >"$tmp/bootstrap.log" 2>&1
sock="$tmp/mysqld.sock"
start_db() {
  mariadbd --no-defaults "${storage[@]}" --skip-networking --socket="$sock" \
    --log-error="$tmp/error.log" --max-connections=200 &
  mariadb_pid=$!
  until mariadb --no-defaults -uroot -S "$sock" -e 'SELECT 1' >/dev/null 2>&1; do sleep 0.05; done
}
sessions() { mariadb --no-defaults -uroot -S "$sock" -N -e \
  "SELECT COUNT(*) - 1 FROM information_schema.PROCESSLIST WHERE USER='root'"; }
start_db
app_port="$(free_port)"; web_port="$(free_port)"
"$build/examples/sleep_sql" --listen "127.0.0.1:$app_port" --threads 2 --mysql-socket "$sock" \
  --pool 32 2>"$tmp/app.log" &
pids+=($!)
mkdir -p "$tmp/tmp"
cat >"$tmp/nginx.conf" <<EOF
$([[ "$(id -u)" = 0 ]] && echo "user root;")
daemon off; master_process off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off; client_body_temp_path $tmp/tmp/cb; proxy_temp_path $tmp/tmp/p;
  fastcgi_temp_path $tmp/tmp/f; uwsgi_temp_path $tmp/tmp/u; scgi_temp_path $tmp/tmp/s;
  upstream app { server 127.0.0.1:$app_port; keepalive 96; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$web_port;
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass app; fastcgi_keep_conn on; }
  }
}
EOF
nginx -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)
url="http://127.0.0.1:$web_port/?s=0.01"
until curl -s -o /dev/null "$url"; do sleep 0.05; done

probe() {  # probe SECONDS: one request every 50 ms, "start_time status seconds" per line
  local end=$(($(date +%s) + $1))
  while (($(date +%s) < end)); do
    { t="$(now)"; echo "$t $(curl -s -m 60 -o /dev/null -w '%{http_code} %{time_total}' "$url")"; } &
    sleep 0.05
  done
  wait
}

run_kill() {
  echo "== SIGKILL: wrk -t2 -c64 -d20s, mariadbd killed at ~5 s, started again at ~8 s"
  probe 20 >"$tmp/probe-kill.log" &
  local probe_pid=$!
  wrk -t2 -c64 -d20s --timeout 30s --latency "$url" >"$tmp/wrk-kill.log" &
  local wrk_pid=$!
  sleep 5; local killed; killed="$(now)"; kill -9 "$mariadb_pid"; wait "$mariadb_pid" 2>/dev/null || true
  sleep 3; start_db; local back; back="$(now)"
  wait "$wrk_pid"; wait "$probe_pid"
  cat "$tmp/wrk-kill.log"
  awk -v k="$killed" -v b="$back" '
    { if ($1 < k) pre[$2]++; else if ($1 < b) down[$2]++; else { post[$2]++;
        if ($2 == 200 && first == "") first = $1 - b } if ($3 > max) max = $3 }
    END { printf "probe: before kill:"; for (c in pre) printf " %s x%d", c, pre[c];
          printf "; while down:"; for (c in down) printf " %s x%d", c, down[c];
          printf "; after restart:"; for (c in post) printf " %s x%d", c, post[c];
          printf "\nprobe: first 200 %.3f s after mariadbd answered again; slowest answer %.3f s\n", first, max }' \
    "$tmp/probe-kill.log"
  echo "server sessions of the app after the run: $(sessions) (pool 32)"
}

run_stop() {
  echo "== SIGSTOP: wrk -t2 -c64 -d50s, mariadbd stopped at ~5 s, continued at ~40 s"
  probe 50 >"$tmp/probe-stop.log" &
  local probe_pid=$!
  wrk -t2 -c64 -d50s --timeout 60s --latency "$url" >"$tmp/wrk-stop.log" &
  local wrk_pid=$!
  sleep 5; local stopped; stopped="$(now)"; kill -STOP "$mariadb_pid"
  sleep 35; local cont; cont="$(now)"; kill -CONT "$mariadb_pid"
  wait "$wrk_pid"; wait "$probe_pid"
  cat "$tmp/wrk-stop.log"
  awk -v s="$stopped" -v c="$cont" '
    { if ($1 >= s && $1 < c) { st[$2]++; if ($3 > max) max = $3; n[$2] += $3 }
      else if ($1 >= c && $2 == 200 && first == "") first = $1 - c }
    END { printf "probe while stopped:"; for (k in st) printf " %s x%d (mean %.2f s)", k, st[k], n[k] / st[k];
          printf "; slowest %.3f s\nprobe: first 200 %.3f s after SIGCONT\n", max, first }' \
    "$tmp/probe-stop.log"
  echo "server sessions of the app after the run: $(sessions) (pool 32)"
}

case "$what" in
  kill) run_kill ;;
  stop) run_stop ;;
  both) run_kill; run_stop ;;
esac
echo "app log (first lines):"; head -n 3 "$tmp/app.log"; echo "..."; echo "$(wc -l <"$tmp/app.log") lines"
