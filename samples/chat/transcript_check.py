#!/usr/bin/env python3
"""Reads tether-chat transcripts (--transcript FILE.jsonl), prints them for
people, and checks that every message any of the clients sent was shown
exactly once by every client.

usage: transcript_check.py [--expect-total N] [--quiet] [--json] A.jsonl B.jsonl ...

Prints each transcript (unless --quiet), each client's counters, then one line
    VERDICT: PASS — 40/40 messages delivered exactly once to both clients
and exits 0 on PASS, 1 on FAIL, 2 on bad input. --json prints the per-client
summary as JSON instead of text (for tests).
"""
import argparse
import collections
import json
import sys


def load(path):
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"transcript_check: {path}:{n}: not JSON ({e})")
    return events


class Client:
    def __init__(self, path, events):
        self.path = path
        self.events = events
        start = next((e for e in events if e.get("event") == "start"), {})
        self.nick = start.get("nick", path)
        self.sent = collections.OrderedDict()  # id -> text, in send order
        self.received = collections.Counter()  # id -> times shown
        self.failed = {}
        self.stats = {}
        self.exit_code = None
        self.copies = 0
        for e in events:
            kind = e.get("event")
            if kind == "queued":
                self.sent[e["id"]] = e.get("text", "")
            elif kind == "received":
                self.received[e.get("id", "")] += 1
            elif kind == "failed":
                self.failed[e["id"]] = e.get("reason", "?")
            elif kind == "duplicate":
                self.copies += 1
            elif kind == "stats":
                self.stats = e
            elif kind == "exit":
                self.exit_code = e.get("code")

    def count(self, name):
        return sum(1 for e in self.events if e.get("event") == name)


def fmt_time(ms):
    return f"{ms / 1000:7.2f}s"


def show(client, out):
    """A human-readable transcript: one line per thing worth seeing."""
    final = {}
    attempts = collections.Counter()
    for e in client.events:
        if e.get("event") in ("acked", "failed"):
            final[e["id"]] = e
        elif e.get("event") == "sent":
            attempts[e["id"]] = max(attempts[e["id"]], e.get("attempt", 1))
    out.write(f"--- transcript of {client.nick} ({client.path}) ---\n")
    copies = []  # a run of dropped copies, printed as one line

    def flush_copies():
        if copies:
            t0 = fmt_time(copies[0].get("t_ms", 0))
            out.write(f"{t0}      ({len(copies)} cop{'y' if len(copies) == 1 else 'ies'} of messages already shown "
                      f"dropped by id)\n")
            copies.clear()

    for e in client.events:
        if e.get("event") == "duplicate":
            copies.append(e)
            continue
        if e.get("event") in ("queued", "received", "state", "resumed", "session_lost", "resync", "mark", "exit"):
            flush_copies()
        t = fmt_time(e.get("t_ms", 0))
        kind = e.get("event")
        if kind == "queued":
            end = final.get(e["id"], {})
            state = {"acked": "acked \u2713", "failed": f"failed \u2717 {end.get('reason', '')}"}.get(
                end.get("event"), "still pending")
            tries = attempts[e["id"]]
            extra = f", written {tries}\u00d7" if tries > 1 else ""
            out.write(f"{t}  {client.nick} says {e['text']!r:<28} -> {state}{extra}\n")
        elif kind == "received" and not e.get("own"):
            via = "   (re-sent by its author when we rejoined)" if e.get("via") == "resync" else ""
            out.write(f"{t}      <{e.get('nick')}> {e.get('text')!r}{via}\n")
        elif kind == "state":
            why = f" ({e['reason']})" if e.get("reason") else ""
            retry = f" retry in {e['retry_in_ms']} ms" if e.get("to") == "backoff" else ""
            out.write(f"{t}  [state] {e.get('from')} -> {e.get('to')}{why}{retry}\n")
        elif kind == "resumed":
            out.write(f"{t}  [session resumed] {e.get('unacked')} unacknowledged message(s) go out again, "
                      f"nothing lost\n")
        elif kind == "session_lost":
            out.write(f"{t}  [SESSION LOST] the server forgot the session; "
                      f"{e.get('unacked')} unacknowledged message(s) go out again in a new one\n")
        elif kind == "resync" and e.get("count"):
            out.write(f"{t}  [resync] re-sent my {e.get('count')} message(s) for {e.get('for')} ({e.get('trigger')})\n")
        elif kind == "presence" and e.get("kind") == "join":
            out.write(f"{t}  [presence] {e.get('nick')} joined\n")
        elif kind == "mark":
            out.write(f"{t}  [mark] {e.get('label')}\n")
        elif kind == "error":
            out.write(f"{t}  [error] {e.get('code')}: {e.get('detail')}\n")
        elif kind == "exit":
            out.write(f"{t}  [exit] code {e.get('code')}\n")
    flush_copies()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("transcripts", nargs="+")
    ap.add_argument("--expect-total", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    try:
        clients = [Client(p, load(p)) for p in args.transcripts]
    except OSError as e:
        print(f"transcript_check: {e}", file=sys.stderr)
        return 2

    out = sys.stdout
    if not args.quiet and not args.json:
        for c in clients:
            show(c, out)
            out.write("\n")

    every = collections.OrderedDict()
    for c in clients:
        for mid, text in c.sent.items():
            every[mid] = (c.nick, text)

    problems = []
    exactly_once = 0
    for mid, (nick, text) in every.items():
        ok = True
        for c in clients:
            n = c.received[mid]
            if n != 1:
                ok = False
                problems.append(f"{c.nick} showed {mid} ({nick}: {text!r}) {n} times")
        if ok:
            exactly_once += 1
    for c in clients:
        for mid in c.received:
            if mid not in every:
                problems.append(f"{c.nick} showed {mid!r}, which no client sent")
        for mid, reason in c.failed.items():
            problems.append(f"{c.nick}: message {mid} failed ({reason})")
        if c.exit_code != 0:
            problems.append(f"{c.nick} exited with {c.exit_code}")
    total = len(every)
    if args.expect_total is not None and total != args.expect_total:
        problems.append(f"{total} messages were sent, expected {args.expect_total}")

    summary = []
    for c in clients:
        s = c.stats
        summary.append({
            "nick": c.nick, "sent": len(c.sent), "shown": sum(c.received.values()),
            "copies_dropped": c.copies, "reconnects": s.get("reconnects"), "resumes": s.get("resumes"),
            "sessions_lost": s.get("sessions_lost"), "frames_resent": s.get("frames_resent"),
            "resyncs": c.count("resync"), "failed": len(c.failed), "exit": c.exit_code,
        })
    if args.json:
        json.dump({"clients": summary, "total": total, "exactly_once": exactly_once, "problems": problems}, out,
                  indent=1)
        out.write("\n")
    else:
        out.write("client   sent  shown  copies-dropped  reconnects  resumes  sessions-lost  frames-resent  "
                  "resyncs  exit\n")
        for s in summary:
            out.write(f"{s['nick']:<8} {s['sent']:>4}  {s['shown']:>5}  {s['copies_dropped']:>14}  "
                      f"{s['reconnects']!s:>10}  {s['resumes']!s:>7}  {s['sessions_lost']!s:>13}  "
                      f"{s['frames_resent']!s:>13}  {s['resyncs']:>7}  {s['exit']!s:>4}\n")
        for p in problems[:20]:
            out.write(f"problem: {p}\n")
        if len(problems) > 20:
            out.write(f"problem: ... and {len(problems) - 20} more\n")
    who = "both clients" if len(clients) == 2 else f"all {len(clients)} clients"
    if len(clients) == 1:
        who = clients[0].nick
    if total == 0:
        problems.append("no messages were sent")
    verdict = "PASS" if not problems else "FAIL"
    why = "" if not problems else f" ({len(problems)} problem(s), first: {problems[0]})"
    out.write(f"VERDICT: {verdict} \u2014 {exactly_once}/{total} messages delivered exactly once to {who}{why}\n")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
