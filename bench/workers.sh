#!/bin/sh
# The hello server with 1 and with 2 workers (h2lua --workers N).
#   bench/workers.sh [requests] [rounds]          (defaults 300000 and 3)
# For each round: `h2lua --workers 1 APP PORT`, then `--workers 2`, each
# started fresh and loaded by one h2load run (-c 100 -m 10 -t 2: enough
# connections for the kernel to spread over both workers' sockets). Per
# run: req/s (h2load) and the server's CPU time per request: the
# nanoseconds of /proc/PID/task/*/schedstat summed over the supervisor and
# every worker, just before and just after h2load, over the requests done
# (nothing is pinned: the workers and h2load share the machine's cores).
# Prints the medians and "cpu 2/1" = µs/req with 2 workers over µs/req
# with 1 (1.00: the work per request does not grow with the workers).
# VERBOSE=1 also prints every run (and how the CPU split between the two
# workers). Only 127.0.0.1 is used.
set -eu
cd "$(dirname "$0")/.."
N=${1:-300000}
ROUNDS=${2:-3}
APP=${APP:-examples/hello.lua}
VERBOSE=${VERBOSE:-}
H2LOAD_TIMEOUT=${H2LOAD_TIMEOUT:-300} # seconds, per h2load run

for tool in h2load curl python3 timeout ps; do
  command -v "$tool" >/dev/null 2>&1 || { echo "workers.sh: $tool is missing" >&2; exit 1; }
done
[ -r /proc/self/schedstat ] || { echo "workers.sh: no /proc/PID/schedstat here" >&2; exit 1; }
[ -x ./h2lua ] || ./bootstrap build >/dev/null

pid=""
cleanup() { if [ -n "$pid" ]; then stop "$pid"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop() { # $1 = the supervisor: SIGTERM (it drains its workers), then SIGKILL
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  pid=""
}
port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
workers_of() { ps -o pid= --ppid "$pid" | tr -d ' ' | sort -n | tr '\n' ' '; }
cputime() { # $* = pids: ns on CPU, summed over their threads
  for p in "$@"; do cat "/proc/$p/task/"*/schedstat; done | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

one() { # $1 = number of workers; sets RS and US
  p=$(port)
  url=http://127.0.0.1:$p/
  ./h2lua --workers "$1" "$APP" "$p" >/dev/null &
  pid=$!
  for _ in $(seq 1 200); do
    # shellcheck disable=SC2046
    [ $(workers_of | wc -w) -eq "$1" ] && curl -s --http2-prior-knowledge --max-time 1 -o /dev/null "$url" && break
    sleep 0.05
  done
  ws=$(workers_of)
  # shellcheck disable=SC2086
  t0=$(cputime "$pid" $ws)
  each0=""
  for w in $ws; do each0="$each0 $(cputime "$w")"; done
  out=$(timeout "$H2LOAD_TIMEOUT" h2load -n "$N" -c 100 -m 10 -t 2 "$url" 2>&1) || {
    echo "workers.sh: h2load failed:" >&2; echo "$out" | tail -n 5 >&2; exit 1; }
  # shellcheck disable=SC2086
  t1=$(cputime "$pid" $ws)
  SPLIT=""
  set -- $each0
  for w in $ws; do
    SPLIT="$SPLIT $(awk -v a="$1" -v b="$(cputime "$w")" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f%%", (b - a) * 100 / t }')"
    shift
  done
  [ "$(workers_of)" = "$ws" ] || { echo "workers.sh: a worker was restarted during the run" >&2; exit 1; }
  stop "$pid"
  res=$(echo "$out" | awk -v t0="$t0" -v t1="$t1" -v n="$N" '
    /^finished in/ { for (i = 1; i <= NF; i++) if ($i == "req/s,") rs = $(i - 1) }
    /^requests:/ { done = $6; ok = $8 }
    END {
      if (ok + 0 < n) printf "workers.sh: only %d of %d requests succeeded\n", ok, n > "/dev/stderr"
      if (done + 0 == 0 || rs == "") { print "workers.sh: no result from h2load" > "/dev/stderr"; exit 1 }
      printf "%s %.3f\n", rs, (t1 - t0) / 1e9 / done * 1e6
    }')
  # shellcheck disable=SC2086
  set -- $res
  RS=$1; US=$2
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf 'h2load -n %s -c 100 -m 10 -t 2, %s rounds, %s CPUs, cpu: schedstat ns of the supervisor and its workers; medians\n' \
  "$N" "$ROUNDS" "$(getconf _NPROCESSORS_ONLN)"
r1=""; u1=""; r2=""; u2=""
for r in $(seq 1 "$ROUNDS"); do
  one 1; r1="$r1 $RS"; u1="$u1 $US"
  [ -z "$VERBOSE" ] || echo "  round $r, 1 worker:  $RS req/s, $US µs/req" >&2
  one 2; r2="$r2 $RS"; u2="$u2 $US"
  [ -z "$VERBOSE" ] || echo "  round $r, 2 workers: $RS req/s, $US µs/req (CPU split:$SPLIT)" >&2
done
printf '%-10s %11s %9s\n' workers "req/s" "µs/req"
printf '%-10s %11.0f %9.2f\n' 1 "$(echo "$r1" | median)" "$(echo "$u1" | median)"
printf '%-10s %11.0f %9.2f\n' 2 "$(echo "$r2" | median)" "$(echo "$u2" | median)"
awk -v a="$(echo "$u1" | median)" -v b="$(echo "$u2" | median)" 'BEGIN { printf "cpu 2/1 %.2f\n", b / a }'
