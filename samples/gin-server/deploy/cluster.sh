#!/usr/bin/env bash
# The scale-out demo: Redis (redis.conf), N tether-gin-server instances on
# that Redis, and nginx (nginx.conf) in front of them, all on 127.0.0.1 with
# free ports and all state in a temp dir. Prints the URL; Ctrl-C stops them
# all.
#
#   cluster.sh [--server PATH] [--instances N] [--port P] [-- SERVER ARGS...]
#
# --server: the tether-gin-server binary (default: build/samples/gin-server/
# tether-gin-server); --port: nginx's port (default: a free one); SERVER ARGS
# go to every instance (e.g. --echo --heartbeat-ms 2000).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
server="$root/build/samples/gin-server/tether-gin-server"
instances=3
port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --instances) instances="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for bin in redis-server nginx "$server"; do
  command -v "$bin" >/dev/null || { echo "cluster.sh: $bin not found" >&2; exit 1; }
done

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

T="$(mktemp -d)"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT INT TERM

redis_port="$(free_port)"
redis-server "$here/redis.conf" --port "$redis_port" --dir "$T" --logfile "$T/redis.log" --daemonize no &
pids+=($!)
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

upstream=""
for i in $(seq "$instances"); do
  p="$(free_port)"
  "$server" --port "$p" --redis "redis://127.0.0.1:$redis_port/0" --instance-id "i$i" "$@" \
    >"$T/i$i.out" 2>"$T/i$i.log" &
  pids+=($!)
  upstream+="        server 127.0.0.1:$p PARAMS;\n"
done

port="${port:-$(free_port)}"
# The repo's nginx.conf with this run's ports.
awk -v up="$upstream" -v listen="127.0.0.1:$port" '
  /^ *server 127\.0\.0\.1:[0-9]+ / {
    if (!done) { params = $0; sub(/^ *server [^ ]+ /, "", params); sub(/;.*/, "", params)
                 gsub(/PARAMS/, params, up); printf "%s", up; done = 1 }
    next }
  /^ *listen / { sub(/listen [^;]*;/, "listen " listen ";") }
  { print }' "$here/nginx.conf" >"$T/nginx.conf"
nginx -p "$T" -c "$T/nginx.conf" -g 'daemon off;' &
pids+=($!)
sleep 0.3

echo "redis:     redis://127.0.0.1:$redis_port/0 (state in $T)"
echo "instances: $(for i in $(seq "$instances"); do printf 'i%s ' "$i"; done)(logs: $T/i*.log)"
echo "URL:       ws://127.0.0.1:$port/ws"
echo "Ctrl-C stops everything."
wait -n "${pids[@]}" || true
echo "cluster.sh: a process exited; stopping" >&2
