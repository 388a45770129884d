# shellcheck shell=bash
# Shared set-up for scripts/test and scripts/demo: sourced, not run.
#
#   cofcgi_install_deps [PACKAGES...]
#                           installs the Debian packages of scripts/lib/apt-packages.txt
#                           (and PACKAGES) that are missing (apt-get update only then; sudo
#                           when not root)
#   cofcgi_configure DIR [CMAKE_ARGS...]
#                           configures DIR with Ninja (wiping DIR first when it was made by
#                           another generator or from another source tree)
#   cofcgi_build DIR [TARGETS...]
#                           builds with $COFCGI_JOBS jobs (default 2)
#
# Works on a bare Debian 12 (debootstrap --variant=minbase bookworm): bash, coreutils and
# dpkg are all it assumes.

COFCGI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COFCGI_JOBS="${COFCGI_JOBS:-2}"

# What the build, the tests and the benchmark peers need: scripts/lib/apt-packages.txt.
mapfile -t COFCGI_APT_PACKAGES < <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' \
  "$COFCGI_ROOT/scripts/lib/apt-packages.txt" | awk '!seen[$0]++')

cofcgi_log() { printf '==> %s\n' "$*" >&2; }
cofcgi_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
cofcgi_as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    cofcgi_die "need root (or sudo) to run: $*"
  fi
}

cofcgi_missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == installed ]] || printf '%s\n' "$pkg"
  done
}

cofcgi_install_deps() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    cofcgi_log "not a Debian system (no dpkg-query): assuming ${COFCGI_APT_PACKAGES[*]} are there"
    return 0
  fi
  local missing
  mapfile -t missing < <(cofcgi_missing_packages "${COFCGI_APT_PACKAGES[@]}" "$@")
  if ((${#missing[@]} == 0)); then
    cofcgi_log "packages: all present"
    return 0
  fi
  cofcgi_log "installing: ${missing[*]}"
  # The tests start private mariadbd/nginx instances themselves: keep the packages' own
  # services from starting (Debian's policy-rc.d protocol; 101 = "action forbidden"), in a
  # chroot or container they would only hold ports and memory. Only a policy we created is
  # removed again.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e "$policy" ]] &&
    printf '#!/bin/sh\n# written by cofcgi scripts/lib/setup.sh while it installs packages\nexit 101\n' |
    cofcgi_as_root tee "$policy" >/dev/null && cofcgi_as_root chmod 755 "$policy"; then
    created_policy=1
  fi
  local rc=0
  cofcgi_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null || rc=$?
  if ((rc == 0)); then
    cofcgi_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${missing[@]}" </dev/null || rc=$?
  fi
  ((created_policy)) && cofcgi_as_root rm -f "$policy"
  ((rc == 0)) || cofcgi_die "apt-get update/install failed (exit $rc): ${missing[*]}"
}

# cofcgi_configure DIR [CMAKE_ARGS...]
cofcgi_configure() {
  local dir="$1"
  shift
  local cache="$dir/CMakeCache.txt"
  if [[ -f "$cache" ]]; then
    local generator home
    generator="$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$cache")"
    home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")"
    if [[ "$generator" != Ninja || "$home" != "$COFCGI_ROOT" ]]; then
      cofcgi_log "$dir was configured by '$generator' for '$home': starting it afresh"
      rm -rf "$dir"
    fi
  fi
  cofcgi_log "configuring $dir: $*"
  cmake -S "$COFCGI_ROOT" -B "$dir" -G Ninja "$@"
}

# cofcgi_build DIR [TARGETS...]
cofcgi_build() {
  local dir="$1"
  shift
  local targets=()
  (($# > 0)) && targets=(--target "$@")
  cofcgi_log "building $dir ${*:-(all)} with $COFCGI_JOBS jobs"
  cmake --build "$dir" -j "$COFCGI_JOBS" "${targets[@]}"
}
