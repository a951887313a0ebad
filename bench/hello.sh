#!/bin/sh
# h2lua's hello server against the bare libevent+nghttp2 stack (../shared/bench)
# in the same run: server pinned to CPU 0, h2load to CPU 1, alternated ROUNDS
# times; prints the median req/s of each and the ratio.
#   bench/hello.sh [requests] [rounds]
set -eu
cd "$(dirname "$0")/.."
N=${1:-200000}
ROUNDS=${2:-3}
SHARED=${SHARED:-../shared}
BARE=/tmp/h2limit.$$
cc -O2 -o "$BARE" "$SHARED/bench/h2limit.c" $(pkg-config --cflags --libs libevent libnghttp2)
[ -x ./h2lua ] || ./bootstrap build >/dev/null

port() { # a free port from the kernel
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
measure() { # $1 = url; prints req/s
  taskset -c 1 h2load -n "$N" -c 10 -m 10 -t 1 "$1" 2>/dev/null |
    awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($i == "req/s,") print $(i-1) }'
}
wait_port() {
  for _ in $(seq 1 100); do
    if curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.05
  done
  echo "server on $1 did not come up" >&2; return 1
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

bare_rs="" ; lua_rs=""
for r in $(seq 1 "$ROUNDS"); do
  p=$(port); taskset -c 0 "$BARE" "$p" & pid=$!
  wait_port "$p"; bare_rs="$bare_rs $(measure "http://127.0.0.1:$p/")"; kill "$pid"; wait "$pid" 2>/dev/null || true
  p=$(port); taskset -c 0 ./h2lua examples/hello.lua "$p" >/dev/null & pid=$!
  wait_port "$p"; lua_rs="$lua_rs $(measure "http://127.0.0.1:$p/")"; kill "$pid"; wait "$pid" 2>/dev/null || true
done
rm -f "$BARE"
b=$(echo $bare_rs | tr ' ' '\n' | median)
l=$(echo $lua_rs | tr ' ' '\n' | median)
echo "bare stack: $b req/s  (runs:$bare_rs)"
echo "h2lua:      $l req/s  (runs:$lua_rs)"
awk -v l="$l" -v b="$b" 'BEGIN { printf "ratio h2lua/bare: %.2f\n", l / b }'
