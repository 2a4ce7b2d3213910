package tether

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// testRedis is a redis-server this test started on a free 127.0.0.1 port in
// a temp dir; t.Cleanup stops it.
type testRedis struct {
	url  string
	addr string
	cmd  *exec.Cmd
}

// startRedis starts a redis-server for t, or skips t when there is none.
const redisWait = 5 * time.Second

func startRedis(t *testing.T) *testRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (Debian package redis-server): the Redis store tests are skipped")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &testRedis{url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(redisWait)
	for {
		c, err := redis.Dial("tcp", r.addr)
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return r
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server did not answer on %s: %v\n%s", r.addr, err, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *testRedis) do(t *testing.T, cmd string, args ...interface{}) interface{} {
	t.Helper()
	c, err := redis.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.Do(cmd, args...)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return v
}

// newRedisStore is a RedisStore on a fresh redis-server with the memory
// store's options.
func newRedisStore(t *testing.T, opt MemoryOptions) *RedisStore {
	t.Helper()
	r := startRedis(t)
	s, err := NewRedisStore(RedisOptions{URL: r.url, MemoryOptions: opt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sendEffect(sid, data string) Effect {
	return Effect{Kind: EffectSend, Session: sid, Data: json.RawMessage(data)}
}

type storeResult[T any] struct {
	v   T
	err error
}

func storeTry[T any](v T, err error) storeResult[T] { return storeResult[T]{v, err} }

func (r storeResult[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func TestStoreTable(t *testing.T) {
	ctx := context.Background()
	tok := func(s string) []byte { return tokenHash(s) }
	cases := []struct {
		name string
		opt  MemoryOptions
		run  func(t *testing.T, st Store, clk *fakeClock)
	}{
		{"create, exists, get", MemoryOptions{}, func(t *testing.T, st Store, _ *fakeClock) {
			rec := storeTry(st.Create(ctx, NewSession{ID: "a", Identity: "u", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			if rec.Generation != 1 || !rec.Attached || rec.Owner != "i1" || rec.ReplayFirst != 1 || rec.Identity != "u" {
				t.Fatalf("record %+v", rec)
			}
			if _, err := st.Create(ctx, NewSession{ID: "a", TokenHash: tok("x")}); !errors.Is(err, ErrExists) {
				t.Fatalf("second create: %v", err)
			}
			if _, err := st.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get unknown: %v", err)
			}
		}},
		{"append, read, ack", MemoryOptions{}, func(t *testing.T, st Store, _ *fakeClock) {
			storeTry(st.Create(ctx, NewSession{ID: "a", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			res := storeTry(st.Append(ctx, []Effect{sendEffect("a", `1`), sendEffect("a", `{"x":2}`), sendEffect("gone", `3`),
				{Kind: EffectSend, Session: "a", Data: json.RawMessage(`"3"`), ID: "m3", HasID: true}})).must(t)
			if len(res.Touched) != 3 || res.Touched[2].LastSeq != 3 || res.Touched[0].Owner != "i1" {
				t.Fatalf("touched %+v", res.Touched)
			}
			msgs := storeTry(st.ReadOutbound(ctx, "a", 1, 0, 10, 1<<20)).must(t)
			if len(msgs) != 3 || string(msgs[1].Data) != `{"x":2}` || !msgs[2].HasID || msgs[2].ID != "m3" || msgs[0].HasID || msgs[2].Seq != 3 {
				t.Fatalf("msgs %+v", msgs)
			}
			if m := storeTry(st.ReadOutbound(ctx, "a", 1, 1, 1, 1<<20)).must(t); len(m) != 1 || m[0].Seq != 2 {
				t.Fatalf("read after 1, max 1: %+v", m)
			}
			if m := storeTry(st.ReadOutbound(ctx, "a", 1, 0, 10, 1)).must(t); len(m) != 1 {
				t.Fatalf("byte cap: %+v", m)
			}
			if a := storeTry(st.Ack(ctx, "a", 1, 2)).must(t); a.Outcome != AckApplied || a.S2CAcked != 2 {
				t.Fatalf("ack %+v", a)
			}
			if a := storeTry(st.Ack(ctx, "a", 1, 1)).must(t); a.Outcome != AckStale {
				t.Fatalf("stale ack %+v", a)
			}
			if a := storeTry(st.Ack(ctx, "a", 1, 4)).must(t); a.Outcome != AckOutOfRange || a.S2CLast != 3 {
				t.Fatalf("ack out of range %+v", a)
			}
			rec := storeTry(st.Get(ctx, "a")).must(t)
			if rec.ReplayFirst != 3 || rec.ReplayMsgs != 1 || rec.ReplayBytesLen != 3 || rec.S2CAcked != 2 || rec.S2CLast != 3 {
				t.Fatalf("after ack %+v", rec)
			}
		}},
		{"resume rotates the token and fences the old generation", MemoryOptions{}, func(t *testing.T, st Store, _ *fakeClock) {
			storeTry(st.Create(ctx, NewSession{ID: "a", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			storeTry(st.Append(ctx, []Effect{sendEffect("a", `1`), sendEffect("a", `2`)})).must(t)
			if r := storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("wrong"), NewTokenHash: tok("t2"), Owner: "i2"})).must(t); r.Outcome != ResumeUnknown {
				t.Fatalf("wrong token: %+v", r)
			}
			if rec := storeTry(st.Get(ctx, "a")).must(t); rec.Generation != 1 || rec.Owner != "i1" {
				t.Fatalf("a wrong token changed the session: %+v", rec)
			}
			r := storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("t1"), Attempt: 1, LastSeq: 1, NewTokenHash: tok("t2"), Owner: "i2"})).must(t)
			if r.Outcome != ResumeOK || r.Record.Generation != 2 || r.Record.Owner != "i2" || !r.PrevAttached || r.PrevOwner != "i1" ||
				r.PrevGeneration != 1 || r.Record.S2CAcked != 1 || r.Record.ReplayFirst != 2 || r.Superseded {
				t.Fatalf("resume %+v", r)
			}
			if _, err := st.Ack(ctx, "a", 1, 2); !errors.Is(err, ErrFenced) {
				t.Fatalf("ack by gen 1: %v", err)
			}
			if _, err := st.ReadOutbound(ctx, "a", 1, 1, 10, 1<<20); !errors.Is(err, ErrFenced) {
				t.Fatalf("read by gen 1: %v", err)
			}
			if _, err := commitOne(st, Inbound{Session: "a", Gen: 1, Seq: 1, MsgID: "x"}); !errors.Is(err, ErrFenced) {
				t.Fatalf("commit by gen 1: %v", err)
			}
			if err := st.Detach(ctx, "a", 1, time.Minute); !errors.Is(err, ErrFenced) {
				t.Fatalf("detach by gen 1: %v", err)
			}
			if _, err := st.Delete(ctx, "a", 1); !errors.Is(err, ErrFenced) {
				t.Fatalf("delete by gen 1: %v", err)
			}
			// The previous token again, attempt not higher: the stale hello.
			if r := storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("t1"), Attempt: 1, LastSeq: 1, NewTokenHash: tok("t3"), Owner: "i3"})).must(t); r.Outcome != ResumeUnknown {
				t.Fatalf("stale previous token: %+v", r)
			}
			// The previous token with a higher attempt supersedes.
			r = storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("t1"), Attempt: 2, LastSeq: 1, NewTokenHash: tok("t3"), Owner: "i3"})).must(t)
			if r.Outcome != ResumeOK || !r.Superseded || r.Record.Generation != 3 {
				t.Fatalf("superseding resume %+v", r)
			}
			if r := storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("t3"), LastSeq: 5, NewTokenHash: tok("t4"), Owner: "i1"})).must(t); r.Outcome != ResumeUnreplayable {
				t.Fatalf("last_seq beyond sent: %+v", r)
			}
			if _, err := st.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("an unreplayable resume must delete the session: %v", err)
			}
		}},
		{"commit inbound: delivered, duplicate, gap, duplicate id", MemoryOptions{}, func(t *testing.T, st Store, _ *fakeClock) {
			storeTry(st.Create(ctx, NewSession{ID: "a", Identity: "u", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			r := storeTry(commitOne(st, Inbound{Session: "a", Gen: 1, Seq: 1, Identity: "u", MsgID: "m1", Effects: []Effect{sendEffect("a", `"r1"`)}})).must(t)
			if r.Outcome != InboundDelivered || r.C2SLast != 1 || len(r.Applied.Touched) != 1 {
				t.Fatalf("first %+v", r)
			}
			if r := storeTry(commitOne(st, Inbound{Session: "a", Gen: 1, Seq: 1, Identity: "u", MsgID: "m1"})).must(t); r.Outcome != InboundDuplicate {
				t.Fatalf("dup seq %+v", r)
			}
			if r := storeTry(commitOne(st, Inbound{Session: "a", Gen: 1, Seq: 3, Identity: "u", MsgID: "m3"})).must(t); r.Outcome != InboundGap || r.C2SLast != 1 {
				t.Fatalf("gap %+v", r)
			}
			if !storeTry(st.SeenID(ctx, "u", "m1", 0)).must(t) || storeTry(st.SeenID(ctx, "u", "m2", 0)).must(t) || storeTry(st.SeenID(ctx, "other", "m1", 0)).must(t) {
				t.Fatal("SeenID")
			}
			r = storeTry(commitOne(st, Inbound{Session: "a", Gen: 1, Seq: 2, Identity: "u", MsgID: "m1", Effects: []Effect{sendEffect("a", `"again"`)}})).must(t)
			if r.Outcome != InboundDuplicateID || r.C2SLast != 2 || len(r.Applied.Touched) != 0 {
				t.Fatalf("dup id %+v", r)
			}
			if rec := storeTry(st.Get(ctx, "a")).must(t); rec.S2CLast != 1 || rec.C2SLast != 2 {
				t.Fatalf("effects of a duplicate id applied: %+v", rec)
			}
		}},
		{"dedupe window: ttl and size", MemoryOptions{DedupeIDs: 2, DedupeTTL: time.Minute}, func(t *testing.T, st Store, clk *fakeClock) {
			storeTry(st.Create(ctx, NewSession{ID: "a", Identity: "u", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			for i, id := range []string{"m1", "m2", "m3"} {
				storeTry(commitOne(st, Inbound{Session: "a", Gen: 1, Seq: uint64(i + 1), Identity: "u", MsgID: id})).must(t)
				clk.Advance(time.Second)
			}
			if storeTry(st.SeenID(ctx, "u", "m1", 0)).must(t) || !storeTry(st.SeenID(ctx, "u", "m2", 0)).must(t) || !storeTry(st.SeenID(ctx, "u", "m3", 0)).must(t) {
				t.Fatal("window of 2 keeps the newest 2")
			}
			clk.Advance(time.Minute)
			if storeTry(st.SeenID(ctx, "u", "m3", 0)).must(t) {
				t.Fatal("an id older than the TTL is forgotten")
			}
		}},
		{"rooms: join, broadcast in member order, leave, survive resume", MemoryOptions{}, func(t *testing.T, st Store, _ *fakeClock) {
			for _, id := range []string{"b", "a", "c"} {
				storeTry(st.Create(ctx, NewSession{ID: id, TokenHash: tok("t" + id), Owner: "i1"})).must(t)
			}
			storeTry(st.Append(ctx, []Effect{{Kind: EffectJoin, Session: "b", Room: "r"}, {Kind: EffectJoin, Session: "a", Room: "r"},
				{Kind: EffectJoin, Session: "c", Room: "r"}, {Kind: EffectJoin, Session: "a", Room: "q"}, {Kind: EffectLeave, Session: "c", Room: "r"}})).must(t)
			res := storeTry(st.Append(ctx, []Effect{{Kind: EffectBroadcast, Room: "r", Data: json.RawMessage(`"hi"`), ID: "m", HasID: true}})).must(t)
			if len(res.Touched) != 2 || res.Touched[0].Session != "a" || res.Touched[1].Session != "b" {
				t.Fatalf("broadcast touched %+v", res.Touched)
			}
			r := storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("ta"), NewTokenHash: tok("x"), Owner: "i2"})).must(t)
			if strings.Join(r.Record.Rooms, ",") != "q,r" {
				t.Fatalf("rooms after resume %v", r.Record.Rooms)
			}
			storeTry(st.Delete(ctx, "a", 2)).must(t)
			if res := storeTry(st.Append(ctx, []Effect{{Kind: EffectBroadcast, Room: "r", Data: json.RawMessage(`1`)}})).must(t); len(res.Touched) != 1 {
				t.Fatalf("a deleted session is no member: %+v", res.Touched)
			}
		}},
		{"detach, ttl, sweep once", MemoryOptions{}, func(t *testing.T, st Store, clk *fakeClock) {
			storeTry(st.Create(ctx, NewSession{ID: "a", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			storeTry(st.Create(ctx, NewSession{ID: "b", TokenHash: tok("t2"), Owner: "i1"})).must(t)
			if err := st.Detach(ctx, "a", 1, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if rec := storeTry(st.Get(ctx, "a")).must(t); rec.Attached {
				t.Fatal("detached session still attached")
			}
			clk.Advance(9 * time.Second)
			if swept := storeTry(st.Sweep(ctx)).must(t); len(swept) != 0 {
				t.Fatalf("swept early: %+v", swept)
			}
			clk.Advance(time.Second)
			if _, err := st.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("expired session still there: %v", err)
			}
			if r := storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("t1"), NewTokenHash: tok("x")})).must(t); r.Outcome != ResumeUnknown {
				t.Fatalf("resume of an expired session: %+v", r)
			}
			swept := storeTry(st.Sweep(ctx)).must(t)
			if len(swept) != 1 || swept[0].ID != "a" {
				t.Fatalf("sweep %+v", swept)
			}
			if swept := storeTry(st.Sweep(ctx)).must(t); len(swept) != 0 {
				t.Fatalf("swept twice: %+v", swept)
			}
			if _, err := st.Get(ctx, "b"); err != nil {
				t.Fatalf("attached session lost: %v", err)
			}
		}},
		{"replay bound: eviction makes a resume unreplayable", MemoryOptions{ReplayMsgs: 3}, func(t *testing.T, st Store, _ *fakeClock) {
			storeTry(st.Create(ctx, NewSession{ID: "a", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			for i := 1; i <= 5; i++ {
				storeTry(st.Append(ctx, []Effect{sendEffect("a", strconv.Itoa(i))})).must(t)
			}
			rec := storeTry(st.Get(ctx, "a")).must(t)
			if rec.ReplayFirst != 3 || rec.ReplayMsgs != 3 || rec.ReplayBytesLen != 3 {
				t.Fatalf("bounded buffer %+v", rec)
			}
			if _, err := st.ReadOutbound(ctx, "a", 1, 1, 10, 1<<20); !errors.Is(err, ErrEvicted) {
				t.Fatalf("read of an evicted msg: %v", err)
			}
			if m := storeTry(st.ReadOutbound(ctx, "a", 1, 2, 10, 1<<20)).must(t); len(m) != 3 || string(m[0].Data) != "3" {
				t.Fatalf("read %+v", m)
			}
			if r := storeTry(st.Resume(ctx, ResumeRequest{ID: "a", TokenHash: tok("t1"), LastSeq: 1, NewTokenHash: tok("x")})).must(t); r.Outcome != ResumeUnreplayable {
				t.Fatalf("resume over an evicted range %+v", r)
			}
		}},
		{"replay age", MemoryOptions{ReplayAge: time.Minute}, func(t *testing.T, st Store, clk *fakeClock) {
			storeTry(st.Create(ctx, NewSession{ID: "a", TokenHash: tok("t1"), Owner: "i1"})).must(t)
			storeTry(st.Append(ctx, []Effect{sendEffect("a", `1`)})).must(t)
			clk.Advance(2 * time.Minute)
			storeTry(st.Append(ctx, []Effect{sendEffect("a", `2`)})).must(t)
			if rec := storeTry(st.Get(ctx, "a")).must(t); rec.ReplayFirst != 2 || rec.ReplayMsgs != 1 {
				t.Fatalf("old msg kept %+v", rec)
			}
		}},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
				clk := newFakeClock()
				opt := tc.opt
				opt.Now = clk.Now
				tc.run(t, newStore(opt), clk)
			})
		})
	}
}

func TestRedisCommitBatch(t *testing.T) {
	ctx := context.Background()
	st := newRedisStore(t, MemoryOptions{})
	storeTry(st.Create(ctx, NewSession{ID: "a", Identity: "u", TokenHash: tokenHash("t"), Owner: "i1"})).must(t)
	var batch []Inbound
	for i := 1; i <= 40; i++ {
		id := fmt.Sprintf("m%d", i)
		if i == 5 {
			id = "m1"
		}
		batch = append(batch, Inbound{Session: "a", Gen: 1, Seq: uint64(i), Identity: "u", MsgID: id,
			Effects: []Effect{sendEffect("a", strconv.Itoa(i))}})
	}
	batch = append(batch, Inbound{Session: "a", Gen: 1, Seq: 40, Identity: "u", MsgID: "m40"},
		Inbound{Session: "a", Gen: 1, Seq: 50, Identity: "u", MsgID: "m50"})
	res := storeTry(st.CommitInbound(ctx, batch)).must(t)
	if res[4].Outcome != InboundDuplicateID || res[0].Outcome != InboundDelivered || res[40].Outcome != InboundDuplicate ||
		res[41].Outcome != InboundGap || res[41].C2SLast != 40 || len(res[0].Applied.Touched) != 39 {
		t.Fatalf("batch results: %+v %+v %+v %+v", res[0].Outcome, res[4], res[40], res[41])
	}
	if rec := storeTry(st.Get(ctx, "a")).must(t); rec.C2SLast != 40 || rec.S2CLast != 39 {
		t.Fatalf("after batch %+v", rec)
	}
}

// A takeover announced on Pub/Sub reaches the old owner, and so do wakes;
// a killed subscription resubscribes and resyncs.
func TestRedisNotifications(t *testing.T) {
	ctx := context.Background()
	r := startRedis(t)
	newStore := func(instance string) *RedisStore {
		s, err := NewRedisStore(RedisOptions{URL: r.url, Instance: instance})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newStore("A"), newStore("B")
	events := make(chan string, 16)
	stop := a.Listen("A", Notifications{
		Wake:      func(s string) { events <- "W " + s },
		TakenOver: func(s string, gen uint64) { events <- fmt.Sprintf("T %s %d", s, gen) },
		Resync:    func() { events <- "R" },
	})
	defer stop()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-events:
			if got != want {
				t.Fatalf("notification %q, want %q", got, want)
			}
		case <-time.After(redisWait):
			t.Fatalf("no notification, want %q", want)
		}
	}
	expect("R")
	storeTry(a.Create(ctx, NewSession{ID: "s1", TokenHash: tokenHash("t"), Owner: "A"})).must(t)
	storeTry(b.Append(ctx, []Effect{sendEffect("s1", `1`), sendEffect("s1", `2`)})).must(t)
	expect("W s1")
	storeTry(a.Append(ctx, []Effect{sendEffect("s1", `3`)})).must(t) // its own: no notification
	r.do(t, "CLIENT", "KILL", "TYPE", "pubsub")
	expect("R")
	storeTry(b.Resume(ctx, ResumeRequest{ID: "s1", TokenHash: tokenHash("t"), NewTokenHash: tokenHash("u"), Owner: "B"})).must(t)
	expect("T s1 1")
	select {
	case e := <-events:
		t.Fatalf("unexpected notification %q", e)
	case <-time.After(50 * time.Millisecond):
	}
}
