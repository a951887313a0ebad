#!/bin/sh
# h2lua.router with few and many routes: in-process lookups per second
# (bench/router.lua), then h2load req/s against bench/router_app.lua with
# each number of routes, the requests spread over paths of the first,
# middle and last routes and a 404.
#   bench/router.sh [requests] [rounds]     (defaults 100000 and 3)
# SIZES="10 10000" by default. Server on CPU 0, h2load (-c 10 -m 10 -t 1) on
# CPU 1; medians of the rounds, sizes alternated. Only 127.0.0.1 is used.
set -eu
cd "$(dirname "$0")/.."
N=${1:-100000}
ROUNDS=${2:-3}
SIZES=${SIZES:-10 10000}
for tool in h2load taskset curl python3 timeout lua5.4; do
  command -v "$tool" >/dev/null 2>&1 || { echo "router.sh: $tool is missing" >&2; exit 1; }
done
[ -x ./h2lua ] || ./bootstrap build >/dev/null

echo "in-process (lua5.4 bench/router.lua 300000 $SIZES):"
# shellcheck disable=SC2086 # sizes are words
LUA_PATH="lua/?.lua;;" lua5.4 bench/router.lua 300000 $SIZES
echo

TMP=$(mktemp -d "${TMPDIR:-/tmp}/h2lua-router.XXXXXX")
pid=""
stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  pid=""
}
cleanup() { if [ -n "$pid" ]; then stop "$pid"; fi; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

uris() { # $1 = port, $2 = routes: the paths bench/router.lua times
  python3 - "$1" "$2" <<'PY'
import sys
port, size = int(sys.argv[1]), int(sys.argv[2])
shapes = ["/svc%d/users/42", "/svc%d/users/42/posts/7", "/svc%d/files/a/b/c.txt", "/svc%d/health"]
for base in (1, (size // 8) * 4 + 1, size - 3):
    for r in range(max(1, base), min(size, base + 3) + 1):
        print("http://127.0.0.1:%d%s" % (port, shapes[(r - 1) % 4] % ((r - 1) // 4 + 1)))
print("http://127.0.0.1:%d/nowhere/at/all" % port)
PY
}

one() { # $1 = routes: prints req/s
  p=$(port)
  taskset -c 0 ./h2lua bench/router_app.lua "$p" "$1" >/dev/null &
  pid=$!
  for _ in $(seq 1 200); do
    curl -s --http2-prior-knowledge --max-time 1 -o /dev/null "http://127.0.0.1:$p/svc1/health" && break
    sleep 0.05
  done
  uris "$p" "$1" > "$TMP/uris"
  out=$(timeout 300 taskset -c 1 h2load -n "$N" -c 10 -m 10 -t 1 -i "$TMP/uris" 2>&1) || {
    echo "router.sh: h2load failed:" >&2; echo "$out" | tail -n 5 >&2; return 1; }
  stop "$pid"
  echo "$out" | awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($i == "req/s,") print $(i - 1) }'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf 'h2load -n %s -c 10 -m 10 -t 1, %s rounds, server on CPU 0, h2load on CPU 1; median req/s\n' "$N" "$ROUNDS"
results=""
for r in $(seq 1 "$ROUNDS"); do
  for s in $SIZES; do
    v=$(one "$s")
    results="$results $s:$v"
  done
done
for s in $SIZES; do
  vals=$(for x in $results; do case "$x" in "$s":*) echo "${x#*:}" ;; esac; done | tr '\n' ' ')
  printf '%6s routes: %8s req/s   (rounds: %s)\n' "$s" "$(echo "$vals" | median)" "$vals"
done
