#!/usr/bin/env python3
"""Scale-out scenarios (docs/scale-out.md): a real redis-server, 3
tether-gin-server instances on it (--redis) and nginx in front
(samples/gin-server/deploy/nginx.conf), all on 127.0.0.1 ports picked here,
state in a temp dir; the SDK drives it (tether-cli, tether-chat).

usage: cluster_test.py --scenario NAME --server BIN --cli BIN [--chat BIN]
                       [--check transcript_check.py] [--deploy DIR]

Scenarios: kill9 sigterm sigstop redis_aof redis_lost nginx_reload pubsub
room. Each prints one `RESULT {json}` line with its counts and exits 0 on
pass, 1 on failure, 77 when redis-server or nginx is missing. Every wait has
a deadline; every process started here is stopped here.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chat"))
from chat_test_support import TestFailure as Fail, check, eventually  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Redis:
    """A minimal RESP client: one connection per call, so it survives
    restarts of the server."""

    def __init__(self, port):
        self.port = port

    def cmd(self, *args, timeout=5):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            return self._reply(s.makefile("rb"))

    def _reply(self, f):
        line = f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(f) for _ in range(n)]
        raise RuntimeError(f"bad RESP line {line!r}")

    def up(self):
        try:
            return self.cmd("PING", timeout=1) == "PONG"
        except (OSError, RuntimeError):  # refused, or LOADING the AOF
            return False


class Cluster:
    def __init__(self, a, tmp, instances=3, heartbeat_ms=1000, mode="--echo", extra=()):
        self.a, self.tmp, self.heartbeat_ms = a, tmp, heartbeat_ms
        self.redis_port = free_port()
        self.redis = Redis(self.redis_port)
        self.redis_proc = None
        self.ports = {f"i{i}": free_port() for i in range(1, instances + 1)}
        self.procs = {}
        self.args = [*([mode] if mode else []), "--heartbeat-ms", str(heartbeat_ms), "--session-ttl-ms", "60000",
                     "--drain-ms", "2000", *extra]
        self.nginx_port = free_port()
        self.nginx = None
        self.children = []
        self.logs = []

    # -- redis
    def start_redis(self):
        log = open(os.path.join(self.tmp, "redis.log"), "ab")
        self.redis_proc = subprocess.Popen(
            ["redis-server", os.path.join(self.a.deploy, "redis.conf"), "--port", str(self.redis_port),
             "--dir", self.tmp, "--daemonize", "no"], stdout=log, stderr=log)
        self.children.append(self.redis_proc)
        eventually(self.redis.up, 10, "redis-server to answer")

    def stop_redis(self, sig=signal.SIGTERM):
        self.redis_proc.send_signal(sig)
        self.redis_proc.wait(timeout=20)

    # -- instances
    def start_instance(self, name):
        port = self.ports[name]
        err = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        p = subprocess.Popen([self.a.server, "--host", "127.0.0.1", "--port", str(port),
                              "--redis", f"redis://127.0.0.1:{self.redis_port}/0", "--instance-id", name, *self.args],
                             stdout=subprocess.PIPE, stderr=err)
        line = p.stdout.readline().decode()
        check(line.startswith("listening on "), f"{name} did not start: {line!r}")
        self.procs[name] = p
        self.children.append(p)
        return p

    def signal(self, name, sig):
        self.procs[name].send_signal(sig)

    def kill9_restart(self, name):
        p = self.procs[name]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        self.start_instance(name)

    def metrics(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name]}/metrics", timeout=5) as r:
            out = {}
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    k, _, v = line.rpartition(" ")
                    out[k] = float(v)
            return out

    # -- nginx
    def nginx_conf(self):
        with open(os.path.join(self.a.deploy, "nginx.conf")) as f:
            text = f.read()
        params = re.search(r"(?m)^ *server 127\.0\.0\.1:\d+ ([^;]*);", text).group(1)
        servers = "".join(f"        server 127.0.0.1:{p} {params};\n" for p in self.ports.values())
        text = re.sub(r"(?m)^ *server 127\.0\.0\.1:\d+ [^\n]*\n", "", text)
        text = text.replace("    upstream tether {\n", "    upstream tether {\n" + servers, 1)
        text = re.sub(r"listen [^;]*;", f"listen 127.0.0.1:{self.nginx_port};", text, count=1)
        # The file's rule: above 2x the heartbeat (here a short one, so that
        # nginx gives up on a frozen instance quickly).
        text = re.sub(r"proxy_read_timeout [^;]*;", f"proxy_read_timeout {3 * self.heartbeat_ms}ms;", text)
        path = os.path.join(self.tmp, "nginx.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_nginx(self):
        conf = self.nginx_conf()
        self.nginx = subprocess.Popen(["nginx", "-p", self.tmp, "-c", conf, "-g", "daemon off;"],
                                      stderr=open(os.path.join(self.tmp, "nginx.stderr"), "ab"))
        self.children.append(self.nginx)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.nginx_port), timeout=1).close()
                return True
            except OSError:
                return False
        eventually(listening, 10, "nginx to listen")

    def reload_nginx(self):
        subprocess.run(["nginx", "-p", self.tmp, "-c", os.path.join(self.tmp, "nginx.conf"), "-g", "daemon off;",
                        "-s", "reload"], check=True, capture_output=True, timeout=10)

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.nginx_port}/ws"

    def start(self):
        self.start_redis()
        for name in self.ports:
            self.start_instance(name)
        self.start_nginx()
        return self

    def sessions(self):
        """sid -> {owner, att, ident} from Redis."""
        out = {}
        for key in self.redis.cmd("KEYS", "tether:{*}:s") or []:
            v = self.redis.cmd("HMGET", key, "owner", "att", "ident", "id")
            if v and v[3]:
                out[v[3]] = {"owner": v[0], "att": v[1] == "1", "ident": v[2]}
        return out

    def attached_counts(self):
        """owner -> attached sessions; empty while every client is between connections."""
        counts = {}
        for s in self.sessions().values():
            if s["att"]:
                counts[s["owner"]] = counts.get(s["owner"], 0) + 1
        return counts

    def busiest(self, load_over=lambda: False):
        """The instance holding the most attached sessions; None once
        load_over() says the clients are done (nothing left to hit)."""
        # Right after a fault every client may be reconnecting at once: wait,
        # bounded, for them to attach again instead of sampling one instant.
        counts = eventually(lambda: self.attached_counts() or load_over(), 15, "attached sessions in Redis")
        if counts is True:
            return None
        return max(counts.items(), key=lambda kv: kv[1])[0]

    def owned_by(self, name):
        return {s["ident"] for s in self.sessions().values() if s["att"] and s["owner"] == name}

    def close(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGTERM)  # the master stops its workers (SIGKILL would orphan them)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for p in reversed(self.children):
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                except ProcessLookupError:
                    pass
        for p in self.children:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


class Cli:
    """One tether-cli process; stderr lines are kept with their arrival time."""

    def __init__(self, a, url, name, count, echo=True, interval_ms=0, timeout_s=200):
        self.name = name
        cmd = [a.cli, "--url", url, "--token", name, "--count", str(count), "--payload-bytes", "64",
               "--timeout-s", str(timeout_s), "--backoff-max-ms", "500"]
        if echo:
            cmd.append("--expect-echo")
        if interval_ms:
            cmd += ["--interval-ms", str(interval_ms)]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stderr:
            with self.lock:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def resumed_after(self, t0):
        with self.lock:
            return next((t for t, l in self.lines if t >= t0 and l.startswith("session resumed")), None)

    def grep(self, pattern):
        with self.lock:
            return [l for _, l in self.lines if re.search(pattern, l)]

    def wait(self, timeout):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise Fail(f"{self.name}: tether-cli did not finish in {timeout} s")
        self.t.join(5)
        last = out.decode().strip().splitlines()[-1]
        s = json.loads(last)
        s["exit"] = self.p.returncode
        s["name"] = self.name
        return s


def exactly_once(summaries, count):
    """The per-client check of the issue: 0 lost, 0 duplicated, in order,
    no session lost. Returns the totals."""
    tot = {"clients": len(summaries), "sent": 0, "acked": 0, "echoes": 0, "lost": 0, "duplicated": 0,
           "out_of_order": 0, "sessions_lost": 0, "resumes": 0}
    for s in summaries:
        tot["sent"] += s["sent"]
        tot["acked"] += s["acked"]
        tot["echoes"] += s["echoes"]
        tot["lost"] += s["sent"] - s["echoes"]
        tot["duplicated"] += s["echo_duplicates"]
        tot["out_of_order"] += s["echo_out_of_order"]
        tot["sessions_lost"] += s["sessions_lost"]
        tot["resumes"] += s["resumes"]
    for s in summaries:
        check(s["exit"] == 0 and s["sent"] == count and s["acked"] == count and s["echoes"] == count and
              s["echo_duplicates"] == 0 and s["echo_out_of_order"] == 0 and s["sessions_lost"] == 0,
              f"{s['name']}: {json.dumps(s)}")
    return tot


def resume_latencies(clients, t_kill, idents):
    """kill -> 'session resumed' for the clients whose session the victim
    held (a client that was just closing may end instead)."""
    out = []
    for c in clients:
        if c.name in idents:
            eventually(lambda: c.resumed_after(t_kill) or c.p.poll() is not None, 30, f"{c.name} to resume")
            t = c.resumed_after(t_kill)
            if t is not None:
                out.append((t - t_kill) * 1000.0)
                if os.environ.get("TETHER_CLUSTER_DEBUG") and t - t_kill > 2:
                    with c.lock:
                        print(c.name, [(round(x - t_kill, 3), l) for x, l in c.lines if t_kill <= x <= t], file=sys.stderr)
    return out


def ms_stats(values):
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 1) if values else None,
            "p99_ms": round(percentile(values, 99), 1) if values else None}


# ---- scenarios

def scenario_kill9(a, cl):
    count, n, n_kills = 15000, 20, 5
    # Paced (2 ms between sends, 30 s or more) so that the load outlasts
    # the five kills, also where each resume takes seconds. Should it end
    # first, the test says so at once instead of waiting for sessions.
    clients = [Cli(a, cl.url, f"c{i}", count, interval_ms=2) for i in range(n)]
    eventually(lambda: len([s for s in cl.sessions().values() if s["att"]]) >= n, 30, "all clients attached")
    lat, kills = [], []
    next_kill = time.monotonic() + 2
    for _ in range(n_kills):
        while time.monotonic() < next_kill:
            time.sleep(0.01)
        victim = cl.busiest(load_over=lambda: all(c.p.poll() is not None for c in clients))
        if victim is None:
            break
        idents = cl.owned_by(victim)
        t = time.monotonic()
        cl.kill9_restart(victim)
        kills.append({"instance": victim, "sessions": len(idents)})
        lat += resume_latencies(clients, t, idents)
        next_kill = t + 2
    summaries = [c.wait(300) for c in clients]
    check(len(kills) == n_kills, f"the load ended after {len(kills)} of {n_kills} kills: {kills}")
    check(all(k["sessions"] > 0 for k in kills), f"a kill hit an instance with no sessions: {kills}")
    tot = exactly_once(summaries, count)
    return {**tot, "kills": kills, "kill_to_resumed": ms_stats(lat)}


def scenario_sigterm(a, cl):
    # Connections must be ready for stable_after (10 s) before the 1012, or
    # the SDK counts the drop as a failure (protocol.md §7): SIGTERM at 11 s.
    count, n = 3000, 10
    clients = [Cli(a, cl.url, f"c{i}", count, interval_ms=5) for i in range(n)]
    eventually(lambda: len([s for s in cl.sessions().values() if s["att"]]) >= n, 30, "all clients attached")
    time.sleep(11)  # the SDK's stable_after, a protocol constant, not a wait for a condition
    victim = cl.busiest()
    idents = cl.owned_by(victim)
    t = time.monotonic()
    cl.signal(victim, signal.SIGTERM)
    rc = cl.procs[victim].wait(timeout=20)
    check(rc == 0, f"{victim} exited {rc} on SIGTERM")
    moved = [c for c in clients if c.name in idents]
    lat = resume_latencies(clients, t, idents)
    summaries = [c.wait(300) for c in clients]
    tot = exactly_once(summaries, count)
    going_away = sum(1 for c in moved if c.grep(r"going_away|1012"))
    check(going_away == len(moved), f"only {going_away}/{len(moved)} moved clients saw going_away (1012)")
    # Not a failure: the SDK waits uniform(0, base) after a stable 1012,
    # not the failure backoff.
    retry = [int(m.group(1)) for c in moved for l in c.grep(r"retry in (\d+) ms") for m in [re.search(r"retry in (\d+) ms", l)]]
    return {**tot, "sigtermed": victim, "moved_clients": len(moved), "saw_1012": going_away,
            "retry_delays_ms": retry, "term_to_resumed": ms_stats(lat)}


def scenario_sigstop(a, cl):
    count, n = 5000, 10
    clients = [Cli(a, cl.url, f"c{i}", count, interval_ms=2) for i in range(n)]
    eventually(lambda: len([s for s in cl.sessions().values() if s["att"]]) >= n, 30, "all clients attached")
    time.sleep(1)  # some load first (pacing the fault, not a condition)
    victim = cl.busiest()
    idents = cl.owned_by(victim)
    t = time.monotonic()
    cl.signal(victim, signal.SIGSTOP)
    try:
        eventually(lambda: not cl.owned_by(victim) and all(
            s["owner"] != victim for s in cl.sessions().values() if s["ident"] in idents), 60,
            "the frozen instance's sessions to resume elsewhere")
        lat = resume_latencies(clients, t, idents)
    finally:
        cl.signal(victim, signal.SIGCONT)
    m0 = cl.metrics(victim)
    # Give the woken instance every chance to misbehave: a heartbeat and more.
    time.sleep(3 * cl.heartbeat_ms / 1000.0)
    m1 = cl.metrics(victim)
    delivered = m1["tether_messages_out_total"] - m0["tether_messages_out_total"]
    committed = m1["tether_messages_in_total"] - m0["tether_messages_in_total"]
    summaries = [c.wait(300) for c in clients]
    tot = exactly_once(summaries, count)
    check(delivered == 0 and committed == 0, f"the woken instance delivered {delivered}, committed {committed}")
    return {**tot, "frozen": victim, "frozen_sessions": len(idents), "woken_delivered": delivered,
            "woken_committed": committed, "stop_to_resumed": ms_stats(lat)}


def redis_restart(a, cl, lose_data):
    count, n = 5000, 10
    clients = [Cli(a, cl.url, f"c{i}", count, echo=not lose_data, interval_ms=2) for i in range(n)]
    eventually(lambda: len([s for s in cl.sessions().values() if s["att"]]) >= n, 30, "all clients attached")
    time.sleep(1)
    before = len(cl.sessions())
    cl.stop_redis(signal.SIGTERM)  # SHUTDOWN: the AOF is fsynced
    if lose_data:
        for f in os.listdir(cl.tmp):
            if f.startswith("appendonly") or f == "dump.rdb":
                p = os.path.join(cl.tmp, f)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    cl.start_redis()
    after = len(cl.sessions())
    summaries = [c.wait(300) for c in clients]
    if not lose_data:
        tot = exactly_once(summaries, count)
        check(after == before, f"{before} sessions before the restart, {after} after")
        return {**tot, "sessions_before": before, "sessions_after_restart": after}
    tot = {"sent": sum(s["sent"] for s in summaries), "acked": sum(s["acked"] for s in summaries),
           "sessions_lost": sum(s["sessions_lost"] for s in summaries)}
    for s in summaries:
        check(s["exit"] == 0 and s["acked"] == s["sent"] == count, f"{s['name']}: not everything acked: {json.dumps(s)}")
        check(s["sessions_lost"] >= 1, f"{s['name']}: no session_lost after Redis lost its data: {json.dumps(s)}")
    return {**tot, "sessions_before": before, "sessions_after_restart": after,
            "echoes_received": sum(s["echoes"] for s in summaries)}


def scenario_redis_aof(a, cl):
    return redis_restart(a, cl, lose_data=False)


def scenario_redis_lost(a, cl):
    return redis_restart(a, cl, lose_data=True)


def scenario_nginx_reload(a, cl):
    count, n = 5000, 10
    clients = [Cli(a, cl.url, f"c{i}", count, interval_ms=1) for i in range(n)]
    eventually(lambda: len([s for s in cl.sessions().values() if s["att"]]) >= n, 30, "all clients attached")
    for _ in range(3):
        time.sleep(1)
        cl.reload_nginx()
    summaries = [c.wait(300) for c in clients]
    return {**exactly_once(summaries, count), "reloads": 3}


class Chat:
    """tether-chat in scripted mode with a transcript."""

    def __init__(self, a, cl, nick, script_lines):
        self.nick = nick
        self.transcript = os.path.join(cl.tmp, f"{nick}.jsonl")
        script = os.path.join(cl.tmp, f"{nick}.script")
        with open(script, "w") as f:
            f.write("\n".join(script_lines) + "\n")
        self.p = subprocess.Popen([a.chat, "--url", cl.url, "--room", "r", "--nick", nick, "--token", nick,
                                   "--history", "0", "--script", script, "--transcript", self.transcript,
                                   "--backoff-max-ms", "500", "--deadline-ms", "60000", "--plain"],
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(cl.tmp, f"{nick}.err"), "ab"))

    def events(self):
        try:
            with open(self.transcript) as f:
                return [json.loads(l) for l in f if l.strip()]
        except (OSError, json.JSONDecodeError):
            return []

    def received(self, text):
        return any(e.get("event") == "received" and e.get("text") == text for e in self.events())

    def ready(self):
        return any(e.get("event") == "state" and e.get("to") == "ready" for e in self.events())


def room_barrier(cl, chats, n):
    """Rooms relay only to who is in the room: every member joins (its
    connect sends the join), then the driver lets them speak."""
    eventually(lambda: all(c.ready() for c in chats) and len(cl.redis.cmd("SMEMBERS", "tether:room:r") or []) >= n,
               60, "every member in the room")
    open(os.path.join(cl.tmp, "start"), "w").close()


def spans_all(cl, n):
    owners = {s["owner"] for s in cl.sessions().values() if s["att"]}
    return len(owners) == len(cl.ports) and len(cl.sessions()) >= n


def scenario_pubsub(a, cl):
    n = 6
    start = "wait_file " + os.path.join(cl.tmp, "start")
    chats = [Chat(a, cl, f"u{i}", [start, "say hello", f"wait_for_messages {n}", "wait_file " + os.path.join(cl.tmp, "go"),
                                   *(["say after-kill"] if i == 0 else []), f"wait_for_messages {n + 1}",
                                   "wait_acked", "quit 2000"]) for i in range(n)]
    try:
        room_barrier(cl, chats, n)
        eventually(lambda: all(c.received("hello") for c in chats) and all(len([e for e in c.events()
                   if e.get("event") == "received"]) >= n for c in chats), 60, "everyone's hello everywhere")
        check(spans_all(cl, n), f"the room does not span every instance: {cl.sessions()}")
        killed = cl.redis.cmd("CLIENT", "KILL", "TYPE", "pubsub")
        check(killed >= len(cl.ports), f"CLIENT KILL TYPE pubsub killed {killed}")
        t = time.monotonic()
        open(os.path.join(cl.tmp, "go"), "w").close()
        eventually(lambda: all(c.received("after-kill") for c in chats), 30, "the msg after the kill", interval=0.01)
        delay = (time.monotonic() - t) * 1000.0
        for c in chats:
            c.p.wait(timeout=60)
        codes = [c.p.returncode for c in chats]
        check(codes == [0] * n, f"tether-chat exit codes {codes}")
        check(delay <= cl.heartbeat_ms + 500, f"delivery took {delay:.0f} ms after the subscription was killed")
        return {"members": n, "pubsub_connections_killed": killed, "delivery_after_kill_ms": round(delay, 1),
                "heartbeat_ms": cl.heartbeat_ms}
    finally:
        for c in chats:
            if c.p.poll() is None:
                c.p.kill()
                c.p.wait()


def scenario_room(a, cl):
    n, each = 6, 60
    chats = []
    for i in range(n):
        lines = ["wait_file " + os.path.join(cl.tmp, "start"), "say hello", f"wait_for_messages {n}"]
        for k in range(each):
            lines += [f"say u{i}:{k}", "wait_ms 100"]
        lines += [f"wait_for_messages {n + n * each} 90000", "wait_acked 30000", "quit 2000"]
        chats.append(Chat(a, cl, f"u{i}", lines))
    try:
        room_barrier(cl, chats, n)
        eventually(lambda: all(len([e for e in c.events() if e.get("event") == "received"]) >= n for c in chats),
                   60, "everyone's hello everywhere")
        check(spans_all(cl, n), f"the room does not span every instance: {cl.sessions()}")
        kills = []
        for _ in range(3):
            time.sleep(1)  # pacing the faults
            victim = cl.busiest()
            cl.kill9_restart(victim)
            kills.append(victim)
        for c in chats:
            c.p.wait(timeout=120)
        codes = [c.p.returncode for c in chats]
        check(codes == [0] * n, f"tether-chat exit codes {codes}")
        dup, order_breaks, got = 0, 0, 0
        for c in chats:
            last = {}
            seen = set()
            for e in c.events():
                if e.get("event") == "duplicate":
                    dup += 1
                if e.get("event") != "received" or ":" not in e.get("text", ""):
                    continue
                sender, k = e["text"].split(":")
                k = int(k)
                if (sender, k) in seen:
                    dup += 1
                seen.add((sender, k))
                if k != last.get(sender, -1) + 1:
                    order_breaks += 1
                last[sender] = k
            got += len(seen)
        check(got == n * n * each and dup == 0 and order_breaks == 0,
              f"got {got}/{n * n * each}, {dup} duplicates, {order_breaks} out of order")
        lost = sum(1 for c in chats for e in c.events() if e.get("event") == "session_lost")
        check(lost == 0, f"{lost} sessions lost")
        if a.check:
            r = subprocess.run([sys.executable, a.check, "--quiet", *[c.transcript for c in chats]],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, f"transcript_check: {r.stdout[-2000:]}")
        return {"members": n, "msgs_per_member": each, "deliveries": got, "expected": n * n * each,
                "duplicated": dup, "out_of_order": order_breaks, "sessions_lost": lost, "kills": kills}
    finally:
        for c in chats:
            if c.p.poll() is None:
                c.p.kill()
                c.p.wait()


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--server", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--chat")
    ap.add_argument("--check")
    ap.add_argument("--deploy", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "..", "..", "samples", "gin-server", "deploy"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    a = ap.parse_args()
    for tool in ("redis-server", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"SKIP: {tool} not installed (Debian packages redis-server, nginx-light)")
            return 77
    os.environ["PATH"] += os.pathsep + "/usr/sbin"
    tmp = tempfile.mkdtemp(prefix=f"tether-cluster-{a.scenario}-")
    mode = "--echo"
    if a.scenario in ("pubsub", "room"):
        check(a.chat, "--chat is needed for this scenario")
        mode = None  # rooms mode, the server's default
    cl = Cluster(a, tmp, mode=mode)
    ok = False
    try:
        cl.start()
        result = SCENARIOS[a.scenario](a, cl)
        print("RESULT " + json.dumps({"scenario": a.scenario, **result}))
        ok = True
    except Fail as e:
        print(f"FAIL {a.scenario}: {e}")
        for name in list(cl.ports) + ["redis"]:
            path = os.path.join(tmp, f"{name}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail = f.read()[-1500:]
                print(f"--- {name}.log (tail)\n{tail}")
    finally:
        cl.close()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
