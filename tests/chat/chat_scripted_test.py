#!/usr/bin/env python3
"""tether-chat in scripted mode against the real chat-server (and the fault
proxy), asserting the transcripts. Label: integration.

usage: chat_scripted_test.py --chat BIN --server BIN --proxy BIN --check transcript_check.py [--only CASE ...]
"""
import argparse
import json
import os
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_test_support import check, eventually, run_cases, TestFailure  # noqa: E402

FAST = ["--heartbeat-ms", "500", "--connect-timeout-ms", "1000", "--backoff-base-ms", "50",
        "--backoff-max-ms", "500", "--deadline-ms", "20000", "--drain-ms", "3000"]
ARGS = None


def url(port):
    return f"ws://127.0.0.1:{port}/ws"


def one_client_drop_and_resume(ws):
    """Messages before and after /drop: each queued, sent, acked once, shown
    once; the session is resumed, the reconnect counted."""
    _, port = ws.server(extra=["--heartbeat-ms", "500"])
    script = ws.script("a.script", [
        "expect_state ready 10000",
        "say one", "say two", "say three",
        "wait_acked",
        "drop",
        "say four (sent while reconnecting)",
        "expect_state ready 10000",
        "say five",
        "wait_for_messages 5",
        "wait_acked",
        "expect_messages 5",
        "expect_failed 0",
        "quit",
    ])
    a = ws.chat("alice", url(port), script, FAST)
    rc = a.wait(60)
    check(rc == 0, f"exit {rc}, want 0; log:\n{a.tail()}")

    queued = a.events("queued")
    check([e["text"] for e in queued] == ["one", "two", "three", "four (sent while reconnecting)", "five"],
          f"queued texts {[e['text'] for e in queued]}")
    ids = [e["id"] for e in queued]
    check(len(set(ids)) == 5, "message ids are not unique")
    acked = [e["id"] for e in a.events("acked")]
    check(sorted(acked) == sorted(ids), f"acked {acked}, want each of {ids} once")
    received = [e["id"] for e in a.events("received")]
    check(sorted(received) == sorted(ids), f"shown {received}, want each of {ids} once (the room echoes ours)")
    check(all(e["own"] for e in a.events("received")), "our own messages must be flagged own")
    check(not a.events("failed"), "no message may fail")
    # every message was sent before it was acked
    order = [(e["event"], e.get("id")) for e in a.events() if e["event"] in ("sent", "acked")]
    for mid in ids:
        check(("sent", mid) in order and order.index(("sent", mid)) < order.index(("acked", mid)),
              f"{mid}: acked before sent in {order}")

    states = [(e["from"], e["to"]) for e in a.events("state")]
    check(states[:3] == [("idle", "connecting"), ("connecting", "authenticating"), ("authenticating", "ready")],
          f"first states {states[:3]}")
    check(states[-1] == ("closing", "closed"), f"last state change {states[-1]}, want closing -> closed")
    drop_backoff = [e for e in a.events("state") if e["from"] == "ready" and e["to"] == "backoff"]
    check(drop_backoff and drop_backoff[0].get("reason") == "transport_closed",
          f"/drop should lead to backoff with transport_closed: {drop_backoff}")
    check(len(a.events("resumed")) == 1, "one resume expected")
    check(not a.events("session_lost"), "the session must not be lost")
    s = a.stats()
    check(s["reconnects"] == 1 and s["resumes"] == 1 and s["sessions_lost"] == 0, f"stats {s}")
    check(a.events("exit")[-1]["code"] == 0, "exit event")


def two_clients_server_crash_exactly_once(ws):
    """SIGKILL the server mid-conversation and start it again on the same
    port: both clients report session_lost, re-send what was not acked, and
    show every message exactly once."""
    server, port = ws.server(extra=["--heartbeat-ms", "500"])
    scripts = {}
    for nick in ("alice", "bob"):
        lines = ["expect_state ready 10000", "mark ready", f"wait_file {ws.path('go1')}"]
        for i in range(1, 4):
            lines += [f"say {nick} {i} before the crash", "wait_ms 50"]
        lines += ["wait_for_messages 6", "mark before", f"wait_file {ws.path('go2')}"]
        for i in range(4, 7):
            lines += [f"say {nick} {i} while the server is down", "wait_ms 50"]
        lines += ["mark queued", f"wait_file {ws.path('go3')}", "expect_state ready 15000"]
        for i in range(7, 11):
            lines += [f"say {nick} {i} after the restart", "wait_ms 50"]
        lines += ["wait_for_messages 20", "mark done", f"wait_file {ws.path('go4')}", "wait_acked", "quit"]
        scripts[nick] = ws.script(f"{nick}.script", lines)
    a = ws.chat("alice", url(port), scripts["alice"], FAST)
    b = ws.chat("bob", url(port), scripts["bob"], FAST)

    def touch(name):
        open(ws.path(name), "w").close()

    eventually(lambda: a.marked("ready") and b.marked("ready"), 15, "both clients ready")
    touch("go1")
    eventually(lambda: a.marked("before") and b.marked("before"), 20, "the first 6 messages at both clients")
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    touch("go2")
    for c in (a, b):
        eventually(lambda c=c: any(e["from"] == "ready" for e in c.events("state"))
                   and c.marked("queued"), 15, "the clients to notice the crash and queue 3 messages each")
    ws.server(port=port, extra=["--heartbeat-ms", "500"])
    touch("go3")
    eventually(lambda: a.marked("done") and b.marked("done"), 30, "all 20 messages at both clients")
    touch("go4")
    check(a.wait(30) == 0, f"alice exit; log:\n{a.tail()}")
    check(b.wait(30) == 0, f"bob exit; log:\n{b.tail()}")

    for c in (a, b):
        lost = c.events("session_lost")
        check(len(lost) == 1, f"{c.transcript}: one session_lost expected, got {lost}")
        check(lost[0]["unacked"] >= 3, f"the 3 messages said while the server was down are re-sent: {lost[0]}")
        check(c.stats()["sessions_lost"] == 1, "stats.sessions_lost")
    # The copies the resync and the re-sends produce were dropped by id.
    check(sum(c.stats()["copies_dropped"] for c in (a, b)) > 0, "expected some copies dropped by id")
    out = subprocess.run([sys.executable, ARGS.check, "--json", "--expect-total", "20", a.transcript, b.transcript],
                         capture_output=True, text=True, timeout=30)
    summary = json.loads(out.stdout[:out.stdout.rindex("}") + 1])
    check(out.returncode == 0 and summary["exactly_once"] == 20 and not summary["problems"],
          f"transcript check failed: {summary['problems'][:5]}\n{out.stdout[-300:]}")


def half_open_through_blackhole(ws):
    """A blackholed link (no bytes, no FIN): the heartbeat declares it dead,
    reconnects fail into the blackhole until it heals, then the session
    resumes and the message said meanwhile is delivered once."""
    _, port = ws.server(extra=["--heartbeat-ms", "500"])
    proxy = ws.proxy(port)
    script = ws.script("a.script", [
        "expect_state ready 10000", "say before", "wait_acked", "mark go",
        f"wait_file {ws.path('dark')}",
        "say in the dark",
        f"wait_file {ws.path('healed')}",
        "expect_state ready 15000", "wait_for_messages 2", "wait_acked", "quit",
    ])
    a = ws.chat("carol", url(proxy.port), script, FAST)
    eventually(lambda: a.marked("go"), 15, "the first message acked")
    proxy.command("blackhole")
    open(ws.path("dark"), "w").close()
    eventually(lambda: any(e.get("reason") == "heartbeat_timeout" for e in a.events("state")), 10,
               "the heartbeat to declare the link dead")
    eventually(lambda: any(e.get("reason") == "connect_timeout" for e in a.events("state")), 10,
               "a reconnect attempt to time out in the blackhole")
    proxy.command("pass")
    open(ws.path("healed"), "w").close()
    rc = a.wait(40)
    check(rc == 0, f"exit {rc}; log:\n{a.tail()}")
    check(len(a.events("resumed")) >= 1 and not a.events("session_lost"), "the session must be resumed")
    texts = [e["text"] for e in a.events("received")]
    check(sorted(texts) == ["before", "in the dark"], f"shown {texts}")


def bad_token_fails_for_good(ws):
    """A wrong token: state failed (unauthorized), the script stops, exit 3."""
    _, port = ws.server(extra=["--tokens", "letmein"])
    script = ws.script("a.script", ["expect_state ready 10000", "say never", "quit"])
    a = ws.chat("mallory", url(port), script, [*FAST, "--token", "wrong"])
    rc = a.wait(30)
    check(rc == 3, f"exit {rc}, want 3; log:\n{a.tail()}")
    failed = [e for e in a.events("state") if e["to"] == "failed"]
    check(failed and failed[0].get("reason") == "unauthorized", f"state events {a.events('state')}")
    check(not a.events("queued"), "the script must stop at the failed expectation")
    good = ws.chat("alice", url(port), script, [*FAST, "--token", "letmein"])
    check(good.wait(30) == 0, f"the right token works; log:\n{good.tail()}")


def undelivered_message_exit_4(ws):
    """Nothing listens: quitting with a message unacknowledged fails it (closed), exit 4."""
    _, port = ws.server()
    proxy = ws.proxy(port)
    proxy.command("refuse")
    script = ws.script("a.script", ["expect_state backoff 10000", "say into the void", "quit 0"])
    a = ws.chat("dave", url(proxy.port), script, FAST)
    rc = a.wait(30)
    check(rc == 4, f"exit {rc}, want 4; log:\n{a.tail()}")
    failed = a.events("failed")
    check(len(failed) == 1 and failed[0]["reason"] == "closed", f"failed events {failed}")


def script_errors(ws):
    """A bad script is a usage error (2); a wait that misses its deadline is 1."""
    _, port = ws.server()
    bad = ws.script("bad.script", ["say hi", "dance"])
    a = ws.chat("erin", url(port), bad, FAST)
    check(a.wait(20) == 2, "unknown command: exit 2")
    slow = ws.script("slow.script", ["expect_state ready 10000", "wait_for_messages 5 300", "say not reached"])
    b = ws.chat("frank", url(port), slow, FAST)
    check(b.wait(20) == 1, f"deadline: exit 1; log:\n{b.tail()}")
    marks = [e["label"] for e in b.events("mark")]
    check(any("wait_for_messages" in m for m in marks), f"the failure is in the transcript: {marks}")
    check(not b.events("queued"), "nothing after the failed step runs")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--chat", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--check", required=True)
    ap.add_argument("--only", nargs="*")
    ARGS = ap.parse_args()
    return run_cases([one_client_drop_and_resume, two_clients_server_crash_exactly_once, half_open_through_blackhole,
                      bad_token_fails_for_good, undelivered_message_exit_4, script_errors], ARGS)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TestFailure as e:
        print(f"FAIL: {e}")
        sys.exit(1)
