#!/usr/bin/env bash
# The README's first command. Builds the chat sample, then shows tether keeping
# a conversation whole through network faults and a server crash:
#
#   tether-chat "alice" --> fault-proxy A --\
#                                            >--> chat-server (127.0.0.1)
#   tether-chat "bob"   --> fault-proxy B --/
#
# Both clients run a script and say 5 messages in each of 4 phases (40 in all):
#   1. a calm conversation;
#   2. alice's connection is cut (FIN) and bob's is blackholed (no bytes, no
#      FIN) until his heartbeat declares it dead, then healed: both clients
#      reconnect and resume their sessions, nothing is lost;
#   3. the server is killed (SIGKILL) while both keep talking, then started
#      again on the same port: the sessions are lost, each client reports it
#      and re-sends what the server had not acknowledged, and rejoins the room;
#   4. a calm conversation again.
# tether-chat shows a room message once per message id, however many copies
# arrive. At the end the demo prints both transcripts, the reconnects, resumes
# and lost sessions, and a verdict; it exits 0 only if every message was shown
# exactly once by both clients. Everything listens on 127.0.0.1 only. The run
# (after the build) is bounded: about 15 s normally, 110 s at most.
#
# Options: --build DIR  build directory (default: build, shared with .ci/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

bash .ci/install-deps.sh --demo

echo "demo: building chat-server, tether-chat and fault-proxy in $build/ (the first build takes a few minutes)"
# The same configuration as .ci/test.sh, plus what the demo needs in case the
# directory was configured without it.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_WERROR=ON \
  -DTETHER_BUILD_TRANSPORT=ON -DTETHER_BUILD_SAMPLES=ON -DTETHER_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target chat-server tether-chat fault-proxy

server_bin=$build/samples/chat-server/chat-server
chat_bin=$build/samples/chat/tether-chat
proxy_bin=$build/tests/support/fault_proxy/fault-proxy
check=samples/chat/transcript_check.py
d=$build/demo
rm -rf "$d"
mkdir -p "$d"

pids=()
server_pid=""
cleanup() {
  exec 3>&- 4>&- # end of input: the proxies quit
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM

run_deadline=$((SECONDS + 110))

say() { printf 'demo: %s\n' "$*"; }

# wait_for WHAT TIMEOUT_S COMMAND...: polls COMMAND every 0.1 s until it
# succeeds; status 2 from COMMAND means it never will.
wait_for() {
  local what=$1 timeout=$2 rc
  shift 2
  local end=$((SECONDS + timeout))
  ((end > run_deadline)) && end=$run_deadline
  while true; do
    rc=0
    "$@" || rc=$?
    ((rc == 0)) && return 0
    if ((rc == 2)); then
      echo "demo: gave up waiting for $what" >&2
      return 1
    fi
    if ((SECONDS >= end)); then
      echo "demo: timed out waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

port_of() { sed -n '1s/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$1" 2>/dev/null; }
# listening FILE PID: the process printed its port (2: it died instead)
listening() {
  [ -n "$(port_of "$1")" ] && return 0
  kill -0 "$2" 2>/dev/null || return 2
  return 1
}
marked() { grep -qs "\"label\":\"$2\"" "$d/$1.jsonl" || return 1; } # 0/1 only: 2 would mean "give up"
both_marked() { marked alice "$1" && marked bob "$1"; }
count() {
  local n
  n=$(grep -c "$2" "$d/$1.jsonl" 2>/dev/null) || true
  echo "${n:-0}"
}
count_above() { (($(count "$1" "$2") > $3)); }
lines_above() { (($(wc -l <"$1") > $2)); }

start_server() { # PORT OUTFILE
  "$server_bin" --port "$1" --heartbeat-ms 500 >"$2" 2>"$2.err" &
  server_pid=$!
  pids+=("$server_pid")
  wait_for "chat-server to listen" 10 listening "$2" "$server_pid"
}

proxy_cmd() { # FD OUTFILE COMMAND: send a command, wait for its answer
  local before
  before=$(wc -l <"$2")
  echo "$3" >&"$1"
  wait_for "fault-proxy to answer '$3'" 5 lines_above "$2" "$before"
  if tail -n 1 "$2" | grep -q '^error'; then
    echo "demo: fault-proxy: $(tail -n 1 "$2")" >&2
    return 1
  fi
}

report() {
  say "transcripts ($d/alice.jsonl, $d/bob.jsonl):"
  echo
  local rc=0
  python3 "$check" --expect-total 40 "$d/alice.jsonl" "$d/bob.jsonl" || rc=$?
  return $rc
}

fail() {
  echo "demo: FAILED: $*" >&2
  for f in alice bob; do
    echo "--- last lines of $d/$f.log" >&2
    tail -n 15 "$d/$f.log" >&2 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  report || true
  exit 1
}

# ---- the scripts ---------------------------------------------------------------------
write_script() { # NICK PHASE2-NOTE
  local me=$1 note2=$2 n=0 i
  {
    echo "expect_state ready 10000"
    echo "mark ready"
    echo "wait_file $d/go1"
    for i in 1 2 3 4 5; do n=$((n + 1)); echo "say $me $n/20: calm"; echo "wait_ms 120"; done
    echo "wait_for_messages 10"
    echo "mark phase1-done"
    echo "wait_file $d/go2"
    for i in 1 2 3 4 5; do n=$((n + 1)); echo "say $me $n/20: $note2"; echo "wait_ms 200"; done
    echo "wait_for_messages 20"
    echo "mark phase2-done"
    echo "wait_file $d/go3"
    for i in 1 2 3 4 5; do n=$((n + 1)); echo "say $me $n/20: the server is down"; echo "wait_ms 100"; done
    echo "mark phase3-sent"
    echo "wait_file $d/go4"
    echo "expect_state ready 20000"
    for i in 1 2 3 4 5; do n=$((n + 1)); echo "say $me $n/20: after the restart"; echo "wait_ms 120"; done
    echo "wait_for_messages 40"
    echo "mark done"
    echo "wait_file $d/go-end"
    echo "wait_acked"
    echo "quit"
  } >"$d/$me.script"
}
write_script alice "my connection was cut"
write_script bob "my connection is blackholed"

# ---- the cast ----------------------------------------------------------------------------
start_server 0 "$d/server-1.out" || fail "chat-server did not start"
port=$(port_of "$d/server-1.out")
say "chat-server listening on 127.0.0.1:$port"

mkfifo "$d/proxy-alice.ctl" "$d/proxy-bob.ctl"
"$proxy_bin" --upstream "127.0.0.1:$port" <"$d/proxy-alice.ctl" >"$d/proxy-alice.out" 2>&1 &
pa_pid=$!
pids+=("$pa_pid")
exec 3>"$d/proxy-alice.ctl"
"$proxy_bin" --upstream "127.0.0.1:$port" <"$d/proxy-bob.ctl" >"$d/proxy-bob.out" 2>&1 &
pb_pid=$!
pids+=("$pb_pid")
exec 4>"$d/proxy-bob.ctl"
wait_for "alice's fault-proxy" 10 listening "$d/proxy-alice.out" "$pa_pid" || fail "fault-proxy did not start"
wait_for "bob's fault-proxy" 10 listening "$d/proxy-bob.out" "$pb_pid" || fail "fault-proxy did not start"
pa=$(port_of "$d/proxy-alice.out")
pb=$(port_of "$d/proxy-bob.out")
say "fault-proxy A on 127.0.0.1:$pa (alice), fault-proxy B on 127.0.0.1:$pb (bob)"

client_flags=(--room demo --heartbeat-ms 500 --connect-timeout-ms 1000 --backoff-base-ms 100
  --backoff-max-ms 1000 --deadline-ms 45000 --drain-ms 5000)
"$chat_bin" --url "ws://127.0.0.1:$pa/ws" --nick alice --script "$d/alice.script" \
  --transcript "$d/alice.jsonl" "${client_flags[@]}" >"$d/alice.log" 2>&1 &
alice_pid=$!
pids+=("$alice_pid")
"$chat_bin" --url "ws://127.0.0.1:$pb/ws" --nick bob --script "$d/bob.script" \
  --transcript "$d/bob.jsonl" "${client_flags[@]}" >"$d/bob.log" 2>&1 &
bob_pid=$!
pids+=("$bob_pid")

# ---- phase 1 -------------------------------------------------------------------------------
wait_for "both clients to be ready" 15 both_marked ready || fail "the clients did not connect"
say "phase 1: alice and bob are in room #demo; a calm conversation"
touch "$d/go1"
wait_for "phase 1 to finish" 20 both_marked phase1-done || fail "phase 1"

# ---- phase 2 -------------------------------------------------------------------------------
bob_backoffs=$(count bob '"to":"backoff"')
say "phase 2: cutting alice's connection (FIN) and blackholing bob's (nothing moves, no FIN)"
proxy_cmd 3 "$d/proxy-alice.out" cut || fail "proxy A"
proxy_cmd 4 "$d/proxy-bob.out" blackhole || fail "proxy B"
touch "$d/go2"
wait_for "bob's heartbeat to declare the link dead" 15 \
  count_above bob '"reason":"heartbeat_timeout"' 0 || fail "bob never noticed the blackhole"
say "phase 2: bob's heartbeat declared the silent link dead; his reconnect runs into the blackhole too"
wait_for "bob's attempt through the blackhole to time out" 15 \
  count_above bob '"to":"backoff"' $((bob_backoffs + 1)) || fail "bob's reconnect did not time out"
proxy_cmd 4 "$d/proxy-bob.out" pass || fail "proxy B"
say "phase 2: network healed for bob"
wait_for "phase 2 to finish" 30 both_marked phase2-done || fail "phase 2"

# ---- phase 3 -------------------------------------------------------------------------------
alice_backoffs=$(count alice '"to":"backoff"')
bob_backoffs=$(count bob '"to":"backoff"')
say "phase 3: killing chat-server (SIGKILL): every session is lost with it"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
touch "$d/go3"
wait_for "both clients to notice" 10 count_above alice '"to":"backoff"' "$alice_backoffs" || fail "alice did not notice"
wait_for "both clients to notice" 10 count_above bob '"to":"backoff"' "$bob_backoffs" || fail "bob did not notice"
wait_for "both clients to talk while the server is down" 10 both_marked phase3-sent || fail "phase 3"
say "phase 3: starting chat-server again on 127.0.0.1:$port"
if ! start_server "$port" "$d/server-2.out"; then
  # The port was taken meanwhile: take any port and point both proxies at it.
  start_server 0 "$d/server-2.out" || fail "chat-server did not restart"
  port=$(port_of "$d/server-2.out")
  say "phase 3: port busy; restarted on $port and retargeted both proxies"
  proxy_cmd 3 "$d/proxy-alice.out" "upstream 127.0.0.1:$port" || fail "proxy A"
  proxy_cmd 4 "$d/proxy-bob.out" "upstream 127.0.0.1:$port" || fail "proxy B"
fi
touch "$d/go4"

# ---- phase 4 -------------------------------------------------------------------------------
wait_for "both clients to report the lost session" 15 count_above alice '"event":"session_lost"' 0 ||
  fail "alice did not report session_lost"
wait_for "both clients to report the lost session" 15 count_above bob '"event":"session_lost"' 0 ||
  fail "bob did not report session_lost"
say "phase 4: both clients reported session_lost and re-sent what was not acknowledged"
wait_for "every message to reach both clients" 45 both_marked done || fail "not every message arrived"
touch "$d/go-end"

client_exit() { kill -0 "$1" 2>/dev/null && return 1 || return 0; }
wait_for "alice to quit" 15 client_exit "$alice_pid" || fail "alice did not quit"
wait_for "bob to quit" 15 client_exit "$bob_pid" || fail "bob did not quit"
alice_rc=0
wait "$alice_pid" || alice_rc=$?
bob_rc=0
wait "$bob_pid" || bob_rc=$?
say "clients exited: alice $alice_rc, bob $bob_rc"

verdict=0
report || verdict=$?
if ((alice_rc != 0 || bob_rc != 0)); then verdict=1; fi
exit "$verdict"
