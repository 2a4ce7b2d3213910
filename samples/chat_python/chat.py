#!/usr/bin/env python3
"""A small chat client on the tether Python binding.

Joins a room on the reference chat-server and relays lines between the
terminal and the room: data {"room": R, "nick": N, "text": T}. The connection
survives server restarts and network drops; lines typed while disconnected
are sent once the client is back. See README.md.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

try:
    import tether
except ImportError:  # run from a source checkout: use bindings/python
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))
    import tether


def show(event: tether.Event, nick: str) -> None:
    if isinstance(event, tether.Message) and isinstance(event.data, dict) and "text" in event.data:
        who = event.data.get("nick", "?")
        print("[%s] %s%s: %s" % (event.data.get("room", "?"), who, " (you)" if who == nick else "", event.data["text"]),
              flush=True)
    elif isinstance(event, tether.StateChanged):
        why = " (%s)" % event.reason.name if event.reason else ""
        print("* %s%s" % (event.state.name.lower(), why), file=sys.stderr, flush=True)
    elif isinstance(event, tether.SessionLost):
        print("* session lost: messages may have been missed; rejoining", file=sys.stderr, flush=True)
    elif isinstance(event, tether.Failed):
        print("* not delivered: %s (%s)" % (event.message_id, event.error.name), file=sys.stderr, flush=True)


def read_stdin(client: tether.Client, state: dict, nick: str) -> None:
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        if line == "/quit":
            break
        if line.startswith("/join "):
            state["room"] = line[6:].strip()
            client.send({"room": state["room"]})
            print("* joined %s" % state["room"], file=sys.stderr, flush=True)
            continue
        try:
            client.send({"room": state["room"], "nick": nick, "text": line})
        except tether.TetherError as e:
            print("* cannot send: %s" % e, file=sys.stderr, flush=True)
    try:
        client.close(drain=5, wait=False)  # ends the event loop in main()
    except tether.TetherError:
        pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    p.add_argument("--token")
    p.add_argument("--nick", required=True)
    p.add_argument("--room", default="lobby")
    p.add_argument("--once", metavar="TEXT", help="send TEXT, wait until the room relays it back, exit")
    args = p.parse_args()

    with tether.Client(args.url, token=args.token, client_name="chat_python") as client:
        client.send({"room": args.room})  # join; queued until the session is ready
        if args.once is not None:
            client.wait_ready(timeout=10)
            mid = "%s-once" % args.nick
            client.send({"room": args.room, "nick": args.nick, "text": args.once}, message_id=mid)
            for event in client.events(timeout=10):
                show(event, args.nick)
                if isinstance(event, tether.Message) and event.message_id == mid:
                    return 0
            print("* no echo of our message", file=sys.stderr)
            return 1
        state = {"room": args.room}
        threading.Thread(target=read_stdin, args=(client, state, args.nick), daemon=True).start()
        try:
            for event in client.events():  # ends when the client has closed
                show(event, args.nick)
                if isinstance(event, tether.SessionLost):  # a new server forgot our room
                    client.send({"room": state["room"]})
        except tether.AuthError as e:
            print("* refused: %s" % e, file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
