# shellcheck shell=bash
# A private MariaDB for bench/run, in the manner of tests/support/mariadb_server: Debian's
# mariadbd on a unix socket only, in a directory of its own, root without a password.
# Sourced by the scenarios that need it; uses bench/run's start/log/die.
#
#   start_private_mariadb DIR CPU MAX_CONNECTIONS [MARIADBD_ARG...]
#       bootstraps DIR/data, starts mariadbd pinned like the other servers (the extra
#       arguments last), waits until it answers; sets mariadb_socket, mariadb_pid and
#       mariadb_bin.

# Small buffers: SELECT SLEEP needs none, and the datadir stays ~15 MB.
private_mariadb_storage_args() {
  local dir="$1"
  echo "--datadir=$dir/data --tmpdir=$dir --lc-messages=en_US --skip-log-bin" \
    "--innodb-buffer-pool-size=16M --innodb-log-file-size=4M --innodb-flush-method=nosync" \
    "--innodb-data-file-path=ibdata1:4M:autoextend --innodb-undo-tablespaces=0" \
    "--key-buffer-size=1M --aria-pagecache-buffer-size=8M"
  [[ "$(id -u)" = 0 ]] && echo "--user=root"
  return 0
}

start_private_mariadb() {
  local dir="$1" cpu="$2" max_conns="$3" install_db mariadbd
  install_db="$(command -v mariadb-install-db || command -v mysql_install_db || true)"
  mariadbd="$(command -v mariadbd || ls /usr/sbin/mariadbd 2>/dev/null || true)"
  [[ -n "$install_db" && -n "$mariadbd" ]] || die "mariadbd not found (apt-get install mariadb-server)"
  mkdir -p "$dir/data"
  local storage
  # shellcheck disable=SC2207
  storage=($(private_mariadb_storage_args "$dir"))
  log "bootstrapping MariaDB in $dir"
  "$install_db" --no-defaults --auth-root-authentication-method=normal --skip-test-db \
    --skip-name-resolve "${storage[@]}" >"$dir/bootstrap.log" 2>&1 ||
    { tail -n 20 "$dir/bootstrap.log" >&2; die "mariadb-install-db failed"; }
  mariadb_bin="$mariadbd"
  mariadb_socket="$dir/mysqld.sock"
  # Every contender's connections at once, plus headroom; thread-per-connection (MariaDB's
  # default), so SLEEP() costs the server a sleeping thread per query and no CPU.
  start mariadbd "$cpu" "$mariadbd" --no-defaults "${storage[@]}" --skip-networking \
    --socket="$mariadb_socket" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
    --max-connections="$max_conns" --thread-cache-size="$max_conns" \
    --open-files-limit=$((2 * max_conns + 1000)) --max-allowed-packet=8M "${@:4}"
  mariadb_pid=$started_pid
  local client
  client="$(command -v mariadb || command -v mysql || true)"
  for _ in $(seq 300); do
    if [[ -S "$mariadb_socket" ]] &&
      { [[ -z "$client" ]] || "$client" --no-defaults -uroot -S "$mariadb_socket" -e 'SELECT 1' >/dev/null 2>&1; }; then
      return 0
    fi
    kill -0 "$mariadb_pid" 2>/dev/null || { tail -n 30 "$dir/error.log" >&2; die "mariadbd exited at start"; }
    sleep 0.1
  done
  tail -n 30 "$dir/error.log" >&2
  die "mariadbd did not answer within 30 s"
}
