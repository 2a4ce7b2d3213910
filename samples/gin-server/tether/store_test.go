package tether

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The Store contract (store.go), checked directly for every store kind.

func newRecord(t *testing.T, st Store, id, token string) Record {
	t.Helper()
	r, err := st.Create(context.Background(), NewSession{ID: id, Identity: "who", TokenHash: tokenHash(token), Owner: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// commitOne commits one msg.
func commitOne(st Store, in Inbound) (InboundResult, error) {
	res, err := st.CommitInbound(context.Background(), []Inbound{in})
	if err != nil {
		return InboundResult{}, err
	}
	return res[0], nil
}

func send(session string, data string) Effect {
	return Effect{Kind: EffectSend, Session: session, Data: json.RawMessage(data)}
}

func TestStoreContract(t *testing.T) {
	ctx := context.Background()
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		t.Run("create refuses a taken id", func(t *testing.T) {
			st := newStore(MemoryOptions{})
			newRecord(t, st, "s", "t")
			if _, err := st.Create(ctx, NewSession{ID: "s"}); !errors.Is(err, ErrExists) {
				t.Fatalf("err %v", err)
			}
		})
		t.Run("resume fences the old generation", func(t *testing.T) {
			st := newStore(MemoryOptions{})
			r := newRecord(t, st, "s", "t1")
			res, err := st.Resume(ctx, ResumeRequest{ID: "s", TokenHash: tokenHash("t1"), NewTokenHash: tokenHash("t2"), Owner: "b"})
			if err != nil || res.Outcome != ResumeOK || !res.PrevAttached || res.PrevOwner != "a" || res.Record.Generation != r.Generation+1 {
				t.Fatalf("resume %+v %v", res, err)
			}
			old := r.Generation
			if _, err := st.CommitInbound(ctx, []Inbound{{Session: "s", Gen: old, Seq: 1}}); !errors.Is(err, ErrFenced) {
				t.Fatalf("commit with a stale generation: %v", err)
			}
			if _, err := st.Ack(ctx, "s", old, 0); !errors.Is(err, ErrFenced) {
				t.Fatalf("ack: %v", err)
			}
			if _, err := st.ReadOutbound(ctx, "s", old, 0, 10, 1<<20); !errors.Is(err, ErrFenced) {
				t.Fatalf("read: %v", err)
			}
			if err := st.Detach(ctx, "s", old, time.Minute); !errors.Is(err, ErrFenced) {
				t.Fatalf("detach: %v", err)
			}
			if _, err := st.Delete(ctx, "s", old); !errors.Is(err, ErrFenced) {
				t.Fatalf("delete: %v", err)
			}
		})
		t.Run("a wrong token changes nothing", func(t *testing.T) {
			st := newStore(MemoryOptions{})
			newRecord(t, st, "s", "t1")
			before, _ := st.Get(ctx, "s")
			res, err := st.Resume(ctx, ResumeRequest{ID: "s", TokenHash: tokenHash("nope"), NewTokenHash: tokenHash("x"), Attempt: 9})
			after, _ := st.Get(ctx, "s")
			if err != nil || res.Outcome != ResumeUnknown || fmt.Sprint(before) != fmt.Sprint(after) || res.Record.ID != "" {
				t.Fatalf("resume %+v %v; %+v -> %+v", res, err, before, after)
			}
		})
		t.Run("commit applies seq, id and effects together", func(t *testing.T) {
			st := newStore(MemoryOptions{})
			r := newRecord(t, st, "s", "t")
			newRecord(t, st, "o", "t")
			res, err := commitOne(st, Inbound{Session: "s", Gen: r.Generation, Seq: 1, Identity: "who", MsgID: "m",
				Effects: []Effect{{Kind: EffectJoin, Session: "s", Room: "r"}, {Kind: EffectJoin, Session: "o", Room: "r"},
					{Kind: EffectBroadcast, Room: "r", Data: json.RawMessage(`1`), ID: "m", HasID: true}}})
			if err != nil || res.Outcome != InboundDelivered || res.C2SLast != 1 || len(res.Applied.Touched) != 2 {
				t.Fatalf("commit %+v %v", res, err)
			}
			if seen, _ := st.SeenID(ctx, "who", "m", 0); !seen {
				t.Fatal("id not recorded")
			}
			// The same id again: the seq advances, the effects do not apply.
			res, _ = commitOne(st, Inbound{Session: "s", Gen: r.Generation, Seq: 2, Identity: "who", MsgID: "m",
				Effects: []Effect{send("s", `2`)}})
			got, _ := st.Get(ctx, "s")
			if res.Outcome != InboundDuplicateID || got.C2SLast != 2 || got.S2CLast != 1 {
				t.Fatalf("duplicate id %+v, record %+v", res, got)
			}
			// The same id with other data is new content, not a retry.
			if seen, _ := st.SeenID(ctx, "who", "m", 7); seen {
				t.Fatal("other data counted as a duplicate")
			}
			res, _ = commitOne(st, Inbound{Session: "s", Gen: r.Generation, Seq: 3, Identity: "who", MsgID: "m", Digest: 7,
				Effects: []Effect{send("s", `3`)}})
			if res.Outcome != InboundDelivered {
				t.Fatalf("same id, other data: %+v", res)
			}
			// Duplicate seq and gap change nothing.
			for seq, want := range map[uint64]InboundOutcome{3: InboundDuplicate, 5: InboundGap} {
				res, _ := commitOne(st, Inbound{Session: "s", Gen: r.Generation, Seq: seq, MsgID: "new", Effects: []Effect{send("s", `3`)}})
				if res.Outcome != want || res.C2SLast != 3 {
					t.Fatalf("seq %d: %+v", seq, res)
				}
			}
			if got, _ := st.Get(ctx, "s"); got.S2CLast != 2 || fmt.Sprint(got.Rooms) != "[r]" {
				t.Fatalf("record %+v", got)
			}
		})
		t.Run("a batch commits in order", func(t *testing.T) {
			st := newStore(MemoryOptions{})
			r := newRecord(t, st, "s", "t")
			res, err := st.CommitInbound(ctx, []Inbound{
				{Session: "s", Gen: r.Generation, Seq: 1, MsgID: "a", Effects: []Effect{send("s", `1`)}},
				{Session: "s", Gen: r.Generation, Seq: 2, MsgID: "a", Effects: []Effect{send("s", `2`)}},
				{Session: "s", Gen: r.Generation, Seq: 4, MsgID: "b"},
				{Session: "s", Gen: r.Generation, Seq: 3, MsgID: "c", Effects: []Effect{send("s", `3`)}},
			})
			if err != nil || len(res) != 4 {
				t.Fatalf("%+v %v", res, err)
			}
			want := []InboundOutcome{InboundDelivered, InboundDuplicateID, InboundGap, InboundDelivered}
			for i, r := range res {
				if r.Outcome != want[i] {
					t.Fatalf("msg %d: %+v, want %v", i, r, want[i])
				}
			}
			if got, _ := st.Get(ctx, "s"); got.C2SLast != 3 || got.S2CLast != 2 {
				t.Fatalf("record %+v", got)
			}
		})
		t.Run("ack and read outbound", func(t *testing.T) {
			st := newStore(MemoryOptions{ReplayMsgs: 3})
			r := newRecord(t, st, "s", "t")
			for i := 1; i <= 3; i++ {
				if _, err := st.Append(ctx, []Effect{send("s", fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			msgs, err := st.ReadOutbound(ctx, "s", r.Generation, 1, 10, 1<<20)
			if err != nil || len(msgs) != 2 || msgs[0].Seq != 2 || string(msgs[1].Data) != "3" {
				t.Fatalf("read %+v %v", msgs, err)
			}
			for seq, want := range map[uint64]AckOutcome{4: AckOutOfRange, 2: AckApplied} {
				if res, _ := st.Ack(ctx, "s", r.Generation, seq); res.Outcome != want {
					t.Fatalf("ack %d: %+v", seq, res)
				}
			}
			if res, _ := st.Ack(ctx, "s", r.Generation, 1); res.Outcome != AckStale {
				t.Fatalf("stale ack %+v", res)
			}
			// Evictions: msgs after 2 are 3, 4, 5, 6 but only 3 fit; 3 is gone.
			for i := 4; i <= 6; i++ {
				_, _ = st.Append(ctx, []Effect{send("s", fmt.Sprint(i))})
			}
			if _, err := st.ReadOutbound(ctx, "s", r.Generation, 2, 10, 1<<20); !errors.Is(err, ErrEvicted) {
				t.Fatalf("read past an eviction: %v", err)
			}
			if res, _ := st.Resume(ctx, ResumeRequest{ID: "s", TokenHash: tokenHash("t"), LastSeq: 2, NewTokenHash: tokenHash("u")}); res.Outcome != ResumeUnreplayable {
				t.Fatalf("resume %+v", res)
			}
			if _, err := st.Get(ctx, "s"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("an unreplayable session survived: %v", err)
			}
		})
		t.Run("detached sessions expire", func(t *testing.T) {
			clk := newFakeClock()
			st := newStore(MemoryOptions{Now: clk.Now})
			r := newRecord(t, st, "s", "t")
			if err := st.Detach(ctx, "s", r.Generation, time.Second); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			if res, _ := st.Resume(ctx, ResumeRequest{ID: "s", TokenHash: tokenHash("t")}); res.Outcome != ResumeUnknown {
				t.Fatalf("resume after the TTL %+v", res)
			}
			expired, err := st.Sweep(ctx)
			if err != nil || len(expired) != 1 || expired[0].ID != "s" {
				t.Fatalf("sweep %+v %v", expired, err)
			}
		})
		t.Run("the dedupe window is bounded by count and age", func(t *testing.T) {
			clk := newFakeClock()
			st := newStore(MemoryOptions{Now: clk.Now, DedupeIDs: 2, DedupeTTL: time.Minute})
			r := newRecord(t, st, "s", "t")
			for i, id := range []string{"a", "b", "c"} {
				_, _ = commitOne(st, Inbound{Session: "s", Gen: r.Generation, Seq: uint64(i + 1), Identity: "who", MsgID: id})
			}
			for id, want := range map[string]bool{"a": false, "b": true, "c": true} {
				if seen, _ := st.SeenID(ctx, "who", id, 0); seen != want {
					t.Fatalf("%s seen %v", id, seen)
				}
			}
			clk.Advance(time.Minute)
			if seen, _ := st.SeenID(ctx, "who", "c", 0); seen {
				t.Fatal("an id outlived its TTL")
			}
		})
	})
}
