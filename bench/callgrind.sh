#!/bin/sh
# Instructions per request of the hello server (callgrind counts, not
# seconds: repeatable). bench/callgrind.sh [requests] [script]
set -eu
cd "$(dirname "$0")/.."
N=${1:-20000}
APP=${2:-examples/hello.lua}
OUT=/tmp/h2lua-callgrind.$$
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$OUT" ./h2lua "$APP" "$P" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$P/" && break
  sleep 0.05
done
h2load -n "$N" -c 10 -m 10 -t 1 "http://127.0.0.1:$P/" | grep -E "^requests:"
kill -INT "$pid"; wait "$pid" || true
total=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "instructions: $total total, $((total / N)) per request"
if [ -n "${KEEP:-}" ]; then echo "profile kept in $OUT"; else rm -f "$OUT"; fi
