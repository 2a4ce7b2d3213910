# Shared by the packaging tests (sourced). Exit code 77 = skipped (CTest
# SKIP_RETURN_CODE).
set -euo pipefail

say() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

# start_server CHAT_SERVER [flags...]: runs chat-server on 127.0.0.1, port 0,
# and sets SERVER_PID and SERVER_URL from its first line ("listening on H:P").
# stop_server ends it (call it from the EXIT trap).
start_server() {
  local log="$WORK/chat-server.out"
  "$@" --host 127.0.0.1 --port 0 >"$log" 2>"$WORK/chat-server.err" &
  SERVER_PID=$!
  local i line=""
  for i in $(seq 1 100); do
    line=$(head -n1 "$log" 2>/dev/null || true)
    [[ "$line" == "listening on "* ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "chat-server exited: $(cat "$WORK/chat-server.err")"
    sleep 0.1
  done
  [[ "$line" == "listening on "* ]] || fail "chat-server did not say where it listens within 10 s"
  SERVER_URL="ws://${line#listening on }/ws"
  say "chat-server pid $SERVER_PID at $SERVER_URL"
}
stop_server() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
