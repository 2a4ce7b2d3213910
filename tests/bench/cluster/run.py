#!/usr/bin/env python3
"""Scale-out benchmark (not a test; docs/scale-out.md records the results).

  run.py --server BIN --cli BIN [--clients 30] [--count 5000] [--json OUT]

1. Aggregate acked msgs/s at 64 B, one-way with acks (rooms mode: the msgs
   are acked and nothing else): --clients tether-cli processes through nginx
   to 3 instances on one Redis (AOF everysec, deploy/redis.conf), then the
   same clients straight to 1 instance with the memory store.
2. Redis commands per msg from INFO commandstats over the cluster run: the
   commands the instances send (EVALSHA/EVAL, ZMSCORE for SeenID, PING), and
   all commands including those the scripts run inside Redis (commandstats
   counts both).
3. Redis memory per 1,000 idle sessions: used_memory before and after 1,000
   hello-only WebSocket clients (a raw client here; they never send a msg).
4. Resume on another instance after kill -9: tests/cluster's kill9 scenario
   (20 clients), its kill -> resumed p50/p99.
"""
import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", "..", ".."))
sys.path.insert(0, os.path.join(root, "tests", "cluster"))
import cluster_test as ct  # noqa: E402


def run_clients(a, url, n, count):
    t0 = time.monotonic()
    procs = [subprocess.Popen([a.cli, "--url", url, "--token", f"b{i}", "--count", str(count),
                               "--payload-bytes", "64", "--timeout-s", "600"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for i in range(n)]
    out = []
    for p in procs:
        o, _ = p.communicate(timeout=900)
        out.append(json.loads(o.decode().strip().splitlines()[-1]))
    wall = time.monotonic() - t0
    acked = sum(s["acked"] for s in out)
    ok = all(s["acked"] == count and s["sessions_lost"] == 0 for s in out)
    return {"clients": n, "msgs_per_client": count, "acked": acked, "wall_s": round(wall, 2),
            "acked_per_s": round(acked / wall), "all_acked": ok}


def commandstats(r):
    text = r.cmd("INFO", "commandstats")
    out = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_"):].partition(":")
            out[name] = int(dict(kv.split("=") for kv in rest.split(","))["calls"])
    return out


def ws_hello(port):
    """A raw WebSocket client that says hello and reads the welcome."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tether.v1\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the upgrade")
        buf += chunk
    ct.check(buf.startswith(b"HTTP/1.1 101"), f"upgrade refused: {buf[:40]!r}")
    payload = b'{"type":"hello","v":1}'
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    rest = buf.split(b"\r\n\r\n", 1)[1]
    while len(rest) < 2 or len(rest) < 2 + rest[1]:
        rest += s.recv(4096)
    ct.check(b"welcome" in rest, "no welcome")
    return s


def idle_memory(a, cl, n=1000):
    before = int(dict(l.split(":", 1) for l in cl.redis.cmd("INFO", "memory").splitlines() if ":" in l)["used_memory"])
    socks = [ws_hello(cl.nginx_port) for _ in range(n)]
    ct.eventually(lambda: len(cl.redis.cmd("KEYS", "tether:{*}:s")) >= n, 60, "the idle sessions in Redis")
    after = int(dict(l.split(":", 1) for l in cl.redis.cmd("INFO", "memory").splitlines() if ":" in l)["used_memory"])
    for s in socks:
        s.close()
    return {"sessions": n, "used_memory_delta_bytes": after - before, "bytes_per_session": round((after - before) / n)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--json")
    a = ap.parse_args()
    a.deploy = os.path.join(root, "samples", "gin-server", "deploy")
    a.chat = None
    os.environ["PATH"] += os.pathsep + "/usr/sbin"
    result = {"machine": {"nproc": os.cpu_count(), "loadavg_at_start": os.getloadavg()}}

    import tempfile
    import shutil
    tmp = tempfile.mkdtemp(prefix="tether-bench-cluster-")
    cl = ct.Cluster(a, tmp, mode=None, heartbeat_ms=15000)
    try:
        cl.start()
        cs0 = commandstats(cl.redis)
        result["cluster_3x_redis"] = run_clients(a, cl.url, a.clients, a.count)
        cs1 = commandstats(cl.redis)
        delta = {k: cs1.get(k, 0) - cs0.get(k, 0) for k in cs1}
        msgs = result["cluster_3x_redis"]["acked"]
        trips = sum(v for k, v in delta.items() if k in ("evalsha", "eval", "zmscore", "ping"))
        result["redis_commands"] = {
            "round_trips": trips, "round_trips_per_msg": round(trips / msgs, 3),
            "all_commands_incl_in_script": sum(delta.values()),
            "all_commands_per_msg": round(sum(delta.values()) / msgs, 3),
            "by_command": {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v},
        }
        result["redis_idle_memory"] = idle_memory(a, cl)
    finally:
        cl.close()
        shutil.rmtree(tmp, ignore_errors=True)

    # One instance, memory store, same clients, no nginx.
    port = ct.free_port()
    p = subprocess.Popen([a.server, "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        p.stdout.readline()
        result["single_memory"] = run_clients(a, f"ws://127.0.0.1:{port}/ws", a.clients, a.count)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()

    # Resume after kill -9, through the cluster test's scenario.
    r = subprocess.run([sys.executable, os.path.join(root, "tests", "cluster", "cluster_test.py"), "--scenario", "kill9",
                        "--server", a.server, "--cli", a.cli], capture_output=True, text=True, timeout=900)
    line = next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")), None)
    result["kill9"] = json.loads(line[len("RESULT "):]) if line else {"error": r.stdout[-2000:]}
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
