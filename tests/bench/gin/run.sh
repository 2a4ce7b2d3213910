#!/usr/bin/env bash
# The Go server benchmark (docs/performance.md, "Go server: tether-gin-server"):
# in one run on loopback, the SDK against three servers:
#   gin    tether-gin-server (samples/gin-server)
#   chat   the reference chat-server
#   plain  a gorilla echo server written the articles' way, no reliability
#          (tests/bench/gin/plain, built here in GOPATH mode)
# and for each:
#   one-way  tether-cli, 64 B messages, acked (rooms mode: the server only acks);
#            msgs/s and the server's CPU per message (/proc/PID/stat)
#   echo     tether-cli --expect-echo, 64 B messages (acked and echoed); the same
#   rtt      tether_bench_e2e --sections latency at 10k msgs/s (p50, p99)
#   idle     RSS and goroutines per session with --sessions idle sessions
#            (tests/bench/gin/idle holds them; heartbeats on, server defaults)
# Not a test: it prints a table and writes JSON. Needs a build with
# tether-cli, chat-server, tether_bench_e2e and (default path) the Go server.
#
#   tests/bench/gin/run.sh [--build DIR] [--gin PATH] [--count N] [--reps N]
#                          [--sessions N] [--rtt-seconds S] [--only gin,chat,plain] [--json FILE]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build="$root/build"
gin=""
count=200000
reps=3
sessions=10000
rtt_s=4
only="gin,chat,plain"
json_out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift ;;
    --gin) gin="$2"; shift ;;
    --count) count="$2"; shift ;;
    --reps) reps="$2"; shift ;;
    --sessions) sessions="$2"; shift ;;
    --rtt-seconds) rtt_s="$2"; shift ;;
    --only) only="$2"; shift ;;
    --json) json_out="$2"; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
gin="${gin:-$build/samples/gin-server/tether-gin-server}"
chat="$build/samples/chat-server/chat-server"
cli="$build/samples/tether-cli/tether-cli"
e2e="$build/tests/bench/e2e/tether_bench_e2e"
for f in "$cli" "$e2e" "$chat" "$gin"; do
  [ -x "$f" ] || { echo "run.sh: $f not built" >&2; exit 2; }
done
py=/usr/bin/python3
[ -x "$py" ] || py=python3

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)"

# The baseline server and the idle-session holder: GOPATH mode, Debian's packages.
mkdir -p "$work/gopath/src/tether.bench"
ln -s "$here" "$work/gopath/src/tether.bench/gin"
(cd "$work/gopath/src/tether.bench/gin" &&
  GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" go build -o "$work/plain" ./plain &&
  GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" go build -o "$work/idle" ./idle)
plain="$work/plain"

srv_pid=""
srv_port=""
start_server() { # path, args...
  local out="$work/server.$RANDOM"
  "$@" --port 0 >"$out" 2>"$out.err" &
  srv_pid=$!
  pids+=("$srv_pid")
  for _ in $(seq 200); do
    if grep -q '^listening on ' "$out" 2>/dev/null; then
      srv_port="$(head -1 "$out" | sed 's/.*://')"
      return 0
    fi
    sleep 0.05
  done
  echo "run.sh: $1 did not start" >&2
  exit 1
}
stop_server() {
  kill -TERM "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
goroutines() { # port -> go_goroutines, or "" without /metrics
  "$py" - "$1" <<'EOF'
import sys, urllib.request
try:
    body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
except Exception:
    sys.exit(0)
for line in body.splitlines():
    if line.startswith("go_goroutines "):
        print(int(float(line.split()[1])))
EOF
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# tether-cli N times against the running server; prints the median msgs/s and
# the median server CPU (user + system) per message in microseconds.
cli_rate() { # url, extra args...
  local url="$1"; shift
  local rates=() cpus=() hz
  hz="$(getconf CLK_TCK)"
  for _ in $(seq "$reps"); do
    local line t0 t1
    t0="$(cpu_ticks "$srv_pid")"
    line="$("$cli" --url "$url" --count "$count" --payload-bytes 44 --timeout-s 120 "$@" 2>/dev/null | tail -1)"
    t1="$(cpu_ticks "$srv_pid")"
    rates+=("$("$py" -c 'import json,sys; s=json.loads(sys.argv[1]); n=sys.argv[2]
ok = s["error"] is None and s["acked"] == int(n)
print("%.0f" % (int(n) * 1000.0 / max(s["elapsed_ms"], 1)) if ok else "0")' "$line" "$count")")
    cpus+=("$("$py" -c 'import sys; t0, t1, hz, n = map(int, sys.argv[1:]); print("%.2f" % ((t1 - t0) * 1e6 / hz / n))' \
      "$t0" "$t1" "$hz" "$count")")
  done
  local median='{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  echo "$(printf '%s\n' "${rates[@]}" | sort -n | awk "$median") $(printf '%s\n' "${cpus[@]}" | sort -n | awk "$median")"
}

results="$work/results.jsonl"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for name in ${only//,/ }; do
  case "$name" in
    gin) bin="$gin" ;;
    chat) bin="$chat" ;;
    plain) bin="$plain" ;;
    *) echo "run.sh: unknown server $name" >&2; exit 2 ;;
  esac
  echo "== $name ($bin)" >&2

  start_server "$bin"
  read -r oneway oneway_cpu < <(cli_rate "ws://127.0.0.1:$srv_port/ws")
  stop_server
  start_server "$bin" --echo
  read -r echo_rate echo_cpu < <(cli_rate "ws://127.0.0.1:$srv_port/ws" --expect-echo)
  stop_server
  echo "   one-way $oneway msgs/s ($oneway_cpu us server CPU/msg), echo $echo_rate msgs/s ($echo_cpu us/msg)" >&2

  "$e2e" --chat-server "$bin" --no-raw --sections latency --rates 10000 --rtt-warmup 1 --rtt-seconds "$rtt_s" \
    --json "$work/rtt-$name.json" >"$work/rtt-$name.txt" 2>&1 || true
  read -r p50 p99 < <("$py" -c 'import json,sys
try:
    r = json.load(open(sys.argv[1]))["latency"][0]; print("%.0f %.0f" % (r["p50_us"], r["p99_us"]))
except Exception:
    print("0 0")' "$work/rtt-$name.json")
  echo "   RTT at 10k/s p50 $p50 us, p99 $p99 us" >&2

  start_server "$bin"
  sleep 1
  rss0="$(rss_kib "$srv_pid")"
  g0="$(goroutines "$srv_port")"
  mkfifo "$work/idle-in"
  "$work/idle" --url "ws://127.0.0.1:$srv_port/ws" --sessions "$sessions" <"$work/idle-in" >"$work/idle-out" 2>&1 &
  idle_pid=$!
  pids+=("$idle_pid")
  exec 9>"$work/idle-in"
  for _ in $(seq 1200); do grep -q '^ready' "$work/idle-out" && break; sleep 0.1; done
  grep -q '^ready' "$work/idle-out" || { echo "run.sh: idle sessions not ready: $(tail -3 "$work/idle-out")" >&2; exit 1; }
  sleep 3
  rss1="$(rss_kib "$srv_pid")"
  g1="$(goroutines "$srv_port")"
  exec 9>&-
  wait "$idle_pid" || true
  rm -f "$work/idle-in"
  stop_server
  read -r rss_per g_per < <("$py" -c 'import sys
rss0, rss1, n, g0, g1 = sys.argv[1:]
g = "%.2f" % ((int(g1) - int(g0)) / int(n)) if g0 and g1 else "-"
print("%.1f %s" % ((int(rss1) - int(rss0)) / int(n), g))' "$rss0" "$rss1" "$sessions" "$g0" "$g1")
  echo "   $sessions idle sessions: RSS $rss0 -> $rss1 KiB ($rss_per KiB each), goroutines $g0 -> $g1 ($g_per each)" >&2

  "$py" -c 'import json,sys; k=["server","oneway","oneway_cpu_us","echo","echo_cpu_us","p50_us","p99_us","rss_kib_per_session","goroutines_per_session","rss0_kib","rss1_kib","g0","g1","sessions"]; print(json.dumps(dict(zip(k, sys.argv[1:]))))' \
    "$name" "$oneway" "$oneway_cpu" "$echo_rate" "$echo_cpu" "$p50" "$p99" "$rss_per" "$g_per" "$rss0" "$rss1" "${g0:--}" "${g1:--}" "$sessions" >>"$results"
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

"$py" - "$results" "$load_start" "$load_end" "$count" "$reps" "$sessions" "${json_out:-}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["server"]: r for r in rows}
print("\nloopback, %s messages per tether-cli run, median of %s; load average %s -> %s" % (sys.argv[4], sys.argv[5], sys.argv[2], sys.argv[3]))
print("| server | one-way msgs/s | server CPU us/msg | echo msgs/s | server CPU us/msg | RTT 10k/s p50 / p99 (us) | RSS per idle session (%s) | goroutines per session |" % sys.argv[6])
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| %s | %s | %s | %s | %s | %s / %s | %s KiB | %s |" % (r["server"], r["oneway"], r["oneway_cpu_us"], r["echo"],
          r["echo_cpu_us"], r["p50_us"], r["p99_us"], r["rss_kib_per_session"], r["goroutines_per_session"]))
if "gin" in by and "plain" in by:
    g, p = by["gin"], by["plain"]
    ratio = lambda a, b: "%.2f" % (float(a) / float(b)) if float(b) else "-"
    print("\ngin / plain: one-way %sx (target >= 0.7), echo %sx (target >= 0.7), p99 RTT %sx (target <= 1.5)" % (
        ratio(g["oneway"], p["oneway"]), ratio(g["echo"], p["echo"]), ratio(g["p99_us"], p["p99_us"])))
    print("plain / gin server CPU per msg (the rate ratio the CPU allows): one-way %sx, echo %sx" % (
        ratio(p["oneway_cpu_us"], g["oneway_cpu_us"]), ratio(p["echo_cpu_us"], g["echo_cpu_us"])))
    print("gin: %s goroutines per connection (target <= 2), %s KiB RSS per idle session (target <= 32)" % (
        g["goroutines_per_session"], g["rss_kib_per_session"]))
if sys.argv[7]:
    json.dump({"rows": rows, "load": [sys.argv[2], sys.argv[3]]}, open(sys.argv[7], "w"), indent=1)
EOF
