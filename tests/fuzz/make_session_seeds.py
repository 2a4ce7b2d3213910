#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/session/.

session_fuzz reads its input through libFuzzer's FuzzedDataProvider, which
takes integers from the END of the input (most significant byte first) and
strings from the FRONT (a backslash escapes a backslash; a backslash before
any other byte ends the string). Seed below mirrors that, and each op method
mirrors, read for read, the same op in session_fuzz.cpp: keep them in step.

Check a seed does what its name says with
    TETHER_FUZZ_TRACE=1 build-fuzz/tests/fuzz/session_fuzz tests/fuzz/corpus/session/<name>

Usage: make_session_seeds.py <output dir>
"""
import os
import sys

K_MAX_SEQ = (1 << 53) - 1
MS_PER_YEAR = 365 * 24 * 3600 * 1000

OPS = ["start", "send_valid", "send_fuzzed", "send_trusted", "close", "abort", "reconnect_now", "provide_token",
       "transport_open", "text_fuzzed", "text_welcome", "text_msg", "text_ack", "text_error", "text_other", "binary",
       "pong", "transport_closed", "fire_timer", "jump_time", "skip_time", "network_changed", "suspend_detected",
       "network_drop"]
N_VALID_PAYLOADS = 10
ERROR_CODES = ["unauthorized", "forbidden", "token_expired", "server_busy", "rate_limited", "session_taken_over",
               "protocol_version", "bad_frame", "internal", "", "going_away", "server_error"]
N_OTHER_FRAMES = 14
CLOSE_CODES = [0, 999, 1000, 1001, 1002, 1003, 1005, 1006, 1007, 1009, 1011, 1012, 1013, 1014, 1015, 4000, 4001,
               4002, 4003, 4008, 4009, 5000]
HTTP_STATUSES = [0, 0, 0, 101, 200, 301, 400, 401, 403, 404, 429, 500, 503, 599]
CLOSE_ERRORS = ["connect_failed", "connect_timeout", "dns_failed", "tls_error", "tls_verify_failed",
                "handshake_failed", "http_status", "not_found", "transport_closed", "proxy_error", "message_too_big",
                "bad_url", "protocol_version", "unauthorized", "forbidden", "server_busy"]
# pick_conn: 0-4 current, 5 previous, 6 zero, 7 never opened
CUR, PREV, ZERO, BOGUS = 0, 5, 6, 7
# near(base): 0 base, 3 base-1, 4 base+1, 5 zero, 6 base+2, 7 random
BASE, MINUS1, PLUS1, ZEROSEQ, PLUS2 = 0, 3, 4, 5, 6


class Seed:
    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # integer bytes in the order they are consumed

    # -- FuzzedDataProvider mirror --
    def int_range(self, lo, hi, v, bits=64):
        assert lo <= v <= hi, (lo, hi, v)
        rng, r = hi - lo, v - lo
        n = 0
        while n * 8 < bits and (rng >> (n * 8)) > 0:
            n += 1
        self.back += r.to_bytes(n, "big") if n else b""

    def boolean(self, b):
        self.int_range(0, 255, 1 if b else 0, 8)

    def u_full(self, v, bits):
        self.int_range(0, (1 << bits) - 1, v, bits)

    def s_full(self, v, bits):
        self.int_range(-(1 << (bits - 1)), (1 << (bits - 1)) - 1, v, bits)

    def string(self, s, max_len):
        s = s.encode() if isinstance(s, str) else bytes(s)
        assert len(s) < max_len
        for b in s:
            self.front += b"\\\\" if b == 0x5C else bytes([b])
        self.front += b"\\x"  # terminator: a backslash before a non-backslash

    def data(self):
        return bytes(self.front) + bytes(reversed(self.back))

    # -- Driver::make_config, then the Rng seed --
    def config(self, max_messages=4, max_message_bytes=200, extra_bytes=600, in_flight=4, ack_every=2, ack_delay=20,
               hb_interval=1000, hb_timeout=None, base=100, max_mult=10, stable_after=2000, max_attempts=0,
               provider=False, token=True, client_info=True, lost_fail=False, connect_timeout=3000,
               hello_timeout=2000, close_timeout=1000, tight=None, rng=7):
        self.int_range(1, 8, max_messages)
        self.int_range(1, 256, max_message_bytes)
        self.int_range(0, 768, extra_bytes)
        self.int_range(1, 4, in_flight)
        self.int_range(1, 4, ack_every)
        self.int_range(0, 100, ack_delay)
        self.int_range(10, 2000, hb_interval)
        self.boolean(hb_timeout is not None)
        if hb_timeout is not None:
            self.int_range(1, 2000, hb_timeout - hb_interval)
        self.int_range(1, 500, base)
        self.int_range(1, 100, max_mult)
        self.int_range(0, 10000, stable_after)
        self.int_range(0, 5, max_attempts)
        self.boolean(provider)
        self.boolean(token)
        self.boolean(client_info)
        self.boolean(lost_fail)
        self.int_range(1, 10000, connect_timeout)
        self.int_range(1, 10000, hello_timeout)
        self.int_range(1, 10000, close_timeout)
        self.boolean(tight is not None)
        if tight is not None:
            self.int_range(16, 512, tight[0])
            self.int_range(1, 8, tight[1])
        self.int_range(0, 255, rng, 8)
        return self

    # -- ops --
    def op(self, name):
        self.int_range(0, len(OPS) - 1, OPS.index(name), 32)

    def conn(self, which):
        self.int_range(0, 7, which, 32)

    def pick_id(self, kind="generated", s=b""):
        self.int_range(0, 5, {"generated": 0, "fixed": 4, "fuzzed": 5}[kind], 32)
        if kind == "fuzzed":
            self.string(s, 300)

    def maybe_u53(self, v, small_max):
        """Mirrors Driver::maybe_u53: None, a value up to small_max, or one up to K_MAX_SEQ."""
        if v is None:
            self.int_range(0, 3, 0, 32)
        elif v <= small_max:
            self.int_range(0, 3, 1, 32)
            self.int_range(0, small_max, v)
        else:
            self.int_range(0, 3, 2, 32)
            self.int_range(0, K_MAX_SEQ, v)

    def near(self, kind=BASE, value=0):
        self.int_range(0, 7, kind, 32)
        if kind == 7:
            self.int_range(0, K_MAX_SEQ, value)

    def start(self):
        self.op("start")
        return self

    def send(self, payload=0, long_len=None, id_kind="generated", id_str=b""):
        """payload: index into kValidPayloads, or long_len for a string of that many 'a'."""
        self.op("send_valid")
        if long_len is not None:
            self.int_range(0, N_VALID_PAYLOADS, N_VALID_PAYLOADS)
            self.int_range(0, 300, long_len)
        else:
            self.int_range(0, N_VALID_PAYLOADS, payload)
        self.pick_id(id_kind, id_str)
        return self

    def send_fuzzed(self, payload, id_kind="generated", id_str=b""):
        self.op("send_fuzzed")
        self.string(payload, 300)
        self.pick_id(id_kind, id_str)
        return self

    def send_trusted(self, payload=0, id_kind="generated"):
        self.op("send_trusted")
        self.int_range(0, N_VALID_PAYLOADS - 1, payload)
        self.pick_id(id_kind)
        return self

    def close(self, drain=None, huge=False):
        self.op("close")
        if huge:
            self.int_range(0, 3, 3, 32)
        elif drain is None:
            self.int_range(0, 3, 0, 32)
        else:
            self.int_range(0, 3, 1, 32)
            self.int_range(0, 5000, drain)
        return self

    def abort(self):
        self.op("abort")
        return self

    def reconnect_now(self):
        self.op("reconnect_now")
        return self

    def provide_token(self, kind="fresh", s=b""):
        self.op("provide_token")
        self.int_range(0, 3, {"fresh": 0, "none": 1, "fuzzed": 2, "invalid": 3}[kind], 32)
        if kind == "fuzzed":
            self.string(s, 64)
        return self

    def open(self, conn=CUR, sub="tether.v1"):
        self.op("transport_open")
        self.conn(conn)
        if sub == "tether.v1":
            self.int_range(0, 3, 0, 32)
        elif sub == "":
            self.int_range(0, 3, 2, 32)
        else:
            self.int_range(0, 3, 3, 32)
            self.string(sub, 16)
        return self

    def text(self, s, conn=CUR):
        self.op("text_fuzzed")
        self.string(s, 512)
        self.conn(conn)
        return self

    def welcome(self, session="current", resumed=False, last_seq=(ZEROSEQ, 0), empty_token=False, heartbeat=None,
                ttl=None, conn=CUR):
        """session: "current" (the client's, or s1), "new" (a fresh one), "" (empty) or a literal string."""
        self.op("text_welcome")
        if session == "current":
            self.int_range(0, 3, 0, 32)
        elif session == "new":
            self.int_range(0, 3, 1, 32)
        elif session == "":
            self.int_range(0, 3, 3, 32)
        else:
            self.int_range(0, 3, 2, 32)
            self.string(session, 16)
        self.int_range(0, 7, 0 if empty_token else 1, 32)
        self.boolean(resumed)
        self.near(*last_seq)
        self.maybe_u53(heartbeat, 5000)
        self.boolean(ttl is not None)
        if ttl is not None:
            self.int_range(0, K_MAX_SEQ, ttl)
        self.conn(conn)
        return self

    def msg(self, seq=(BASE, 0), data="number", with_id=False, conn=CUR):
        """seq: a near() choice relative to last delivered + 1; data: number, object, null or string text."""
        self.op("text_msg")
        self.near(*seq)
        kinds = {"number": 0, "object": 2, "null": 3}  # anything else: a string with that text
        if isinstance(data, str) and data in kinds:
            self.int_range(0, 3, kinds[data], 32)
        else:
            self.int_range(0, 3, 1, 32)
            self.string(data, 32)
        self.boolean(with_id)
        self.conn(conn)
        return self

    def ack(self, seq=(BASE, 0), conn=CUR):
        """seq: a near() choice relative to the seq of the last client msg sent."""
        self.op("text_ack")
        self.near(*seq)
        self.conn(conn)
        return self

    def error(self, code, message=True, retry_after=None, conn=CUR):
        self.op("text_error")
        if code in ERROR_CODES:
            self.int_range(0, len(ERROR_CODES), ERROR_CODES.index(code))
        else:
            self.int_range(0, len(ERROR_CODES), len(ERROR_CODES))
            self.string(code, 24)
        self.boolean(message)
        self.maybe_u53(retry_after, 10000)
        self.conn(conn)
        return self

    def other(self, index, conn=CUR):
        self.op("text_other")
        self.int_range(0, N_OTHER_FRAMES - 1, index)
        self.conn(conn)
        return self

    def binary(self, size=4, conn=CUR):
        self.op("binary")
        self.conn(conn)
        self.u_full(size, 32)
        return self

    def pong(self, conn=CUR):
        self.op("pong")
        self.conn(conn)
        return self

    def closed(self, code=1006, error=None, http=0, retry_after=None, reason=None, opened=True, conn=CUR):
        """error: a name from CLOSE_ERRORS, "system" (connection_reset) or None."""
        self.op("transport_closed")
        self.conn(conn)
        n = len(CLOSE_ERRORS)
        if error is None:
            self.int_range(0, n + 3, n + 1)
        elif error == "system":
            self.int_range(0, n + 3, n)
        else:
            self.int_range(0, n + 3, CLOSE_ERRORS.index(error))
        if code in CLOSE_CODES:
            self.int_range(0, len(CLOSE_CODES), CLOSE_CODES.index(code))
        else:
            self.int_range(0, len(CLOSE_CODES), len(CLOSE_CODES))
            self.u_full(code, 16)
        if http in HTTP_STATUSES:
            self.int_range(0, len(HTTP_STATUSES), HTTP_STATUSES.index(http))
        else:
            self.int_range(0, len(HTTP_STATUSES), len(HTTP_STATUSES))
            self.s_full(http, 32)
        if retry_after is None:
            self.int_range(0, 3, 0, 32)
        elif 0 <= retry_after <= 10000:
            self.int_range(0, 3, 1, 32)
            self.int_range(0, 10000, retry_after)
        else:
            self.int_range(0, 3, 2, 32)
            self.s_full(retry_after, 64)
        self.boolean(reason is not None)
        if reason is not None:
            self.string(reason, 32)
        self.boolean(opened)
        return self

    def fire(self, times=1):
        for _ in range(times):
            self.op("fire_timer")
        return self

    def _jump(self, ms):
        for kind, hi, in ((0, 100), (1, 5000), (2, 120000), (3, 2 * MS_PER_YEAR)):
            if ms <= hi:
                self.int_range(0, 3, kind, 32)
                self.int_range(0, hi, ms)
                return self
        raise ValueError(ms)

    def jump(self, ms):
        self.op("jump_time")
        return self._jump(ms)

    def skip(self, ms):
        self.op("skip_time")
        return self._jump(ms)

    def network_changed(self):
        self.op("network_changed")
        return self

    def suspend(self, gap_ms):
        self.op("suspend_detected")
        return self._jump(gap_ms)

    def network_drop(self):
        self.op("network_drop")
        return self

    # -- common sequences --
    def ready(self, **welcome):
        return self.start().open().welcome(**welcome)


def seeds():
    S = lambda **cfg: Seed().config(**cfg)
    out = {}
    out["happy_path"] = (S().ready().send(2).send(0).ack().msg().msg().fire().msg(data="object", with_id=True)
                         .send(1).ack().fire().close(drain=500).ack().closed(code=1000, opened=True))
    out["token_provider"] = (S(provider=True, token=False).start().provide_token().open().welcome()
                             .send(0).ack().msg().fire(2))
    out["resume"] = (S().ready().send(0).send(1).send(2).ack((MINUS1, 0)).msg().msg().closed(code=1006)
                     .fire().open().welcome(resumed=True, last_seq=(MINUS1, 0)).ack().msg().fire())
    out["session_lost_resend"] = (S().ready().send(0).send(1).msg().closed(code=1011).fire().open()
                                  .welcome(session="new").msg().ack().fire())
    out["session_lost_fail"] = (S(lost_fail=True).ready().send(0).send(3).msg().msg().closed(code=1001)
                                .fire().open().welcome(session="new").send(4).ack().msg())
    out["heartbeat_timeout"] = (S(hb_interval=200).ready(heartbeat=300).send(0).fire().pong().fire(3)
                                .fire().open().welcome(resumed=True, last_seq=(ZEROSEQ, 0)).msg())
    out["server_busy_retry_after"] = (S().ready().send(0).error("server_busy", retry_after=2500).fire().open()
                                      .welcome(resumed=True).ack())
    out["token_expired_refresh"] = (S(provider=True).start().provide_token().open().welcome()
                                    .error("token_expired").fire().provide_token("fresh").open()
                                    .welcome(resumed=True).error("token_expired").fire())
    out["token_expired_no_token"] = (S(provider=True).start().provide_token().open().welcome().send(0)
                                     .error("token_expired").fire().provide_token("none").send(0))
    out["unauthorized_4001"] = S().start().open().closed(code=4001).send(0).reconnect_now()
    out["http_401_upgrade"] = S().start().closed(code=0, error="http_status", http=401, opened=False)
    out["http_503_retry_after"] = (S().start().closed(code=0, error="http_status", http=503, retry_after=3000,
                                                      opened=False).fire().open().welcome())
    out["http_429_huge_retry"] = (S().start().closed(code=0, error="http_status", http=429,
                                                     retry_after=(1 << 62), opened=False).jump(2 * MS_PER_YEAR))
    out["max_attempts"] = (S(max_attempts=2, connect_timeout=50).start().fire().fire().fire().fire().fire().fire())
    out["connect_errors"] = (S(max_attempts=5).start().closed(code=0, error="connect_failed", opened=False).fire()
                             .closed(code=0, error="dns_failed", opened=False).fire()
                             .closed(code=0, error="system", opened=False).fire()
                             .closed(code=0, error="tls_verify_failed", opened=False))
    out["seq_gap"] = S().ready().msg().msg((PLUS2, 0)).fire().open().welcome(resumed=True).msg().msg()
    out["duplicate_msgs"] = S(ack_every=4).ready().msg().msg().msg((MINUS1, 0)).msg((ZEROSEQ, 0)).fire().msg()
    out["ack_out_of_range"] = S().ready().send(0).ack((PLUS1, 0)).fire().open().welcome(resumed=True).ack()
    out["welcome_resume_beyond_sent"] = (S().ready().send(0).closed().fire().open()
                                         .welcome(resumed=True, last_seq=(PLUS2, 0)))
    out["welcome_twice"] = S().ready().welcome().fire().open().welcome(resumed=True)
    out["msg_before_welcome"] = S().start().open().msg().fire().open().ack()
    out["welcome_empty_session"] = S().start().open().welcome(session="").fire().open().welcome(empty_token=True)
    out["welcome_resumed_unasked"] = S().start().open().welcome(resumed=True)
    out["outbox_full"] = (S(max_messages=2, max_message_bytes=64, extra_bytes=64).start()
                          .send(0).send(1).send(2).send(long_len=100).open().welcome().ack().send(0))
    out["outbox_bytes_full"] = (S(max_messages=8, max_message_bytes=120, extra_bytes=0).ready()
                                .send(long_len=60).send(long_len=60).ack().send(long_len=90))
    out["in_flight_window"] = (S(in_flight=1).ready().send(0).send(1).send(2).ack().ack().ack().send(3).ack())
    out["send_invalid"] = (S().ready().send_fuzzed(b"{bad").send_fuzzed(b"\xff\xfe").send_fuzzed(b"")
                           .send_fuzzed(b"1 2").send_fuzzed(b"[1]\x00").send(0, id_kind="fuzzed", id_str=b"\xc3(")
                           .send(0, id_kind="fixed").send(1, id_kind="fixed").ack())
    out["send_deep_payload"] = (S(max_message_bytes=256).ready().send_fuzzed(b"[" * 63 + b"]" * 63)
                                .send_fuzzed(b"{\"a\":" * 20 + b"1" + b"}" * 20).ack())
    out["send_bom_payload"] = S().ready().send_fuzzed(b"\xef\xbb\xbf{\"a\":1}").ack()
    out["send_trusted"] = S().ready().send_trusted(2).send_trusted(9).ack().msg()
    out["close_drain_timeout"] = (S().ready().send(0).send(1).close(drain=300).msg().fire().fire()
                                  .closed(code=1000))
    out["close_timeout_no_close"] = S().ready().close().fire().fire().send(0).close()
    out["close_while_connecting"] = S().start().send(0).close().abort().reconnect_now()
    out["abort_ready"] = S().ready().send(0).abort().start().open()
    out["reconnect_now_ready"] = (S().ready().send(0).reconnect_now().open(conn=PREV).open()
                                  .welcome(resumed=True).ack())
    out["going_away_after_stable"] = (S(stable_after=500).ready().skip(1000).pong().closed(code=1001).fire()
                                      .open().welcome(resumed=True).closed(code=1012).fire())
    out["bad_subprotocol"] = S().start().open(sub="chat.v2")
    out["empty_subprotocol"] = S().start().open(sub="").welcome()
    out["stale_connection_inputs"] = (S().ready().closed().fire().open().msg(conn=PREV).ack(conn=PREV)
                                      .closed(conn=PREV).pong(conn=ZERO).open(conn=BOGUS).welcome(resumed=True))
    out["garbage_and_binary"] = (S().ready().text(b"not json").fire().open().welcome(resumed=True)
                                 .binary(1 << 20).fire().open().welcome(resumed=True).other(11).other(0))
    out["wrong_direction_frames"] = S().ready().other(1).fire().open().welcome(resumed=True).other(2)
    out["bad_seq_numbers"] = S().ready().other(3).fire().open().welcome(resumed=True).other(7)
    out["error_frames"] = (S(max_attempts=4).ready().error("weird-code").fire().open().welcome(resumed=True)
                           .error("rate_limited", retry_after=1 << 40).jump(2 * MS_PER_YEAR).open()
                           .welcome(resumed=True).error("bad_frame").fire())
    out["session_taken_over"] = S().ready().send(0).error("session_taken_over").send(0)
    out["close_codes"] = (S().ready().closed(code=1002).fire().open().welcome(resumed=True).closed(code=1009)
                          .fire().open().welcome(resumed=True).closed(code=4999).fire().open()
                          .welcome(resumed=True).closed(code=4009))
    out["auth_timeout"] = S(hello_timeout=100).start().open().fire().fire().open().welcome()
    out["server_heartbeat"] = (S().ready(heartbeat=1 << 40).send(0).jump(3600 * 1000).fire().pong().fire(4))
    out["invalid_token_from_provider"] = (S(provider=True, token=False).start().provide_token("invalid").open()
                                          .welcome())
    out["tight_decode_limits"] = (S(tight=(200, 1)).ready().msg(data="object").fire().open()
                                  .welcome(resumed=True).msg())
    out["long_idle_jump"] = S().ready().send(0).skip(2 * MS_PER_YEAR).msg().fire(3)
    out["network_changed_probe"] = (S().ready().send(0).network_changed().fire(2).open()
                                    .welcome(resumed=True).network_changed().pong().send(1).ack())
    out["suspend_then_resume"] = (S().ready().send(0).send(1).suspend(120000).fire().open()
                                  .welcome(resumed=True, last_seq=(ZEROSEQ, 0)).msg().suspend(50).ack())
    out["network_drop_in_backoff"] = (S().ready().send(0).network_drop().network_changed().fire().open()
                                      .welcome(resumed=True).network_drop().fire().network_changed())
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, seed in seeds().items():
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(seed.data())
    print(f"{len(seeds())} seeds written to {sys.argv[1]}")


if __name__ == "__main__":
    main()
