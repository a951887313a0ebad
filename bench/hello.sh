#!/bin/sh
# h2lua's hello server against the bare stack, side by side in one run.
#   bench/hello.sh [requests] [rounds]          (defaults 200000 and 3)
# For each workload, ROUNDS times in alternation: the bare server, then h2lua,
# each started fresh, pinned to CPU 0, loaded by h2load pinned to CPU 1. Per
# run: req/s (h2load) and the server's CPU time per request (utime+stime of
# /proc/PID/stat just before and just after h2load, over the requests done).
# Prints the medians; "cpu ratio" = bare µs/req / h2lua µs/req (the headline:
# 1.00 means h2lua costs what the bare stack costs), "req/s ratio" = h2lua
# req/s / bare req/s.
#
# Workloads (WORKLOADS="c10 c100 tls" by default, any subset, in that order):
#   c10   h2c, h2load -c 10 -m 10
#   c100  h2c, h2load -c 100 -m 100
#   tls   h2 over TLS (ALPN), h2load -c 10 -m 10; throwaway self-signed key
#
# Bare stacks: h2c is $SHARED/bench/h2limit.c (SHARED=../shared), TLS is
# bench/h2bare_tls.c; both compiled here with cc -O2. h2lua runs APP
# (examples/hello.lua PORT) and TLS_APP (bench/hello_tls.lua PORT KEY CERT).
# CPU time: CPUCLOCK=stat (default) reads utime+stime, whole clock ticks
# (CLK_TCK, usually 10 ms: keep the bare server's runs at 100+ ticks, i.e.
# enough requests); CPUCLOCK=schedstat reads the nanoseconds of
# /proc/PID/task/*/schedstat instead (the servers are single-threaded).
# VERBOSE=1 also prints every run. Only 127.0.0.1 is used.
set -eu
cd "$(dirname "$0")/.."
N=${1:-200000}
ROUNDS=${2:-3}
WORKLOADS=${WORKLOADS:-c10 c100 tls}
SHARED=${SHARED:-../shared}
APP=${APP:-examples/hello.lua}
TLS_APP=${TLS_APP:-bench/hello_tls.lua}
VERBOSE=${VERBOSE:-}
H2LOAD_TIMEOUT=${H2LOAD_TIMEOUT:-300} # seconds, per h2load run
CPUCLOCK=${CPUCLOCK:-stat}

for tool in cc pkg-config h2load taskset curl python3 timeout getconf; do
  command -v "$tool" >/dev/null 2>&1 || { echo "hello.sh: $tool is missing" >&2; exit 1; }
done
case "$WORKLOADS" in *tls*)
  command -v openssl >/dev/null 2>&1 || { echo "hello.sh: openssl is missing" >&2; exit 1; } ;;
esac
for w in $WORKLOADS; do
  case "$w" in c10|c100|tls) ;; *) echo "hello.sh: unknown workload $w (c10 c100 tls)" >&2; exit 2 ;; esac
done
[ -x ./h2lua ] || ./bootstrap build >/dev/null
HZ=$(getconf CLK_TCK)
case "$CPUCLOCK" in
  stat) UNITS=$HZ ;;
  schedstat) UNITS=1000000000
    [ -r /proc/self/schedstat ] || { echo "hello.sh: no /proc/PID/schedstat here" >&2; exit 1; } ;;
  *) echo "hello.sh: CPUCLOCK is stat or schedstat" >&2; exit 2 ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/h2lua-bench.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then stop "$pid"; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop() { # $1 = pid: SIGTERM, up to 5 s to exit, then SIGKILL
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  pid=""
}
port() { # a free port from the kernel
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_up() { # $1 = url: up to ~10 s for one good answer
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { echo "hello.sh: server for $1 exited" >&2; return 1; }
    case "$1" in
      https:*) curl -sk --http2 --max-time 1 -o /dev/null "$1" && return 0 ;;
      *) curl -s --http2-prior-knowledge --max-time 1 -o /dev/null "$1" && return 0 ;;
    esac
    sleep 0.05
  done
  echo "hello.sh: server for $1 did not come up" >&2
  return 1
}
cputime() { # CPU time of $pid so far, in 1/UNITS s
  if [ "$CPUCLOCK" = schedstat ]; then # ns on CPU, summed over the live threads
    cat "/proc/$pid/task/"*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'
  else # utime+stime in clock ticks: fields 14 and 15 (comm, field 2, may hold spaces)
    sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'
  fi
}
run() { # $1 = url, rest = h2load options; prints "req/s µs/req cpu-units" of the server $pid
  url=$1; shift
  t0=$(cputime)
  out=$(timeout "$H2LOAD_TIMEOUT" taskset -c 1 h2load -n "$N" -t 1 "$@" "$url" 2>&1) || {
    echo "hello.sh: h2load failed on $url:" >&2; echo "$out" | tail -n 5 >&2; return 1; }
  t1=$(cputime)
  echo "$out" | awk -v t0="$t0" -v t1="$t1" -v hz="$UNITS" -v n="$N" -v url="$url" '
    /^finished in/ { for (i = 1; i <= NF; i++) if ($i == "req/s,") rs = $(i - 1) }
    /^requests:/ { done = $6; ok = $8 }
    END {
      if (ok + 0 < n) printf "hello.sh: %s: only %d of %d requests succeeded\n", url, ok, n > "/dev/stderr"
      if (done + 0 == 0 || rs == "") { print "hello.sh: no result from h2load" > "/dev/stderr"; exit 1 }
      printf "%s %.3f %d\n", rs, (t1 - t0) / hz / done * 1e6, t1 - t0
    }'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

BARE=$TMP/h2limit
# shellcheck disable=SC2046 # pkg-config output is meant to split
cc -O2 -o "$BARE" "$SHARED/bench/h2limit.c" $(pkg-config --cflags --libs libevent libnghttp2)
case "$WORKLOADS" in *tls*)
  BARE_TLS=$TMP/h2bare_tls
  # shellcheck disable=SC2046
  cc -O2 -o "$BARE_TLS" bench/h2bare_tls.c \
    $(pkg-config --cflags --libs libevent libevent_openssl libnghttp2 openssl)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 ;;
esac

one() { # $1 = workload, $2 = bare|h2lua: start, measure, stop; sets RS and US
  # (not run in a subshell, so that the EXIT trap knows $pid)
  p=$(port)
  case "$1" in
    c10|c100)
      url=http://127.0.0.1:$p/
      if [ "$2" = bare ]; then taskset -c 0 "$BARE" "$p" >/dev/null &
      else taskset -c 0 ./h2lua "$APP" "$p" >/dev/null & fi ;;
    tls)
      url=https://127.0.0.1:$p/
      if [ "$2" = bare ]; then taskset -c 0 "$BARE_TLS" "$p" "$TMP/key.pem" "$TMP/cert.pem" >/dev/null &
      else taskset -c 0 ./h2lua "$TLS_APP" "$p" "$TMP/key.pem" "$TMP/cert.pem" >/dev/null & fi ;;
  esac
  pid=$!
  wait_up "$url"
  case "$1" in
    c100) res=$(run "$url" -c 100 -m 100) ;;
    *) res=$(run "$url" -c 10 -m 10) ;;
  esac
  stop "$pid"
  # shellcheck disable=SC2086 # three numbers
  set -- $res
  RS=$1; US=$2
  if [ "$CPUCLOCK" = stat ] && [ "$3" -lt "$FEW_TICKS" ]; then FEW_TICKS=$3; fi
}

FEW_TICKS=100
if [ "$CPUCLOCK" = stat ]; then clock="utime+stime, CLK_TCK $HZ"; else clock="schedstat ns"; fi
printf 'h2load -n %s -t 1, %s rounds, server on CPU 0, h2load on CPU 1, cpu: %s; medians\n' \
  "$N" "$ROUNDS" "$clock"
printf '%-24s %11s %11s %12s %13s %9s %11s\n' workload "bare req/s" "h2lua req/s" \
  "bare µs/req" "h2lua µs/req" "cpu ratio" "req/s ratio"
for w in $WORKLOADS; do
  b_rs=""; b_us=""; l_rs=""; l_us=""
  for r in $(seq 1 "$ROUNDS"); do
    one "$w" bare; b_rs="$b_rs $RS"; b_us="$b_us $US"
    [ -z "$VERBOSE" ] || echo "  $w round $r bare:  $RS req/s, $US µs/req" >&2
    one "$w" h2lua; l_rs="$l_rs $RS"; l_us="$l_us $US"
    [ -z "$VERBOSE" ] || echo "  $w round $r h2lua: $RS req/s, $US µs/req" >&2
  done
  case "$w" in
    c10) label="c10  h2c -c 10 -m 10" ;;
    c100) label="c100 h2c -c 100 -m 100" ;;
    tls) label="tls  h2 -c 10 -m 10" ;;
  esac
  awk -v w="$label" -v brs="$(echo "$b_rs" | median)" -v lrs="$(echo "$l_rs" | median)" \
      -v bus="$(echo "$b_us" | median)" -v lus="$(echo "$l_us" | median)" 'BEGIN {
    cpu = lus > 0 ? sprintf("%.2f", bus / lus) : "-"
    printf "%-24s %11.0f %11.0f %11.2f %12.2f %9s %11.2f\n", w, brs, lrs, bus, lus, cpu, lrs / brs
  }'
done
if [ "$FEW_TICKS" -lt 100 ]; then
  echo "note: a run took only $FEW_TICKS clock ticks of server CPU (±1 tick each);" \
    "use more requests or CPUCLOCK=schedstat for finer µs/req"
fi
