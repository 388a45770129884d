#!/usr/bin/env bash
# The install contract (DESIGN.md): `cmake --install BUILD --prefix P` gives a prefix that a
# downstream project can use through find_package(cofcgi CONFIG) and through pkg-config.
#
# Usage: run_install_test.sh BUILD_DIR WORK_DIR
# Env (set by tests/install/CMakeLists.txt):
#   CMAKE, CMAKE_GENERATOR, CXX, CC, PKG_CONFIG  the tools the build used
#   SANITIZE_FLAGS  the build's -fsanitize flags: a sanitized libcofcgi needs sanitized users
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$1"
work="$2"
CMAKE="${CMAKE:-cmake}"
CMAKE_GENERATOR="${CMAKE_GENERATOR:-Ninja}"
CXX="${CXX:-c++}"
CC="${CC:-cc}"
PKG_CONFIG="${PKG_CONFIG:-pkg-config}"
SANITIZE_FLAGS="${SANITIZE_FLAGS:-}"

step() { printf '\n--- %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"

step "cmake --install $build --prefix $prefix"
"$CMAKE" --install "$build" --prefix "$prefix"

step "installed layout"
for header in co_routine.h co_routine_specific.h co_closure.h cofcgi/runtime.h \
  cofcgi/runtime/coroutine.h; do
  [[ -f "$prefix/include/$header" ]] || fail "include/$header not installed"
done
config="$(find "$prefix" -name cofcgiConfig.cmake | head -1)"
pc="$(find "$prefix" -path '*/pkgconfig/cofcgi.pc' | head -1)"
[[ -n "$config" ]] || fail "no cofcgiConfig.cmake under $prefix"
[[ -n "$pc" ]] || fail "no pkgconfig/cofcgi.pc under $prefix"
libdir="$(dirname "$(dirname "$pc")")"
for lib in libcofcgi_runtime.so libcofcgi_hooks.so; do
  [[ -e "$libdir/$lib" ]] || fail "$libdir/$lib not installed"
done
# The twin of co_accept that libco programs declare themselves (C++ linkage).
# (Outputs are captured before grep -q: with pipefail, grep -q quitting early would make the
# writer's SIGPIPE fail the pipeline.)
exports="$(nm -D --defined-only "$libdir/libcofcgi_hooks.so")"
grep -q ' _Z9co_acceptiP8sockaddrPj$' <<<"$exports" ||
  fail "libcofcgi_hooks.so does not export the C++-linkage co_accept"
echo "ok: headers, $config, $pc, libraries in $libdir"

step "find_package(cofcgi CONFIG) consumer"
"$CMAKE" -S "$here/consumer" -B "$work/consumer-build" -G "$CMAKE_GENERATOR" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_CXX_FLAGS="$SANITIZE_FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE_FLAGS"
found="$(sed -n 's/^cofcgi_DIR:PATH=//p' "$work/consumer-build/CMakeCache.txt")"
[[ "$found" == "$prefix"/* ]] || fail "find_package found cofcgi in '$found', not in $prefix"
"$CMAKE" --build "$work/consumer-build"
# No LD_LIBRARY_PATH: the build RPATH CMake sets for imported targets must find the prefix.
out="$("$work/consumer-build/consumer")" || fail "consumer exited $?"
echo "$out"
grep -qx 'consumer: OK' <<<"$out" || fail "consumer did not print 'consumer: OK'"
libs="$(ldd "$work/consumer-build/consumer")"
grep -qF "$libdir/libcofcgi_runtime.so" <<<"$libs" ||
  fail "consumer is not linked against $libdir/libcofcgi_runtime.so: $libs"

step "pkg-config --cflags --libs cofcgi"
flags="$(PKG_CONFIG_PATH="$(dirname "$pc")" "$PKG_CONFIG" --cflags --libs cofcgi)"
echo "flags: $flags"
[[ "$flags" == *"-I$prefix"* || "$flags" == *"-I$libdir/pkgconfig/"* ]] ||
  fail "pkg-config's -I does not point into $prefix"
# shellcheck disable=SC2086  # flags and SANITIZE_FLAGS are word lists
"$CC" -std=c11 -Wall -Wextra -Werror $SANITIZE_FLAGS "$here/pkgconfig_main.c" $flags \
  -o "$work/pkgconfig_main"
out="$(LD_LIBRARY_PATH="$libdir" "$work/pkgconfig_main")" || fail "pkgconfig_main exited $?"
echo "$out"
grep -qx 'pkg-config: OK' <<<"$out" || fail "pkgconfig_main did not print 'pkg-config: OK'"

echo
echo "install test: OK"
