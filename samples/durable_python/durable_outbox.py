#!/usr/bin/env python3
"""Send while offline, kill the process, restart: nothing is lost.

    durable_outbox.py queue  --store FILE --url URL --count N
        queues N messages without connecting, waits until the store holds
        them (the Durable event), then kills its own process with SIGKILL;
    durable_outbox.py resume --store FILE --url URL
        opens the same store, connects, and waits until every recovered
        message is acknowledged. Prints a JSON summary; exit 0 when all were.

Uses the installed tether package (pip install the wheel), or else the
source tree's bindings/python with TETHER_LIBRARY naming libtether.so.0.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

try:
    import tether  # an installed package (the wheel carries libtether.so.0)
except ImportError:  # the source tree's package, with TETHER_LIBRARY set
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))
    import tether  # noqa: E402


def queue(args) -> int:
    client = tether.Client(args.url, persistence_path=args.store)
    last = 0
    for i in range(1, args.count + 1):
        last = client.send({"n": i}, message_id="offline-%d" % i)
    deadline = time.monotonic() + 10
    for ev in client.events(timeout=max(0.0, deadline - time.monotonic())):
        if isinstance(ev, tether.Durable) and ev.through >= last:
            print("queued %d messages; durable through id %d; killing myself" % (args.count, ev.through), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    print("the store did not report the messages durable in time", file=sys.stderr)
    return 1


def resume(args) -> int:
    # The context manager connects, and closes (bye) on exit.
    with tether.Client(args.url, persistence_path=args.store, backoff_base=0.05, backoff_max=0.5) as client:
        recovered, total = client.recovered
        acked = set()
        deadline = time.monotonic() + args.timeout
        while len(acked) < recovered and time.monotonic() < deadline:
            ev = client.next_event(timeout=max(0.0, deadline - time.monotonic()))
            if isinstance(ev, tether.Acked):
                acked.add(ev.id)
        ok = acked == set(range(1, recovered + 1))
        print(json.dumps({"recovered": recovered, "queued_total": total, "acked": len(acked), "ok": ok}))
        client.close()
        return 0 if ok and recovered > 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["queue", "resume"])
    p.add_argument("--store", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--timeout", type=float, default=20.0)
    args = p.parse_args()
    return queue(args) if args.mode == "queue" else resume(args)


if __name__ == "__main__":
    sys.exit(main())
