# shellcheck shell=bash
# bench/run cgi: the cost of one CGI run of examples/hello, process start to exit, sourced by
# bench/run (uses its helpers and options).
#
# hyperfine -N (no shell in between) runs each contender CGI_RUNS times (after CGI_WARMUP
# runs) with the environment a CGI host gives a GET, stdout to /dev/null:
#   cofcgi hello   examples/hello, chooses CGI mode from GATEWAY_INTERFACE (cgi/src/run_mode.cpp)
#   C cgi_hello    bench/peers/cgi_hello.c: one write() of the same bytes (process start and
#                  exit: the floor of any CGI program)
#   hello --version  for reference: the same binary loaded (dynamic linking of libcofcgi_cgi,
#                  libcofcgi_runtime, libstdc++) and exiting in parse_server_args, no request:
#                  the difference to the first row is the CGI run itself
#   /bin/true      for reference: exec with no output
# Everything is started through `env -i VARS...` (one more exec, identical for all), pinned
# with taskset to APP_CPU at the run's priority. Also checked first: hello's output is
# byte-for-byte the C program's.
#
# Environment: CGI_RUNS (2000), CGI_WARMUP (100).
# bench/run sets root, build, outdir, prio, app_cpu, ...:
# shellcheck disable=SC2154
scenario_cgi() {
  local runs="${CGI_RUNS:-2000}" warm="${CGI_WARMUP:-100}"
  need hyperfine hyperfine
  build_targets hello
  local hello="$build/examples/hello" peer
  [[ -x "$hello" ]] || die "$hello missing (build it, or drop --no-build)"
  peer="$(build_peer cgi_hello)"
  local vars=(GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET SERVER_PROTOCOL=HTTP/1.1
    SCRIPT_NAME=/cgi-bin/hello REQUEST_URI=/cgi-bin/hello?name=world QUERY_STRING=name=world
    SERVER_NAME=localhost SERVER_PORT=80 REMOTE_ADDR=127.0.0.1)
  local run=("${prio[@]}" taskset -c "$app_cpu" env -i "${vars[@]}")
  cmp <("${run[@]}" "$hello") <("${run[@]}" "$peer") ||
    die "hello's CGI output differs from bench/peers/cgi_hello.c's"

  tmp="$(mktemp -d /tmp/cofcgi-bench-cgi.XXXXXX)"
  local json="$tmp/cgi.json" table="$tmp/cgi.md"
  local q="env -i ${vars[*]}"
  log "hyperfine: $runs runs each"
  "${prio[@]}" taskset -c "$app_cpu" hyperfine -N --warmup "$warm" --runs "$runs" \
    --output=null --export-json "$json" --export-markdown "$table" \
    -n "cofcgi hello (CGI mode)" "$q $hello" \
    -n "C cgi_hello (one write)" "$q $peer" \
    -n "hello --version (load, no request)" "$q $hello --version" \
    -n "/bin/true" "$q /bin/true" 2>&1 | tee "$tmp/hyperfine.out" >&2

  local date_tag md commit dirty
  date_tag="$(date +%Y-%m-%d)"
  mkdir -p "$outdir"
  md="$outdir/cgi-$date_tag.md"
  [[ -e "$md" ]] && md="$outdir/cgi-$date_tag-$(date +%H%M%S).md"
  commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dirty="$(git -C "$root" diff --quiet 2>/dev/null || echo ' (plus uncommitted changes)')"
  {
    echo "# one CGI run of hello, process start to exit, $(date '+%Y-%m-%d %H:%M %Z')"
    echo
    echo "- machine: $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
    echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: other jobs ran alongside)"
    echo "- commit: $commit$dirty"
    echo "- build: ${build#"$root"/} (CMAKE_BUILD_TYPE=$(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" | cut -d= -f2)); $(${CXX:-c++} --version | head -1); $(hyperfine --version)"
    echo "- command: \`APP_CPU=$app_cpu bench/run --build ${build#"$root"/}$( ((do_build)) || echo ' --no-build') cgi\` (CGI_RUNS=$runs, CGI_WARMUP=$warm)"
    echo "- each run: \`${prio[*]} taskset -c $app_cpu hyperfine -N ... 'env -i ${vars[*]} PROGRAM'\`, stdout to /dev/null"
    echo
    cat "$table"
    echo
    echo "Min is the figure least disturbed by other jobs; User/System are CPU times per run (hyperfine):"
    echo
    echo '```'
    grep -E '^Benchmark|Time \(mean|Range' "$tmp/hyperfine.out" | sed 's/^  *//'
    echo '```'
  } >"$md"
  log "wrote $md"
  cat "$md"
}
