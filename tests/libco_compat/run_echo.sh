#!/usr/bin/env bash
# run_echo.sh SERVER CLIENT [WORKERS] [CONNECTIONS] [MESSAGES]
# Starts the libco-style echo server on a free loopback port, runs the client against it
# (every echo checked byte for byte), and expects the server to leave its event loop once
# all CONNECTIONS have closed.
set -euo pipefail
server="$1"
client="$2"
workers="${3:-4}"
connections="${4:-8}"
messages="${5:-200}"

work="$(mktemp -d "${TMPDIR:-/tmp}/libco_echo.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Fewer workers than connections: the accept routine has to wait for idle workers.
"$server" 127.0.0.1 0 "$workers" "$connections" >"$work/server.log" 2>&1 &
server_pid=$!

port=""
for _ in $(seq 100); do
  port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.log")"
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port" ]]; then
  echo "FAIL: the server did not start listening" >&2
  cat "$work/server.log" >&2
  exit 1
fi
echo "server listening on 127.0.0.1:$port"

rc=0
timeout 120 "$client" 127.0.0.1 "$port" "$connections" "$messages" || rc=$?

server_rc=0
for _ in $(seq 100); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "FAIL: the server did not leave its event loop after $connections connections" >&2
  server_rc=1
else
  wait "$server_pid" || server_rc=$?
  server_pid=""
fi
echo "--- server output"
cat "$work/server.log"

((rc == 0)) || { echo "FAIL: client exited $rc" >&2; exit 1; }
((server_rc == 0)) || { echo "FAIL: server exited $server_rc" >&2; exit 1; }
grep -q "^echo server: $connections connections served" "$work/server.log" ||
  { echo "FAIL: the server did not report $connections connections" >&2; exit 1; }
echo "PASS: echo"
