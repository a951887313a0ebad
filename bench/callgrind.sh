#!/bin/sh
# Instructions per request of the hello server (callgrind counts, not
# seconds: repeatable).
#   bench/callgrind.sh [requests] [app] [h2load options...]
# requests: 20000. app: $APP, else examples/hello.lua, run as `h2lua APP PORT`;
# with TLS=1 (h2 over TLS, ALPN, throwaway self-signed key) bench/hello_tls.lua,
# run as `h2lua APP PORT KEY CERT`. h2load runs with -t 1 -c 10 -m 10, then
# $H2LOAD_ARGS, then the options after app (later ones win: -c 100 -m 100).
#
# The first line is "instructions: T total, N per request" (the whole
# process, start-up included, over the requests asked for). Then, unless
# TOP=0, where they go by self cost (callgrind_annotate, grouped by the
# object file of each function): per group and the top TOP functions
# (default 15), in instructions per request. Callgrind sees user space only:
# no kernel time is in these counts. KEEP=1 keeps the profile file.
set -eu
cd "$(dirname "$0")/.."
N=${1:-20000}
[ $# -gt 0 ] && shift
TLS=${TLS:-}
if [ -n "$TLS" ]; then APP=${APP:-bench/hello_tls.lua}; else APP=${APP:-examples/hello.lua}; fi
if [ $# -gt 0 ]; then APP=$1; shift; fi
TOP=${TOP:-15}
H2LOAD_ARGS=${H2LOAD_ARGS:-}

for tool in valgrind callgrind_annotate h2load curl python3 timeout; do
  command -v "$tool" >/dev/null 2>&1 || { echo "callgrind.sh: $tool is missing" >&2; exit 1; }
done
[ -x ./h2lua ] || ./bootstrap build >/dev/null

TMP=$(mktemp -d "${TMPDIR:-/tmp}/h2lua-callgrind.XXXXXX")
OUT=$TMP/callgrind.out
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ] && [ -f "$OUT" ]; then
    kept=${TMPDIR:-/tmp}/h2lua-callgrind.$$.out
    mv "$OUT" "$kept" && echo "profile kept in $kept"
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ -n "$TLS" ]; then
  command -v openssl >/dev/null 2>&1 || { echo "callgrind.sh: openssl is missing" >&2; exit 1; }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
  URL=https://127.0.0.1:$P/
  valgrind --tool=callgrind --callgrind-out-file="$OUT" \
    ./h2lua "$APP" "$P" "$TMP/key.pem" "$TMP/cert.pem" >"$TMP/log" 2>&1 &
else
  URL=http://127.0.0.1:$P/
  valgrind --tool=callgrind --callgrind-out-file="$OUT" ./h2lua "$APP" "$P" >"$TMP/log" 2>&1 &
fi
pid=$!

up=""
for _ in $(seq 1 300); do # up to ~30 s or more: start-up under valgrind is slow
  kill -0 "$pid" 2>/dev/null || break
  if [ -n "$TLS" ]; then curl -sk --http2 --max-time 2 -o /dev/null "$URL" && up=1 && break
  else curl -s --http2-prior-knowledge --max-time 2 -o /dev/null "$URL" && up=1 && break; fi
  sleep 0.1
done
if [ -z "$up" ]; then
  echo "callgrind.sh: $APP did not come up on $URL" >&2; tail -n 20 "$TMP/log" >&2; exit 1
fi

# shellcheck disable=SC2086 # H2LOAD_ARGS is a list of options
load=$(timeout 600 h2load -n "$N" -t 1 -c 10 -m 10 $H2LOAD_ARGS "$@" "$URL" 2>&1) || {
  echo "callgrind.sh: h2load failed:" >&2; echo "$load" | tail -n 5 >&2; exit 1; }

# SIGINT: h2lua shuts down gracefully and callgrind writes the profile
kill -INT "$pid"
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
  echo "callgrind.sh: h2lua did not exit within 60 s of SIGINT" >&2; exit 1
fi
wait "$pid" || true
pid=""
[ -s "$OUT" ] || { echo "callgrind.sh: no profile written" >&2; tail -n 20 "$TMP/log" >&2; exit 1; }

callgrind_annotate --auto=no --threshold=100 "$OUT" >"$TMP/annotate" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$TMP/annotate")
echo "instructions: $total total, $((total / N)) per request"
echo "$load" | grep -E "^requests:" || true
echo "$load" | awk -v n="$N" '/^requests:/ && $8 + 0 < n { print "callgrind.sh: only " $8 " of " n " requests succeeded" > "/dev/stderr" }'
[ "$TOP" -gt 0 ] 2>/dev/null || exit 0

# Function lines of callgrind_annotate: "  1,234 ( 5.67%)  file:function [object]"
awk -v n="$N" -v top="$TOP" -v total="$total" '
  function group(obj, file, fn,   base) {
    base = obj; sub(/.*\//, "", base)
    if (base ~ /^liblua/) return "liblua"
    if (base ~ /^libnghttp2/) return "libnghttp2"
    if (base ~ /^libevent/) return "libevent"
    if (base ~ /^lib(ssl|crypto)\./) return "openssl"
    if (base ~ /^libc\.so/ || base ~ /^libc-/) {
      if (file ~ /malloc\// || fn ~ /^(__libc_)?(malloc|free|calloc|realloc|cfree)$/ ||
          fn ~ /^(_int_|malloc_|unlink_chunk|tcache|__libc_(malloc|free|calloc|realloc))/)
        return "libc malloc/free"
      return "libc other"
    }
    if (base == "h2lua" || base ~ /^h2lua_core/) return "h2lua"
    if (base ~ /^ld-linux/ || base ~ /^ld-[0-9.]*\.so/) return "ld.so"
    return "other"
  }
  BEGIN {
    order = "liblua libnghttp2 libevent openssl libc_malloc/free libc_other h2lua ld.so other"
    ng = split(order, names, " ")
    for (i = 1; i <= ng; i++) gsub("_", " ", names[i])
    label["liblua"] = "liblua (Lua VM, C API)"
    label["libnghttp2"] = "libnghttp2"
    label["libevent"] = "libevent"
    label["openssl"] = "libssl, libcrypto"
    label["libc malloc/free"] = "libc malloc/free"
    label["libc other"] = "libc other"
    label["h2lua"] = "h2lua itself (engine)"
    label["ld.so"] = "ld.so (loading, symbols)"
    label["other"] = "other"
  }
  /^-+$/ { if (infn && seen) infn = 0; next }
  /file:function/ { infn = 1; next }
  infn && /^ *[0-9,]+ +\( *[0-9.]+%\) +/ {
    ir = $1; gsub(",", "", ir); ir += 0
    line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line)
    obj = ""
    if (line ~ /\]$/) { # the object: after the last " ["
      for (j = length(line) - 1; j > 1 && substr(line, j - 1, 2) != " ["; j--) ;
      if (j > 1) { obj = substr(line, j + 1, length(line) - j - 1); line = substr(line, 1, j - 2) }
    }
    file = line; fn = line
    if ((i = index(line, ":")) > 0) { file = substr(line, 1, i - 1); fn = substr(line, i + 1) }
    if (fn ~ /^0x[0-9a-f]/) { # unnamed: 0x000000000001ef00 -> 0x1ef00
      sub(/^0x0*/, "0x", fn); if (fn == "0x" || fn ~ /^0x[^0-9a-f]/) sub(/^0x/, "0x0", fn)
    }
    g = group(obj, file, fn)
    sum[g] += ir; seen++
    base = obj; sub(/.*\//, "", base)
    where = file; sub(/.*\//, "", where)
    if (where == "???" || where == "") where = base
    cnt++; fir[cnt] = ir; fname[cnt] = fn; fwhere[cnt] = where; fgroup[cnt] = g
  }
  END {
    if (total + 0 == 0) exit
    printf "\nself cost by group (user space only)   Ir/request   share\n"
    acc = 0
    for (i = 1; i <= ng; i++) {
      g = names[i]; if (!(g in sum)) continue
      printf "  %-36s %10.0f  %5.1f%%\n", label[g], sum[g] / n, 100 * sum[g] / total
      acc += sum[g]
    }
    printf "  %-36s %10.0f  %5.1f%%\n", "all", acc / n, 100 * acc / total
    printf "\ntop %d functions by self cost\n  Ir/request  share  %-17s function (file or object)\n", top, "group"
    for (k = 1; k <= top && k <= cnt; k++)
      printf "  %10.0f  %4.1f%%  %-17s %s  (%s)\n", fir[k] / n, 100 * fir[k] / total, fgroup[k], fname[k], fwhere[k]
  }' "$TMP/annotate"
