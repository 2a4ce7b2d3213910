package tether

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// twoInstances starts servers A and B sharing one redis-server, in rooms
// mode, with a short heartbeat.
func twoInstances(t *testing.T, heartbeat time.Duration) (*testRedis, *testServer, *testServer) {
	t.Helper()
	r := startRedis(t)
	start := func(name string) *testServer {
		st, err := NewRedisStore(RedisOptions{URL: r.url, Instance: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() }) // runs after the server's cleanup (LIFO)
		return startServer(t, Config{Store: st, InstanceID: name, Heartbeat: heartbeat, OnMessage: RoomsHandler})
	}
	return r, start("A"), start("B")
}

// A client resumes on B: A's connection gets 4009, and B replays what A
// never delivered.
func TestRedisTakeoverAcrossInstances(t *testing.T) {
	_, a, b := twoInstances(t, time.Hour)
	ca := a.dial(nil)
	w := ca.hello()
	if err := a.srv.Send(w.Session, json.RawMessage(`"one"`)); err != nil {
		t.Fatal(err)
	}
	if f := ca.nextOf("msg"); f.Seq != 1 {
		t.Fatalf("first msg %s", f.raw)
	}
	cb := b.dial(nil)
	w2 := cb.resume(w, 0, 1)
	if !w2.Resumed {
		t.Fatalf("resume on B: %+v", w2)
	}
	ca.expectClose(4009)
	if f := cb.nextOf("msg"); f.Seq != 1 || string(f.Data) != `"one"` {
		t.Fatalf("replay on B: %s", f.raw)
	}
}

// A room spans both instances; a msg sent on A reaches the member on B
// through Pub/Sub, and again after the subscription was killed.
func TestRedisRoomAcrossInstances(t *testing.T) {
	r, a, b := twoInstances(t, 300*time.Millisecond)
	ca, cb := a.dial(nil), b.dial(nil)
	ca.hello()
	cb.hello()
	cb.msg(1, "j", `{"room":"r"}`)
	cb.nextOf("ack")
	ca.msg(1, "m1", `{"room":"r","text":"hi"}`)
	if f := cb.nextOf("msg"); f.ID == nil || *f.ID != "m1" {
		t.Fatalf("relay on B: %s", f.raw)
	}
	r.do(t, "CLIENT", "KILL", "TYPE", "pubsub")
	ca.msg(2, "m2", `{"room":"r","text":"again"}`)
	// Delivered by the resubscription's resync or, at the latest, the next
	// heartbeat's read of the replay buffer.
	if f := cb.nextOf("msg"); f.ID == nil || *f.ID != "m2" {
		t.Fatalf("relay on B after the subscription was killed: %s", f.raw)
	}
}

// An owner whose session was resumed elsewhere is fenced: its generation is
// stale, so it can neither commit, ack nor read.
func TestRedisFencing(t *testing.T) {
	_, a, b := twoInstances(t, time.Hour)
	ca := a.dial(nil)
	w := ca.hello()
	cb := b.dial(nil)
	if w2 := cb.resume(w, 0, 1); !w2.Resumed {
		t.Fatal("resume on B failed")
	}
	st := a.srv.Store()
	ctx := context.Background()
	if _, err := st.CommitInbound(ctx, []Inbound{{Session: w.Session, Gen: 1, Seq: 1, MsgID: "x"}}); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit by the old owner: %v", err)
	}
	if _, err := st.Ack(ctx, w.Session, 1, 0); !errors.Is(err, ErrFenced) {
		t.Fatalf("ack by the old owner: %v", err)
	}
	if _, err := st.ReadOutbound(ctx, w.Session, 1, 0, 10, 1<<20); !errors.Is(err, ErrFenced) {
		t.Fatalf("read by the old owner: %v", err)
	}
	ca.expectClose(4009)
}
