package tether

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Each test here covers server-side MUSTs and SHOULDs of docs/protocol.md
// and runs once per Store kind (helpers_test.go).

// fakeClock is a settable clock for TTLs; deadlines on sockets stay real.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// echoServer starts an echo server on a fresh store; mod adjusts the config.
func echoServer(t *testing.T, newStore func(MemoryOptions) Store, opt MemoryOptions, mod func(*Config)) *testServer {
	t.Helper()
	cfg := Config{OnMessage: EchoHandler, Heartbeat: -1}
	if mod != nil {
		mod(&cfg)
	}
	if opt.Now == nil {
		opt.Now = cfg.Now
	}
	cfg.Store = newStore(opt)
	return startServer(t, cfg)
}

func TestWelcome(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.Heartbeat = 15 * time.Second
			c.SessionTTL = 42 * time.Second
		})
		c := ts.dial(nil)
		if got := c.ws.Subprotocol(); got != Subprotocol {
			t.Fatalf("subprotocol %q, want %q", got, Subprotocol)
		}
		f := c.hello()
		if f.Resumed || f.LastSeq != 0 || f.Session == "" || f.HeartbeatMs != 15000 || f.SessionTTLMs != 42000 {
			t.Fatalf("welcome %+v", f)
		}
		if len(f.ResumeToken) != 32 || f.ResumeToken == f.Session {
			t.Fatalf("resume token %q: want 128 random bits, not the session id", f.ResumeToken)
		}
		// Every welcome carries a fresh token, and the old one stops working.
		c.ws.Close()
		c2 := ts.dial(nil)
		w2 := c2.resume(f, 0, 0)
		if !w2.Resumed || w2.Session != f.Session || w2.ResumeToken == f.ResumeToken {
			t.Fatalf("resume welcome %+v after %+v", w2, f)
		}
		c2.ws.Close()
		c3 := ts.dial(nil)
		if w3 := c3.resume(f, 0, 0); w3.Resumed {
			t.Fatalf("the rotated-out token resumed: %+v", w3)
		}
	})
}

func TestHelloValidation(t *testing.T) {
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	cases := []struct {
		name      string
		first     string // sent as the first frame; "" for binary
		code      string // error frame code; "" when no error frame is expected
		closeCode int    // 0: a welcome is expected
	}{
		{"msg before hello", `{"type":"msg","seq":1,"id":"a","data":1}`, codeBadFrame, 4008},
		{"ack before hello", `{"type":"ack","seq":0}`, codeBadFrame, 4008},
		{"bye before hello", `{"type":"bye"}`, codeBadFrame, 4008},
		{"no v", `{"type":"hello"}`, codeBadFrame, 4008},
		{"v string", `{"type":"hello","v":"1"}`, codeBadFrame, 4008},
		{"v null", `{"type":"hello","v":null}`, codeBadFrame, 4008},
		{"v 2", `{"type":"hello","v":2}`, codeProtocolVersion, 1002},
		{"v 1.0", `{"type":"hello","v":1.0}`, codeProtocolVersion, 1002},
		{"v -1", `{"type":"hello","v":-1}`, codeProtocolVersion, 1002},
		{"token not string", `{"type":"hello","v":1,"token":5}`, codeBadFrame, 4008},
		{"resume missing fields", `{"type":"hello","v":1,"resume":{"session":"x"}}`, codeBadFrame, 4008},
		{"resume last_seq -1", `{"type":"hello","v":1,"resume":{"session":"x","resume_token":"y","last_seq":-1}}`, codeBadFrame, 4008},
		{"resume last_seq 1.5", `{"type":"hello","v":1,"resume":{"session":"x","resume_token":"y","last_seq":1.5}}`, codeBadFrame, 4008},
		{"resume not object", `{"type":"hello","v":1,"resume":[]}`, codeBadFrame, 4008},
		{"client missing version", `{"type":"hello","v":1,"client":{"name":"x"}}`, codeBadFrame, 4008},
		{"invalid JSON", `{"type":`, codeBadFrame, 4008},
		{"array", `[1]`, codeBadFrame, 4008},
		{"scalar", `"hello"`, codeBadFrame, 4008},
		{"null", `null`, codeBadFrame, 4008},
		{"two values", `{"type":"hello","v":1} {}`, codeBadFrame, 4008},
		{"type missing", `{"v":1}`, codeBadFrame, 4008},
		{"type not string", `{"type":5}`, codeBadFrame, 4008},
		{"welcome from client", `{"type":"welcome"}`, codeBadFrame, 4008},
		{"nested too deep", `{"type":"hello","v":1,"x":` + deep + `}`, codeBadFrame, 4008},
		{"binary", "", codeBadFrame, 4008},
		{"invalid UTF-8", "{\"type\":\"hello\",\"v\":1,\"token\":\"\xff\"}", "", 1007},
		{"null optionals", `{"type":"hello","v":1,"token":null,"resume":null,"client":null}`, "", 0},
		{"unknown members", `{"v":1,"future":{"x":[1,2]},"type":"hello"}`, "", 0},
		{"with client", `{"type":"hello","v":1,"client":{"name":"t","version":"1"}}`, "", 0},
	}
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		for _, tc := range cases {
			tc := tc
			t.Run(tc.name, func(t *testing.T) {
				before := ts.srv.Stats().ProtocolErrors()
				c := ts.dial(nil)
				if tc.first == "" {
					if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2}); err != nil {
						t.Fatal(err)
					}
				} else {
					c.sendText(tc.first)
				}
				if tc.closeCode == 0 {
					if w := c.welcome(); w.Resumed {
						t.Fatalf("welcome %+v", w)
					}
					return
				}
				if tc.code != "" {
					c.expectError(tc.code, tc.closeCode)
				} else {
					c.expectClose(tc.closeCode)
				}
				key := tc.code
				if key == "" {
					key = "invalid_utf8"
				}
				waitFor(t, "protocol error counted", func() bool { return ts.srv.Stats().ProtocolErrors()[key] == before[key]+1 })
			})
		}
	})
}

func TestUnknownFramesIgnored(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		c := ts.dial(nil)
		c.sendText(`{"type":"future_thing","x":1}`) // before hello too
		c.hello()
		c.sendText(`{"type":"another"}`)
		c.msg(1, "a", `{"n":1}`)
		if f := c.nextOf("msg"); f.Seq != 1 {
			t.Fatalf("echo %s", f.raw)
		}
		if n := ts.srv.Stats().UnknownFrames.Load(); n != 2 {
			t.Fatalf("unknown frames %d, want 2", n)
		}
	})
}

func TestViolationsAfterWelcome(t *testing.T) {
	cases := []struct {
		name  string
		frame string
		want  string // part of the error message
	}{
		{"seq 0", `{"type":"msg","seq":0,"id":"a","data":1}`, "seq"},
		{"seq -1", `{"type":"msg","seq":-1,"id":"a","data":1}`, "seq"},
		{"seq 1.5", `{"type":"msg","seq":1.5,"id":"a","data":1}`, "seq"},
		{"seq string", `{"type":"msg","seq":"7","id":"a","data":1}`, "seq"},
		{"seq 2^53", `{"type":"msg","seq":9007199254740992,"id":"a","data":1}`, "seq"},
		{"seq 1e0", `{"type":"msg","seq":1e0,"id":"a","data":1}`, "seq"},
		{"seq 1.0", `{"type":"msg","seq":1.0,"id":"a","data":1}`, "seq"},
		{"gap", `{"type":"msg","seq":2,"id":"a","data":1}`, "gap"},
		{"no id", `{"type":"msg","seq":1,"data":1}`, "id"},
		{"id null", `{"type":"msg","seq":1,"id":null,"data":1}`, "id"},
		{"no data", `{"type":"msg","seq":1,"id":"a"}`, "data"},
		{"ack never sent", `{"type":"ack","seq":1}`, "beyond"},
		{"ack negative", `{"type":"ack","seq":-1}`, "seq"},
		{"second hello", `{"type":"hello","v":1}`, "second hello"},
		{"error from client", `{"type":"error","code":"x"}`, "never send"},
	}
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		for _, tc := range cases {
			tc := tc
			t.Run(tc.name, func(t *testing.T) {
				c := ts.dial(nil)
				w := c.hello()
				c.sendText(tc.frame)
				e := c.expectError(codeBadFrame, 4008)
				if !strings.Contains(e.Message, tc.want) {
					t.Fatalf("message %q does not mention %q", e.Message, tc.want)
				}
				// The session stays resumable (§3.2).
				c2 := ts.dial(nil)
				if w2 := c2.resume(w, 0, 0); !w2.Resumed {
					t.Fatalf("not resumable after a violation: %+v", w2)
				}
			})
		}
	})
}

// countingEcho is EchoHandler that counts its calls.
func countingEcho(n *atomic.Int64) Handler {
	return func(x *Context, m Message) error {
		n.Add(1)
		return EchoHandler(x, m)
	}
}

func TestDuplicateReackedNotReprocessed(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		var handled atomic.Int64
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.OnMessage = countingEcho(&handled)
			c.AckDelay = time.Millisecond
		})
		c := ts.dial(nil)
		c.hello()
		c.msg(1, "a", `1`)
		c.msg(2, "b", `2`)
		if a := c.nextOf("ack"); a.Seq == 0 {
			t.Fatalf("ack %s", a.raw)
		}
		waitFor(t, "two msgs handled", func() bool { return handled.Load() == 2 })
		c.msg(1, "a", `1`) // a duplicate: acked again, not processed
		for {
			f := c.next()
			if f.Type == "ack" && f.Seq == 2 {
				break
			}
			if f.Type == "msg" && f.Seq > 2 {
				t.Fatalf("the duplicate was echoed: %s", f.raw)
			}
		}
		if handled.Load() != 2 || ts.srv.Stats().DuplicatesBySeq.Load() != 1 {
			t.Fatalf("handled %d, duplicates %d", handled.Load(), ts.srv.Stats().DuplicatesBySeq.Load())
		}
	})
}

func TestAckBatching(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.OnMessage = nil
			c.AckEvery = 4
			c.AckDelay = time.Hour
		})
		c := ts.dial(nil)
		c.hello()
		for seq := uint64(1); seq <= 4; seq++ {
			c.msg(seq, fmt.Sprint(seq), `null`)
		}
		// One cumulative ack for the batch of 4, not one per msg.
		if a := c.next(); a.Type != "ack" || a.Seq != 4 {
			t.Fatalf("first frame %s, want ack 4", a.raw)
		}
		waitFor(t, "one ack counted", func() bool { return ts.srv.Stats().AcksOut.Load() == 1 })
	})
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.OnMessage = nil
			c.AckDelay = 20 * time.Millisecond
		})
		c := ts.dial(nil)
		c.hello()
		c.msg(1, "x", `null`)
		// Below the count, the delay flushes it.
		if a := c.next(); a.Type != "ack" || a.Seq != 1 {
			t.Fatalf("frame %s, want ack 1", a.raw)
		}
	})
}

func TestResumeReplaysExactlyAfterLastSeq(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		c := ts.dial(nil)
		w := c.hello()
		for seq := uint64(1); seq <= 5; seq++ {
			c.msg(seq, fmt.Sprint("m", seq), fmt.Sprintf(`{"n":%d}`, seq))
		}
		for seq := uint64(1); seq <= 5; seq++ {
			if f := c.nextOf("msg"); f.Seq != seq || f.ID == nil || *f.ID != fmt.Sprint("m", seq) {
				t.Fatalf("echo %s, want seq %d", f.raw, seq)
			}
		}
		c.ws.Close()

		c2 := ts.dial(nil)
		w2 := c2.resume(w, 2, 0)
		if !w2.Resumed || w2.LastSeq != 5 || w2.Session != w.Session {
			t.Fatalf("welcome %+v", w2)
		}
		for seq := uint64(3); seq <= 5; seq++ {
			f := c2.nextOf("msg")
			want := fmt.Sprintf(`{"echo":{"n":%d},"id":"m%d"}`, seq, seq)
			if f.Seq != seq || string(f.Data) != want {
				t.Fatalf("replay %s, want seq %d data %s", f.raw, seq, want)
			}
		}
		// Then new msgs continue the sequence; the client's side continues too.
		c2.msg(6, "m6", `{"n":6}`)
		if f := c2.nextOf("msg"); f.Seq != 6 {
			t.Fatalf("after replay %s", f.raw)
		}
		if ts.srv.Stats().Resumes.Load() != 1 {
			t.Fatalf("resumes %d", ts.srv.Stats().Resumes.Load())
		}
	})
}

func TestResumedFalse(t *testing.T) {
	// Every case of protocol.md §4.2 gets resumed:false, last_seq 0, a new
	// session, and nothing else (no error, no close).
	cases := []struct {
		name  string
		setup func(t *testing.T, ts *testServer, clk *fakeClock, w welcomeFrame) (session, token string, lastSeq uint64)
	}{
		{"unknown session", func(t *testing.T, ts *testServer, clk *fakeClock, w welcomeFrame) (string, string, uint64) {
			return "no-such-session", w.ResumeToken, 0
		}},
		{"wrong token", func(t *testing.T, ts *testServer, clk *fakeClock, w welcomeFrame) (string, string, uint64) {
			return w.Session, "0123456789abcdef0123456789abcdef", 0
		}},
		{"expired", func(t *testing.T, ts *testServer, clk *fakeClock, w welcomeFrame) (string, string, uint64) {
			clk.Advance(time.Minute + time.Millisecond)
			return w.Session, w.ResumeToken, 0
		}},
		{"replay gone", func(t *testing.T, ts *testServer, clk *fakeClock, w welcomeFrame) (string, string, uint64) {
			for i := 0; i < 5; i++ { // the buffer keeps 3
				if err := ts.srv.Send(w.Session, i); err != nil {
					t.Fatal(err)
				}
			}
			return w.Session, w.ResumeToken, 0
		}},
		{"last_seq beyond sent", func(t *testing.T, ts *testServer, clk *fakeClock, w welcomeFrame) (string, string, uint64) {
			return w.Session, w.ResumeToken, 99
		}},
	}
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		for _, tc := range cases {
			tc := tc
			t.Run(tc.name, func(t *testing.T) {
				clk := newFakeClock()
				ts := echoServer(t, newStore, MemoryOptions{ReplayMsgs: 3}, func(c *Config) { c.Now = clk.Now })
				c := ts.dial(nil)
				w := c.hello()
				c.ws.Close()
				ts.waitDetached(w.Session)
				session, token, last := tc.setup(t, ts, clk, w)
				c2 := ts.dial(nil)
				c2.sendResume(session, token, last, 0)
				w2 := c2.welcome()
				if w2.Resumed || w2.LastSeq != 0 || w2.Session == w.Session || w2.Session == session {
					t.Fatalf("welcome %+v", w2)
				}
				if n := ts.srv.Stats().ResumeMisses.Load(); n != 1 {
					t.Fatalf("resume misses %d", n)
				}
				c2.roundTrip(1) // the new session works
			})
		}
	})
}

func TestWrongTokenLeavesSessionUntouched(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		owner := ts.dial(nil)
		w := owner.hello()
		owner.msg(1, "a", `1`)
		owner.nextOf("msg")
		before, err := ts.srv.Store().Get(context.Background(), w.Session)
		if err != nil {
			t.Fatal(err)
		}

		// An attacker knows the id, not the token: answered exactly like an
		// unknown id (same members, same types), and the owner is not disturbed.
		attacker := ts.dial(nil)
		wrongToken := "0" + w.ResumeToken[1:]
		if wrongToken == w.ResumeToken {
			wrongToken = "1" + w.ResumeToken[1:]
		}
		attacker.sendResume(w.Session, wrongToken, 1, 99)
		wrong := attacker.next()
		stranger := ts.dial(nil)
		stranger.sendResume("unknown-session-id", wrongToken, 1, 99)
		unknown := stranger.next()
		if keys(wrong.raw) != keys(unknown.raw) || wrong.Resumed || unknown.Resumed || wrong.LastSeq != 0 {
			t.Fatalf("wrong token %s vs unknown id %s", wrong.raw, unknown.raw)
		}
		after, err := ts.srv.Store().Get(context.Background(), w.Session)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("session changed:\n%+v\n%+v", before, after)
		}
		owner.roundTrip(2) // the owner is not disturbed
		if ts.srv.Stats().Takeovers.Load() != 0 {
			t.Fatal("takeover by a wrong token")
		}
		// And the real token still resumes.
		owner.ws.Close()
		c := ts.dial(nil)
		if w2 := c.resume(w, 2, 0); !w2.Resumed || w2.LastSeq != 2 {
			t.Fatalf("welcome %+v", w2)
		}
	})
}

// keys lists a JSON object's members and their JSON types, sorted.
func keys(raw string) string {
	var m map[string]interface{}
	_ = json.Unmarshal([]byte(raw), &m)
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s:%T", k, v))
	}
	sortStrings(out)
	return strings.Join(out, ",")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestTakeover(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		old := ts.dial(nil)
		w := old.hello()
		old.msg(1, "a", `1`)
		old.nextOf("msg")
		// A valid resume while the old connection is still open (half-open link).
		c := ts.dial(nil)
		w2 := c.resume(w, 1, 0)
		if !w2.Resumed || w2.LastSeq != 1 {
			t.Fatalf("welcome %+v", w2)
		}
		old.expectClose(4009)
		if n := ts.srv.Stats().Takeovers.Load(); n != 1 {
			t.Fatalf("takeovers %d", n)
		}
		c.roundTrip(2)
	})
}

func TestResumeAttempt(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		t.Run("stale hello first, newer attempt supersedes it", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, nil)
			c1 := ts.dial(nil)
			w := c1.hello()
			c1.ws.Close()
			stale := ts.dial(nil)
			stale.resume(w, 0, 1) // the client never read this welcome
			live := ts.dial(nil)
			w3 := live.resume(w, 0, 2) // the previous token, a higher attempt
			if !w3.Resumed {
				t.Fatalf("welcome %+v", w3)
			}
			stale.expectClose(4009)
			if ts.srv.Stats().StaleSuperseded.Load() != 1 {
				t.Fatal("not counted")
			}
		})
		t.Run("stale hello second is refused and the live one kept", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, nil)
			c1 := ts.dial(nil)
			w := c1.hello()
			c1.ws.Close()
			live := ts.dial(nil)
			if w2 := live.resume(w, 0, 2); !w2.Resumed {
				t.Fatalf("welcome %+v", w2)
			}
			stale := ts.dial(nil)
			if w3 := stale.resume(w, 0, 1); w3.Resumed {
				t.Fatalf("a stale hello took the session: %+v", w3)
			}
			live.roundTrip(1) // the live connection is not disturbed
		})
		t.Run("previous token without attempt is refused", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, nil)
			c1 := ts.dial(nil)
			w := c1.hello()
			c1.ws.Close()
			c2 := ts.dial(nil)
			c2.resume(w, 0, 0)
			c3 := ts.dial(nil)
			if w3 := c3.resume(w, 0, 0); w3.Resumed {
				t.Fatalf("the previous token resumed without attempt: %+v", w3)
			}
		})
	})
}

func TestSessionTTL(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		clk := newFakeClock()
		rec := &recorder{}
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.Now = clk.Now
			c.SessionTTL = 30 * time.Second
			c.OnSessionEnd = rec.end
		})
		c := ts.dial(nil)
		w := c.hello()
		c.ws.Close()
		ts.waitDetached(w.Session)
		clk.Advance(29 * time.Second)
		c2 := ts.dial(nil)
		w2 := c2.resume(w, 0, 0)
		if !w2.Resumed {
			t.Fatalf("resume within the TTL: %+v", w2)
		}
		c2.ws.Close()
		ts.waitDetached(w.Session)
		clk.Advance(30 * time.Second)
		rec.waitEnd(t, w.Session, EndExpired)
		ts.expectNotResumed(w2)
	})
}

func TestBye(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		rec := &recorder{}
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.OnSessionEnd = rec.end })
		c := ts.dial(nil)
		w := c.hello()
		c.msg(1, "a", `1`)
		c.sendText(`{"type":"bye"}`)
		before := c.expectClose(1000)
		acked := false
		for _, f := range before {
			acked = acked || (f.Type == "ack" && f.Seq == 1)
		}
		if !acked {
			t.Fatalf("no ack flushed before the close: %v", rawOf(before))
		}
		rec.waitEnd(t, w.Session, EndBye)
		ts.expectNotResumed(w)
	})
}

func TestAuthInHello(t *testing.T) {
	cases := []struct {
		token     string
		code      string
		closeCode int
	}{
		{"good", "", 0},
		{"old", codeTokenExpired, 4002},
		{"nope", codeUnauthorized, 4001},
		{"", codeUnauthorized, 4001},
		{"banned", codeForbidden, 4003},
	}
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.Authenticate = func(token string, r *http.Request) (string, error) {
				switch token {
				case "good":
					return "user-1", nil
				case "old":
					return "", ErrTokenExpired
				case "banned":
					return "", ErrForbidden
				}
				return "", ErrUnauthorized
			}
		})
		for _, tc := range cases {
			c := ts.dial(nil)
			hello := map[string]interface{}{"type": "hello", "v": 1}
			if tc.token != "" {
				hello["token"] = tc.token
			}
			c.send(hello)
			if tc.closeCode == 0 {
				c.welcome()
				continue
			}
			c.expectError(tc.code, tc.closeCode)
		}
		if n := ts.srv.Stats().AuthFailures.Load(); n != 4 {
			t.Fatalf("auth failures %d", n)
		}
	})
}

func TestUpgradeRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		t.Run("503 with Retry-After when full", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
				c.MaxConnections = 1
				c.RetryAfter = 3 * time.Second
			})
			ts.dial(nil).hello()
			_, err := ts.tryDial(nil)
			de, ok := err.(*dialError)
			if !ok || de.status != 503 || de.header.Get("Retry-After") != "3" {
				t.Fatalf("second dial: %v %+v", err, de)
			}
		})
		t.Run("server_busy with retry_after_ms at hello", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
				c.MaxSessions = 1
				c.RetryAfter = 2500 * time.Millisecond
			})
			ts.dial(nil).hello()
			c := ts.dial(nil)
			c.send(map[string]interface{}{"type": "hello", "v": 1})
			e := c.expectError(codeServerBusy, 1013)
			if e.RetryAfterMs == nil || *e.RetryAfterMs != 2500 {
				t.Fatalf("error %s", e.raw)
			}
		})
		t.Run("Bearer at the upgrade", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
				c.AuthenticateAtUpgrade = true
				c.Authenticate = func(token string, r *http.Request) (string, error) {
					if token == "good" {
						return "u", nil
					}
					return "", ErrUnauthorized
				}
			})
			for _, h := range []string{"", "Bearer bad", "Basic good"} {
				header := http.Header{}
				if h != "" {
					header.Set("Authorization", h)
				}
				_, err := ts.tryDial(header)
				if de, ok := err.(*dialError); !ok || de.status != 401 {
					t.Fatalf("%q: %v", h, err)
				}
			}
			ts.dial(http.Header{"Authorization": {"Bearer good"}}).hello()
		})
		t.Run("Origin: same-origin or allow-list", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.Origins = []string{"https://app.example"} })
			_, err := ts.tryDial(http.Header{"Origin": {"https://evil.example"}})
			if de, ok := err.(*dialError); !ok || de.status != 403 {
				t.Fatalf("cross-site origin: %v", err)
			}
			ts.dial(http.Header{"Origin": {"https://app.example"}}).hello()
			ts.dial(http.Header{"Origin": {"http://" + ts.hs.Listener.Addr().String()}}).hello()
		})
		t.Run("426 without an upgrade", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, nil)
			resp, err := http.Get(ts.hs.URL + "/ws")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUpgradeRequired {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	})
}

func TestHandlerErrorInBand(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.OnMessage = func(x *Context, m Message) error {
				if string(m.Data) == `"bad"` {
					return fmt.Errorf("cannot do %s", m.Data)
				}
				if string(m.Data) == `"panic"` {
					panic("boom")
				}
				return x.Reply(map[string]string{"ok": m.ID})
			}
		})
		c := ts.dial(nil)
		c.hello()
		c.msg(1, "a", `"bad"`)
		f := c.nextOf("msg")
		if f.ID == nil || *f.ID != "a" || string(f.Data) != `{"error":"cannot do \"bad\""}` {
			t.Fatalf("error reply %s", f.raw)
		}
		c.msg(2, "b", `"panic"`)
		if f := c.nextOf("msg"); string(f.Data) != `{"error":"internal error"}` {
			t.Fatalf("panic reply %s", f.raw)
		}
		c.msg(3, "c", `"fine"`)
		if f := c.nextOf("msg"); string(f.Data) != `{"ok":"c"}` {
			t.Fatalf("reply %s", f.raw)
		}
	})
}

func TestDedupeByID(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		var handled atomic.Int64
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.OnMessage = countingEcho(&handled)
		})
		hello := func(token string) *client {
			c := ts.dial(nil)
			c.send(map[string]interface{}{"type": "hello", "v": 1, "token": token})
			c.welcome()
			return c
		}
		a := hello("alice")
		a.msg(1, "id-1", `1`)
		a.nextOf("msg")
		// The session is lost; the SDK re-sends id-1 in a new session.
		a.ws.Close()
		a2 := hello("alice")
		a2.msg(1, "id-1", `1`)
		a2.msg(2, "id-2", `2`)
		if f := a2.nextOf("msg"); f.ID == nil || *f.ID != "id-2" {
			t.Fatalf("first reply %s: the duplicate id was processed again", f.raw)
		}
		// The same id with other data is new content (tether-chat's resync
		// copies), not a retry: processed.
		a2.msg(3, "id-1", `{"resync":true}`)
		if f := a2.nextOf("msg"); f.ID == nil || *f.ID != "id-1" {
			t.Fatalf("reply %s", f.raw)
		}
		// Another identity has its own window.
		b := hello("bob")
		b.msg(1, "id-1", `1`)
		if f := b.nextOf("msg"); f.ID == nil || *f.ID != "id-1" {
			t.Fatalf("reply %s", f.raw)
		}
		if handled.Load() != 4 || ts.srv.Stats().DuplicatesByID.Load() != 1 {
			t.Fatalf("handled %d, duplicates by id %d", handled.Load(), ts.srv.Stats().DuplicatesByID.Load())
		}
	})
}

func TestRoomsSurviveResume(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.OnMessage = RoomsHandler })
		a := ts.dial(nil)
		wa := a.hello()
		a.msg(1, "a1", `{"room":"lobby"}`)
		b := ts.dial(nil)
		b.hello()
		b.msg(1, "b1", `{"room":"lobby"}`)
		waitFor(t, "both joined", func() bool {
			r, err := ts.srv.Store().Get(context.Background(), wa.Session)
			return err == nil && len(r.Rooms) == 1
		})
		a.ws.Close()
		b.msg(2, "b2", `{"room":"lobby","text":"while you were away"}`)
		a2 := ts.dial(nil)
		if w := a2.resume(wa, 0, 0); !w.Resumed {
			t.Fatalf("welcome %+v", w)
		}
		f := a2.nextOf("msg")
		if f.ID == nil || *f.ID != "b2" || !strings.Contains(string(f.Data), "while you were away") {
			t.Fatalf("relay %s", f.raw)
		}
		b.msg(3, "b3", `{"room":"lobby","text":"again"}`)
		if f := a2.nextOf("msg"); f.ID == nil || *f.ID != "b3" {
			t.Fatalf("relay after resume %s", f.raw)
		}
		// The server API reaches room members and sessions too.
		if err := ts.srv.Broadcast("lobby", map[string]int{"n": 1}); err != nil {
			t.Fatal(err)
		}
		if f := a2.nextOf("msg"); string(f.Data) != `{"n":1}` {
			t.Fatalf("broadcast %s", f.raw)
		}
		if err := ts.srv.Send("nope", 1); err != ErrNotFound {
			t.Fatalf("send to an unknown session: %v", err)
		}
	})
}

func TestReadLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.MaxMessageBytes = 1024 })
		c := ts.dial(nil)
		w := c.hello()
		c.msg(1, "big", `"`+strings.Repeat("x", 2000)+`"`)
		c.expectClose(1009)
		waitFor(t, "counted", func() bool { return ts.srv.Stats().ProtocolErrors()["message_too_big"] == 1 })
		c2 := ts.dial(nil)
		if w2 := c2.resume(w, 0, 0); !w2.Resumed {
			t.Fatalf("welcome %+v", w2)
		}
	})
}

func TestHeartbeat(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		// Generous for a loaded machine: a late pong must not look like silence.
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.Heartbeat = 200 * time.Millisecond })
		c := ts.dial(nil)
		var pings atomic.Int64
		c.ws.SetPingHandler(func(data string) error {
			pings.Add(1)
			return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		w := c.hello()
		if w.HeartbeatMs != 200 {
			t.Fatalf("welcome %+v", w)
		}
		// A client that answers pings stays (reading processes the pings).
		go func() {
			for {
				if _, _, err := c.ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		waitFor(t, "pings", func() bool { return pings.Load() >= 3 })
		if n := ts.srv.Stats().LivenessTimeouts.Load(); n != 0 {
			t.Fatalf("an answering client was dropped (%d)", n)
		}
		// A silent one (no pongs: it never reads) is dropped after 2 x heartbeat.
		silent := ts.dial(nil)
		silent.hello()
		waitFor(t, "liveness timeout", func() bool { return ts.srv.Stats().LivenessTimeouts.Load() == 1 })
	})
}

func TestHelloTimeout(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.HelloTimeout = 50 * time.Millisecond })
		c := ts.dial(nil)
		e := c.expectError(codeBadFrame, 4008)
		if !strings.Contains(e.Message, "no hello") {
			t.Fatalf("error %s", e.raw)
		}
		waitFor(t, "connection freed", func() bool { return ts.srv.Stats().ConnectionsOpen.Load() == 0 })
	})
}

func TestSlowReaderIsPacedNotDropped(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{ReplayMsgs: 5000}, nil)
		c := ts.dial(nil)
		w := c.hello()
		payload := strings.Repeat("p", 8<<10)
		const n = 2000 // 16 MiB: far more than the socket buffers
		for i := 0; i < n; i++ {
			if err := ts.srv.Send(w.Session, payload); err != nil {
				t.Fatal(err)
			}
		}
		for seq := uint64(1); seq <= n; seq++ {
			if f := c.nextOf("msg"); f.Seq != seq {
				t.Fatalf("msg %d, want %d", f.Seq, seq)
			}
			if seq%500 == 0 {
				c.ack(seq)
			}
		}
		if ts.srv.Stats().WindowOverruns.Load() != 0 {
			t.Fatal("a slow reader was dropped")
		}
	})
}

func TestNeverReadingClientIsBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{ReplayMsgs: 50}, nil)
		c := ts.dial(nil)
		w := c.hello()
		payload := strings.Repeat("q", 32<<10)
		// The replay buffer (50 msgs) evicts msgs the socket never took: the
		// connection is dropped, and the store holds at most 50 msgs.
		waitFor(t, "overrun", func() bool {
			_ = ts.srv.Send(w.Session, payload)
			return ts.srv.Stats().WindowOverruns.Load() == 1
		})
		r, err := ts.srv.Store().Get(context.Background(), w.Session)
		if err != nil || r.ReplayMsgs > 50 {
			t.Fatalf("record %+v, %v", r, err)
		}
	})
}

func TestGracefulShutdown(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		t.Run("1012 once the replay is acked", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
				c.AckDelay = time.Hour
				c.DrainTimeout = time.Minute
			})
			c := ts.dial(nil)
			c.hello()
			c.msg(1, "a", `1`)
			echo := c.nextOf("msg")
			done := make(chan error, 1)
			go func() { done <- ts.srv.Shutdown(nilCtx()) }()
			// Acks are flushed first; the close waits for our ack.
			if a := c.nextOf("ack"); a.Seq != 1 {
				t.Fatalf("ack %s", a.raw)
			}
			resp, err := http.Get(ts.hs.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 503 {
				t.Fatalf("healthz while draining: %d", resp.StatusCode)
			}
			// New work is not taken while draining: not processed, not acked.
			c.msg(2, "b", `2`)
			waitFor(t, "deferred", func() bool { return ts.srv.Stats().DeferredByDrain.Load() == 1 })
			c.ack(echo.Seq)
			if before := c.expectClose(1012); len(before) != 0 {
				t.Fatalf("frames after the drain began: %v", rawOf(before))
			}
			if ts.srv.Stats().MsgsIn.Load() != 1 {
				t.Fatal("a msg was processed while draining")
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
		t.Run("1012 at the drain deadline", func(t *testing.T) {
			ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.DrainTimeout = 50 * time.Millisecond })
			c := ts.dial(nil)
			c.hello()
			c.msg(1, "a", `1`)
			c.nextOf("msg") // never acked
			go func() { _ = ts.srv.Shutdown(nilCtx()) }()
			c.expectClose(1012)
		})
	})
}

func TestCloseCodeTable(t *testing.T) {
	// docs/protocol.md §2.2: error code -> close code.
	want := map[string]int{
		"unauthorized": 4001, "token_expired": 4002, "forbidden": 4003, "bad_frame": 4008,
		"session_taken_over": 4009, "server_busy": 1013, "rate_limited": 1013, "protocol_version": 1002,
	}
	if fmt.Sprint(want) != fmt.Sprint(closeCodeOf) {
		t.Fatalf("close codes %v, want %v", closeCodeOf, want)
	}
}

func TestMetrics(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		c := ts.dial(nil)
		c.hello()
		c.msg(1, "a", `1`)
		c.nextOf("msg")
		c.msg(1, "a", `1`)
		c.nextOf("ack")
		resp, err := http.Get(ts.hs.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		body := sb.String()
		for _, want := range []string{
			"tether_connections 1", "tether_sessions 1", "tether_resumes_total 0", "tether_takeovers_total 0",
			"tether_sessions_lost_total 0", `tether_duplicates_dropped_total{by="seq"} 1`,
			`tether_duplicates_dropped_total{by="id"} 0`, "tether_replay_buffer_msgs 1",
			"tether_messages_in_total 1", "tether_messages_out_total 1", "go_goroutines",
		} {
			if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

func nilCtx() context.Context { return context.Background() }

func TestNoHeartbeatNoDeadline(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) {
			c.Heartbeat = -1
			c.HelloTimeout = 30 * time.Millisecond
		})
		c := ts.dial(nil)
		if w := c.hello(); w.HeartbeatMs != 0 {
			t.Fatalf("heartbeat_ms advertised with pings off: %+v", w)
		}
		// Well past the hello timeout: the welcome lifted it, and no liveness
		// deadline replaces it.
		time.Sleep(150 * time.Millisecond)
		c.roundTrip(1)
	})
}

// Another instance (here: a direct Store call) resumes the session; a
// Notify makes this instance's stale connection find itself fenced: 4009.
func TestTakeoverElsewhereFencesTheConnection(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, nil)
		c := ts.dial(nil)
		w := c.hello()
		res, err := ts.srv.Store().Resume(context.Background(), ResumeRequest{ID: w.Session,
			TokenHash: tokenHash(w.ResumeToken), NewTokenHash: tokenHash("other"), Owner: "instance-b"})
		if err != nil || res.Outcome != ResumeOK || !res.PrevAttached || res.PrevOwner != ts.srv.cfg.InstanceID {
			t.Fatalf("resume %+v %v", res, err)
		}
		ts.srv.Notify(w.Session)
		c.expectClose(4009)
	})
}

// An ack never overtakes the replies of the msgs it covers: a client that
// has the ack has the echo (so a crash right after the ack orphans nothing).
func TestRepliesPrecedeTheirAck(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(MemoryOptions) Store) {
		ts := echoServer(t, newStore, MemoryOptions{}, func(c *Config) { c.AckEvery = 1 })
		c := ts.dial(nil)
		c.hello()
		for seq := uint64(1); seq <= 50; seq++ {
			c.msg(seq, fmt.Sprint(seq), `null`)
		}
		echoed := uint64(0)
		for echoed < 50 {
			f := c.next()
			switch f.Type {
			case "msg":
				echoed = f.Seq
			case "ack":
				if f.Seq > echoed {
					t.Fatalf("ack %d before the echo of msg %d", f.Seq, echoed+1)
				}
			}
		}
	})
}
