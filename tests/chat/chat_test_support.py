"""Shared helpers for the tether-chat tests: start chat-server and fault-proxy
as child processes on 127.0.0.1, run tether-chat, read transcripts, and wait
for conditions with deadlines (never a bare sleep)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time


class TestFailure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def eventually(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def read_first_line(proc, timeout, what):
    """The first stdout line of a child ('listening on 127.0.0.1:PORT')."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None and not sel.select(0):
            raise TestFailure(f"{what} did not print its first line (exit {proc.poll()})")
        if sel.select(min(left, 0.2)):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise TestFailure(f"{what} closed stdout (exit {proc.poll()})")
            buf += chunk
    sel.close()
    return buf.split(b"\n", 1)[0].decode()


def port_of(line):
    check(line.startswith("listening on "), f"unexpected first line {line!r}")
    return int(line.rsplit(":", 1)[1])


class Workspace:
    """A temporary directory and the child processes of one test case."""

    def __init__(self, args, name):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix=f"tether-chat-{name}-")
        self.procs = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def server(self, port=0, extra=()):
        p = self.spawn([self.args.server, "--port", str(port), *extra], stdout=subprocess.PIPE,
                       stderr=open(self.path(f"server-{len(self.procs)}.err"), "wb"))
        return p, port_of(read_first_line(p, 10, "chat-server"))

    def proxy(self, upstream_port):
        p = self.spawn([self.args.proxy, "--upstream", f"127.0.0.1:{upstream_port}"], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return Proxy(p, port_of(read_first_line(p, 10, "fault-proxy")))

    def script(self, name, lines):
        path = self.path(name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def chat(self, nick, url, script, extra=(), room="test"):
        transcript = self.path(f"{nick}.jsonl")
        log = open(self.path(f"{nick}.log"), "wb")
        p = self.spawn([self.args.chat, "--url", url, "--room", room, "--nick", nick, "--script", script,
                        "--transcript", transcript, *extra], stdout=log, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL)
        return Chat(p, transcript, self.path(f"{nick}.log"))

    def close(self, keep):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.stdin, p.stdout):
                if stream:
                    try:
                        stream.close()
                    except OSError:
                        pass
        if keep:
            print(f"  (files kept in {self.dir})")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Proxy:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port

    def command(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().decode().strip()
        check(answer == "ok" or line == "stats", f"fault-proxy answered {answer!r} to {line!r}")
        return answer


class Chat:
    def __init__(self, proc, transcript, log):
        self.proc = proc
        self.transcript = transcript
        self.log = log

    def events(self, kind=None):
        out = []
        try:
            with open(self.transcript, encoding="utf-8") as f:
                for line in f:
                    if line.endswith("\n"):
                        e = json.loads(line)
                        if kind is None or e.get("event") == kind:
                            out.append(e)
        except FileNotFoundError:
            pass
        return out

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure(f"tether-chat did not finish within {timeout} s; log:\n{self.tail()}")

    def tail(self, n=25):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    def marked(self, label):
        return any(e.get("label") == label for e in self.events("mark"))

    def stats(self):
        s = self.events("stats")
        check(s, "no stats event in the transcript")
        return s[-1]


def run_cases(cases, args):
    """Runs each case (a function taking a Workspace); returns the exit code."""
    failed = []
    for case in cases:
        if args.only and case.__name__ not in args.only:
            continue
        ws = Workspace(args, case.__name__)
        started = time.monotonic()
        ok = False
        try:
            case(ws)
            ok = True
            print(f"PASS {case.__name__} ({time.monotonic() - started:.1f} s)")
        except TestFailure as e:
            print(f"FAIL {case.__name__}: {e}")
            failed.append(case.__name__)
        except Exception as e:  # a bug in the test itself
            print(f"ERROR {case.__name__}: {type(e).__name__}: {e}")
            failed.append(case.__name__)
        finally:
            ws.close(keep=not ok)
    if failed:
        print(f"{len(failed)} case(s) failed: {', '.join(failed)}")
        return 1
    return 0


def ignore_sigpipe():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
