package tether

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// storeKinds is the table every protocol test runs against: each entry makes
// a fresh, empty Store. A shared store (Redis) adds its row here.
var storeKinds = []struct {
	name string
	make func(t *testing.T, opt MemoryOptions) Store
}{
	{"memory", func(t *testing.T, opt MemoryOptions) Store { return NewMemoryStore(opt) }},
}

// forEachStore runs body once per store kind, as subtests.
func forEachStore(t *testing.T, body func(t *testing.T, newStore func(MemoryOptions) Store)) {
	for _, k := range storeKinds {
		k := k
		t.Run(k.name, func(t *testing.T) {
			body(t, func(opt MemoryOptions) Store { return k.make(t, opt) })
		})
	}
}

const waitLimit = 5 * time.Second

// testServer is a Server behind httptest on 127.0.0.1.
type testServer struct {
	t   *testing.T
	srv *Server
	hs  *httptest.Server
	url string
}

// startServer starts a Server with cfg (Store from newStore if cfg.Store is
// nil) and registers cleanup that closes it and checks that no goroutine is
// left behind.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	baseline := runtime.NumGoroutine()
	if cfg.Logger == nil {
		cfg.Logger = NewLogger(testWriter{t}, testing.Verbose())
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.Handle("/metrics", srv.MetricsHandler())
	mux.HandleFunc("/healthz", srv.Healthz)
	hs := httptest.NewServer(mux)
	ts := &testServer{t: t, srv: srv, hs: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		checkGoroutines(t, baseline)
	})
	return ts
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// checkGoroutines waits for the goroutine count to return to baseline.
func checkGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutine leak: %d running, baseline %d\n%s", n, baseline, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client is a scripted gorilla client speaking raw frames.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (ts *testServer) dial(header http.Header) *client {
	ts.t.Helper()
	c, err := ts.tryDial(header)
	if err != nil {
		ts.t.Fatalf("dial: %v", err)
	}
	return c
}

func (ts *testServer) tryDial(header http.Header) (*client, error) {
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}, HandshakeTimeout: waitLimit}
	ws, resp, err := d.Dial(ts.url, header)
	if err != nil {
		if resp != nil {
			return nil, &dialError{status: resp.StatusCode, header: resp.Header}
		}
		return nil, err
	}
	c := &client{t: ts.t, ws: ws}
	ts.t.Cleanup(func() { ws.Close() })
	return c, nil
}

type dialError struct {
	status int
	header http.Header
}

func (e *dialError) Error() string { return fmt.Sprintf("upgrade refused: HTTP %d", e.status) }

func (c *client) sendText(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

func (c *client) send(frame map[string]interface{}) {
	c.t.Helper()
	b, err := json.Marshal(frame)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendText(string(b))
}

func (c *client) hello() welcomeFrame {
	c.t.Helper()
	c.send(map[string]interface{}{"type": "hello", "v": 1})
	return c.welcome()
}

func (c *client) resume(w welcomeFrame, lastSeq uint64, attempt uint64) welcomeFrame {
	c.t.Helper()
	c.sendResume(w.Session, w.ResumeToken, lastSeq, attempt)
	return c.welcome()
}

func (c *client) sendResume(session, token string, lastSeq, attempt uint64) {
	c.t.Helper()
	r := map[string]interface{}{"session": session, "resume_token": token, "last_seq": lastSeq}
	if attempt != 0 {
		r["attempt"] = attempt
	}
	c.send(map[string]interface{}{"type": "hello", "v": 1, "resume": r})
}

// frame is any server frame, decoded loosely.
type frame struct {
	Type         string          `json:"type"`
	Seq          uint64          `json:"seq"`
	ID           *string         `json:"id"`
	Data         json.RawMessage `json:"data"`
	Code         string          `json:"code"`
	Message      string          `json:"message"`
	RetryAfterMs *uint64         `json:"retry_after_ms"`
	welcomeFrame
	raw string
}

// next reads the next server frame; a close or error fails the test.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *client) read() (frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(waitLimit))
	typ, data, err := c.ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if typ != websocket.TextMessage {
		return frame{}, errors.New("binary frame from server")
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		return frame{}, fmt.Errorf("bad frame %q: %v", data, err)
	}
	f.raw = string(data)
	return f, nil
}

// nextOf reads frames until one of type typ, failing on a close.
func (c *client) nextOf(typ string) frame {
	c.t.Helper()
	for {
		f := c.next()
		if f.Type == typ {
			return f
		}
	}
}

func (c *client) welcome() welcomeFrame {
	c.t.Helper()
	f := c.next()
	if f.Type != "welcome" {
		c.t.Fatalf("expected welcome, got %s", f.raw)
	}
	var w welcomeFrame
	if err := json.Unmarshal([]byte(f.raw), &w); err != nil {
		c.t.Fatal(err)
	}
	return w
}

// expectClose reads until the close frame and checks its code; frames read
// before it are returned (an error frame, acks).
func (c *client) expectClose(code int) []frame {
	c.t.Helper()
	var before []frame
	for {
		f, err := c.read()
		if err == nil {
			before = append(before, f)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("expected close %d, got %v (after %v)", code, err, rawOf(before))
		}
		if ce.Code != code {
			c.t.Fatalf("expected close %d, got %d %q (after %v)", code, ce.Code, ce.Text, rawOf(before))
		}
		return before
	}
}

// expectError reads an error frame with code and then close with closeCode.
func (c *client) expectError(code string, closeCode int) frame {
	c.t.Helper()
	before := c.expectClose(closeCode)
	for _, f := range before {
		if f.Type == "error" {
			if f.Code != code {
				c.t.Fatalf("expected error %s, got %s", code, f.raw)
			}
			return f
		}
	}
	c.t.Fatalf("no error frame before close %d: %v", closeCode, rawOf(before))
	return frame{}
}

func rawOf(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.raw
	}
	return out
}

func (c *client) msg(seq uint64, id string, data string) {
	c.t.Helper()
	c.sendText(fmt.Sprintf(`{"type":"msg","seq":%d,"id":%q,"data":%s}`, seq, id, data))
}

// roundTrip sends msg seq to an echo server (as the seq-th server msg of a
// fresh session or one in step) and waits for its echo.
func (c *client) roundTrip(seq uint64) {
	c.t.Helper()
	c.msg(seq, fmt.Sprint("rt", seq), fmt.Sprint(seq))
	if f := c.nextOf("msg"); f.ID == nil || *f.ID != fmt.Sprint("rt", seq) {
		c.t.Fatalf("echo %s, want the echo of msg %d", f.raw, seq)
	}
}

func (c *client) ack(seq uint64) {
	c.t.Helper()
	c.sendText(fmt.Sprintf(`{"type":"ack","seq":%d}`, seq))
}

// waitFor polls cond until it holds or the limit passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recorder collects hook calls.
type recorder struct {
	mu     sync.Mutex
	starts []SessionInfo
	ends   []string
	msgs   []Message
}

func (r *recorder) start(s SessionInfo) {
	r.mu.Lock()
	r.starts = append(r.starts, s)
	r.mu.Unlock()
}

func (r *recorder) end(s SessionInfo, why EndReason) {
	r.mu.Lock()
	r.ends = append(r.ends, s.ID+":"+string(why))
	r.mu.Unlock()
}

func (r *recorder) endsOf() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ends...)
}

// waitEnd waits until the end hook reported exactly this session's end.
func (r *recorder) waitEnd(t *testing.T, session string, why EndReason) {
	t.Helper()
	waitFor(t, "the end hook: "+string(why), func() bool {
		e := r.endsOf()
		return len(e) == 1 && e[0] == session+":"+string(why)
	})
}

// waitDetached waits until the store shows the session without a connection.
func (ts *testServer) waitDetached(session string) {
	ts.t.Helper()
	waitFor(ts.t, "detached", func() bool {
		r, err := ts.srv.Store().Get(context.Background(), session)
		return err == nil && !r.Attached
	})
}

// expectNotResumed resumes w on a new connection and expects resumed:false.
func (ts *testServer) expectNotResumed(w welcomeFrame) {
	ts.t.Helper()
	c := ts.dial(nil)
	if w2 := c.resume(w, 0, 0); w2.Resumed {
		ts.t.Fatalf("resumed: %+v", w2)
	}
}
