#!/usr/bin/env bash
# The install contract (DESIGN.md): `cmake --install BUILD --prefix P` gives a prefix that a
# downstream project can use through find_package(cofcgi CONFIG) and through pkg-config, and
# whose programs run from P with no LD_LIBRARY_PATH, whichever of the libraries they call.
#
# Usage: run_install_test.sh BUILD_DIR WORK_DIR
# Env (set by tests/install/CMakeLists.txt):
#   CMAKE, CMAKE_GENERATOR, CXX, CC, PKG_CONFIG  the tools the build used
#   CGI_FCGI        libfcgi's cgi-fcgi client, to send the FastCGI apps one request
#   SANITIZE_FLAGS  the build's -fsanitize flags: a sanitized libcofcgi needs sanitized users
set -euo pipefail

# Every program below must find the prefix's libraries by itself (its RUNPATH, then each
# library's own). An LD_LIBRARY_PATH inherited from the caller would hide exactly that.
unset LD_LIBRARY_PATH

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$1"
work="$2"
CMAKE="${CMAKE:-cmake}"
CMAKE_GENERATOR="${CMAKE_GENERATOR:-Ninja}"
CXX="${CXX:-c++}"
CC="${CC:-cc}"
PKG_CONFIG="${PKG_CONFIG:-pkg-config}"
CGI_FCGI="${CGI_FCGI:-cgi-fcgi}"
SANITIZE_FLAGS="${SANITIZE_FLAGS:-}"

step() { printf '\n--- %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

server_pid=""
trap '[[ -z "$server_pid" ]] || kill "$server_pid" 2>/dev/null || true' EXIT

# run_ok NAME PROGRAM [ARGS...]: runs a program that prints "NAME: OK" when it worked.
run_ok() {
  local name="$1" out rc=0
  shift
  out="$("$@" 2>&1)" || rc=$?
  echo "$out"
  ((rc == 0)) || fail "$name exited $rc"
  grep -qx "$name: OK" <<<"$out" || fail "$name did not print '$name: OK'"
}

# serve_and_ask NAME PROGRAM: starts a FastCGI app on a unix socket, sends it one GET with
# cgi-fcgi, expects "NAME: OK" in the answer, then stops it with SIGTERM (exit 0 expected).
serve_and_ask() {
  local name="$1" program="$2" sock="$work/$1.sock" out rc=0
  rm -f "$sock"
  "$program" --listen "unix:$sock" >"$work/$name.log" 2>&1 &
  server_pid=$!
  for ((i = 0; i < 100; ++i)); do
    [[ -S "$sock" ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -S "$sock" ]]; then
    wait "$server_pid" || rc=$?
    server_pid=""
    cat "$work/$name.log"
    fail "$name did not start listening (exit $rc)"
  fi
  out="$(env -i REQUEST_METHOD=GET REQUEST_URI=/ SCRIPT_NAME=/ QUERY_STRING= \
    "$CGI_FCGI" -bind -connect "$sock" 2>&1)" || rc=$?
  echo "$out"
  kill -TERM "$server_pid"
  local exit_rc=0
  wait "$server_pid" || exit_rc=$?
  server_pid=""
  ((rc == 0)) || fail "cgi-fcgi to $name exited $rc"
  grep -q "^$name: OK" <<<"$out" || fail "$name did not answer '$name: OK'"
  ((exit_rc == 0)) || { cat "$work/$name.log"; fail "$name exited $exit_rc after SIGTERM"; }
  echo "ok: $name served a request"
}

rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

step "cmake --install $build --prefix $prefix"
"$CMAKE" --install "$build" --prefix "$prefix"

step "installed layout"
for header in co_routine.h co_routine_specific.h co_closure.h coctx.h co_routine_inner.h \
  cofcgi/runtime.h cofcgi/runtime/coroutine.h cofcgi/cgi/server.h; do
  [[ -f "$prefix/include/$header" ]] || fail "include/$header not installed"
done
config="$(find "$prefix" -name cofcgiConfig.cmake | head -1)"
[[ -n "$config" ]] || fail "no cofcgiConfig.cmake under $prefix"
pc="$(find "$prefix" -path '*/pkgconfig/cofcgi.pc' | head -1)"
[[ -n "$pc" ]] || fail "no pkgconfig/cofcgi.pc under $prefix"
pcdir="$(dirname "$pc")"
libdir="$(dirname "$pcdir")"
for lib in runtime hooks cgi adapters; do
  [[ -e "$libdir/libcofcgi_$lib.so" ]] || fail "$libdir/libcofcgi_$lib.so not installed"
done
# The twin of co_accept that libco programs declare themselves (C++ linkage).
# (Outputs are captured before grep -q: with pipefail, grep -q quitting early would make the
# writer's SIGPIPE fail the pipeline.)
exports="$(nm -D --defined-only "$libdir/libcofcgi_hooks.so")"
grep -q ' _Z9co_acceptiP8sockaddrPj$' <<<"$exports" ||
  fail "libcofcgi_hooks.so does not export the C++-linkage co_accept"
echo "ok: headers, $config, $pc, libraries in $libdir"

step "find_package(cofcgi CONFIG) consumers"
"$CMAKE" -S "$here/consumer" -B "$work/consumer-build" -G "$CMAKE_GENERATOR" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_CXX_FLAGS="$SANITIZE_FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE_FLAGS"
found="$(sed -n 's/^cofcgi_DIR:PATH=//p' "$work/consumer-build/CMakeCache.txt")"
[[ "$found" == "$prefix"/* ]] || fail "find_package found cofcgi in '$found', not in $prefix"
"$CMAKE" --build "$work/consumer-build"
bin="$work/consumer-build"
run_ok consumer "$bin/consumer"
libs="$(ldd "$bin/consumer")"
grep -qF "$libdir/libcofcgi_runtime.so" <<<"$libs" ||
  fail "consumer is not linked against $libdir/libcofcgi_runtime.so: $libs"
run_ok libco_closure "$bin/libco_closure"
serve_and_ask cgi_app "$bin/cgi_app"
serve_and_ask adapters_app "$bin/adapters_app"

step "RUNPATH of the installed libraries"
# Each library finds its sibling libraries through its own RUNPATH: an executable that
# calls only libcofcgi_cgi has (with --as-needed) no DT_NEEDED on the runtime, and the
# executable's RUNPATH does not apply to its libraries' dependencies (ld.so(8)).
for lib in hooks cgi adapters; do
  dyn="$(readelf -d "$libdir/libcofcgi_$lib.so")"
  # shellcheck disable=SC2016  # $ORIGIN is literal: readelf prints it so
  grep -qF '[$ORIGIN]' <<<"$dyn" || fail "libcofcgi_$lib.so has no \$ORIGIN RUNPATH"
done
echo "ok: \$ORIGIN in the RUNPATH of libcofcgi_{hooks,cgi,adapters}"

step "pkg-config consumers"
pkg() { PKG_CONFIG_PATH="$pcdir" "$PKG_CONFIG" "$@"; }
for name in cofcgi-cgi cofcgi-adapters; do
  [[ -f "$pcdir/$name.pc" ]] || fail "no $pcdir/$name.pc"
done
flags="$(pkg --cflags --libs cofcgi)"
echo "cofcgi: $flags"
[[ "$flags" == *"-I$prefix"* || "$flags" == *"-I$pcdir/"* ]] ||
  fail "pkg-config's -I does not point into $prefix"
# shellcheck disable=SC2086  # flags and SANITIZE_FLAGS are word lists
"$CC" -std=c11 -Wall -Wextra -Werror $SANITIZE_FLAGS "$here/pkgconfig_main.c" $flags \
  -o "$work/pkgconfig_main"
run_ok pkg-config "$work/pkgconfig_main"
needed="$(readelf -d "$work/pkgconfig_main")"
grep -qF "[libcofcgi_hooks.so.0]" <<<"$needed" || fail "pkgconfig_main does not load the hooks"
# shellcheck disable=SC2086
"$CXX" -std=c++11 -Wall -Wextra -Werror $SANITIZE_FLAGS "$here/consumer/libco_closure.cpp" \
  $flags -o "$work/pc_libco_closure"
run_ok libco_closure "$work/pc_libco_closure"
# A program written for the seed's libco variant (LIBCO_POLL_TIMEOUT, issue 17), unchanged:
# it builds against the installed co_routine.h, and with the profile switched on from the
# environment it pings on every read timeout.
# shellcheck disable=SC2086
"$CXX" -std=c++11 -Wall -Wextra -Werror $SANITIZE_FLAGS "$here/../libco_compat/ping_loop.cpp" \
  $flags -o "$work/pc_ping_loop"
out="$(COFCGI_LIBCO_TIMEOUTS=100 timeout 60 "$work/pc_ping_loop" 500 2>&1)" ||
  fail "pc_ping_loop failed: $out"
echo "$out"
grep -Eq '^ping_loop: accepted socket O_NONBLOCK=1, [1-9][0-9]* timeouts' <<<"$out" ||
  fail "pc_ping_loop did not ping on timeouts"

flags="$(pkg --cflags --libs cofcgi-cgi)"
echo "cofcgi-cgi: $flags"
# shellcheck disable=SC2086
"$CXX" -std=c++20 -Wall -Wextra -Werror $SANITIZE_FLAGS "$here/consumer/cgi_app.cpp" $flags \
  -o "$work/cgi_app"
serve_and_ask cgi_app "$work/cgi_app"

# cgi_app names nothing of the adapters or the hooks: both must stay in DT_NEEDED anyway
# (they work by interposing libc's functions), with the two .pc files' flags merged.
flags="$(pkg --cflags --libs cofcgi-cgi cofcgi-adapters)"
echo "cofcgi-cgi cofcgi-adapters: $flags"
for app in cgi_app adapters_app; do
  # shellcheck disable=SC2086
  "$CXX" -std=c++20 -Wall -Wextra -Werror $SANITIZE_FLAGS "$here/consumer/$app.cpp" $flags \
    -o "$work/pc_$app"
  serve_and_ask "$app" "$work/pc_$app"
  needed="$(readelf -d "$work/pc_$app")"
  for lib in hooks adapters; do
    grep -qF "[libcofcgi_$lib.so.0]" <<<"$needed" ||
      fail "pc_$app has no DT_NEEDED on libcofcgi_$lib (dropped by --as-needed)"
  done
done

echo
echo "install test: OK"
