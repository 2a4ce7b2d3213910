package hostile

// Raw tether.v1 clients on gorilla/websocket: they write whatever a row needs
// (bytes the SDK would never send) and report what the server answered.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const closeAbnormal = websocket.CloseAbnormalClosure // 1006: no close frame (EOF, RST)

func dialer() *websocket.Dialer {
	return &websocket.Dialer{Subprotocols: []string{"tether.v1"}, HandshakeTimeout: 10 * time.Second}
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := dialer().Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

type frame map[string]interface{}

func (f frame) typ() string { s, _ := f["type"].(string); return s }

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

func (f frame) num(k string) float64 { v, _ := f[k].(float64); return v }

func writeJSON(c *websocket.Conn, v interface{}) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeText(c, string(b))
}

func writeText(c *websocket.Conn, text string) error {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.WriteMessage(websocket.TextMessage, []byte(text))
}

// readFrame reads one text frame as JSON.
func readFrame(c *websocket.Conn, within time.Duration) (frame, error) {
	_ = c.SetReadDeadline(time.Now().Add(within))
	typ, b, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != websocket.TextMessage {
		return nil, fmt.Errorf("server sent a non-text message (type %d)", typ)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("server sent invalid JSON %q: %v", b, err)
	}
	return f, nil
}

type welcome struct {
	Session     string `json:"session"`
	ResumeToken string `json:"resume_token"`
	Resumed     bool   `json:"resumed"`
	LastSeq     uint64 `json:"last_seq"`
}

// hello sends a hello (plus `extra` members) and returns the welcome.
func hello(t *testing.T, c *websocket.Conn, extra frame) welcome {
	t.Helper()
	h := frame{"type": "hello", "v": 1}
	for k, v := range extra {
		h[k] = v
	}
	if err := writeJSON(c, h); err != nil {
		t.Fatalf("write hello: %v", err)
	}
	for {
		f, err := readFrame(c, 10*time.Second)
		if err != nil {
			t.Fatalf("waiting for welcome: %v", err)
		}
		switch f.typ() {
		case "welcome":
			b, _ := json.Marshal(f)
			var w welcome
			_ = json.Unmarshal(b, &w)
			if w.Session == "" || w.ResumeToken == "" {
				t.Fatalf("welcome without session or resume_token: %v", f)
			}
			return w
		case "error":
			t.Fatalf("hello refused: %v", f)
		}
	}
}

func resumeHello(session, token string, lastSeq uint64) frame {
	return frame{"resume": frame{"session": session, "resume_token": token, "last_seq": lastSeq}}
}

// ending is how the server ended a connection.
type ending struct {
	code      int    // close code; 1006 when the link dropped without a close frame
	errorCode string // the error frame's code before the close, if any
	frames    int    // frames read before the end
	err       error  // a read error that is neither a close nor a drop (e.g. our deadline)
}

func (e ending) String() string {
	s := fmt.Sprintf("close %d", e.code)
	if e.errorCode != "" {
		s += " after error " + e.errorCode
	}
	if e.err != nil {
		s += fmt.Sprintf(" (%v)", e.err)
	}
	return s
}

// readUntilEnd reads (and acks nothing) until the server ends the connection
// or `within` passes (err set, code 0).
func readUntilEnd(c *websocket.Conn, within time.Duration) ending {
	var e ending
	deadline := time.Now().Add(within)
	for {
		_ = c.SetReadDeadline(deadline)
		typ, b, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			var ne net.Error
			switch {
			case errors.As(err, &ce):
				e.code = ce.Code
			case errors.As(err, &ne) && ne.Timeout():
				e.err = err
			default: // ECONNRESET, EOF in the middle of a frame, ...
				e.code = closeAbnormal
			}
			return e
		}
		e.frames++
		if typ == websocket.TextMessage {
			var f frame
			if json.Unmarshal(b, &f) == nil && f.typ() == "error" {
				e.errorCode = f.str("code")
			}
		}
	}
}

// peer is a well-behaved client with its own reader goroutine: it acks every
// server msg, answers pings (gorilla does), and hands frames to the test.
type peer struct {
	t       *testing.T
	c       *websocket.Conn
	w       welcome
	wmu     sync.Mutex
	frames  chan frame
	ended   chan ending
	nextSeq uint64
	lastIn  uint64 // highest server msg seq received (atomic)
}

func newPeer(t *testing.T, url string, extra frame) *peer {
	t.Helper()
	p := &peer{t: t, c: dial(t, url), frames: make(chan frame, 1024), ended: make(chan ending, 1)}
	p.w = hello(t, p.c, extra)
	p.nextSeq = 1
	go p.read(p.c, p.frames, p.ended)
	c := p.c
	t.Cleanup(func() { _ = c.Close() })
	return p
}

func (p *peer) read(c *websocket.Conn, frames chan frame, ended chan ending) {
	for {
		_ = c.SetReadDeadline(time.Time{})
		typ, b, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			e := ending{code: closeAbnormal, err: err}
			if errors.As(err, &ce) {
				e = ending{code: ce.Code}
			}
			ended <- e
			close(frames)
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		if f.typ() == "msg" {
			seq := uint64(f.num("seq"))
			if seq > atomic.LoadUint64(&p.lastIn) {
				atomic.StoreUint64(&p.lastIn, seq)
			}
			_ = p.write(frame{"type": "ack", "seq": seq})
		}
		select {
		case frames <- f:
		default: // the test is not looking; keep reading
		}
	}
}

func (p *peer) write(v interface{}) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return writeJSON(p.c, v)
}

// roundTrip sends one msg and waits for the server's ack of it (and, in echo
// mode, the echo): the session works.
func (p *peer) roundTrip(t *testing.T, echo bool) {
	t.Helper()
	seq := p.nextSeq
	p.nextSeq++
	id := fmt.Sprintf("peer-%d", seq)
	if err := p.write(frame{"type": "msg", "seq": seq, "id": id, "data": frame{"n": seq}}); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	acked, echoed := false, !echo
	deadline := time.After(10 * time.Second)
	for !acked || !echoed {
		select {
		case f, ok := <-p.frames:
			if !ok {
				t.Fatalf("peer's connection ended: %v", <-p.ended)
			}
			switch f.typ() {
			case "ack":
				if uint64(f.num("seq")) >= seq {
					acked = true
				}
			case "msg":
				if f.str("id") == id {
					echoed = true
				}
			case "error":
				t.Fatalf("peer got an error frame: %v", f)
			}
		case <-deadline:
			t.Fatalf("peer: no ack/echo of seq %d within 10 s", seq)
		}
	}
}

// alive fails the test if the server ended the peer's connection.
func (p *peer) alive(t *testing.T) {
	t.Helper()
	select {
	case e := <-p.ended:
		p.ended <- e
		t.Fatalf("the server ended an unrelated session's connection: %v", e)
	default:
	}
}

// reconnectResume drops the peer's connection and resumes its session on a
// new one with its current token: it must come back resumed:true.
func (p *peer) reconnectResume(t *testing.T, url string) {
	t.Helper()
	_ = p.c.Close()
	<-p.ended
	c := dial(t, url)
	w := hello(t, c, resumeHello(p.w.Session, p.w.ResumeToken, atomic.LoadUint64(&p.lastIn)))
	if !w.Resumed || w.Session != p.w.Session {
		t.Fatalf("the real session did not resume: %+v (was %s)", w, p.w.Session)
	}
	p.wmu.Lock()
	p.c, p.w = c, w
	p.frames, p.ended = make(chan frame, 1024), make(chan ending, 1)
	p.wmu.Unlock()
	go p.read(c, p.frames, p.ended)
	t.Cleanup(func() { _ = c.Close() })
}

// bye ends the peer's session cleanly.
func (p *peer) bye() {
	_ = p.write(frame{"type": "bye"})
	p.wmu.Lock()
	_ = p.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	p.wmu.Unlock()
	select {
	case <-p.ended:
	case <-time.After(5 * time.Second):
	}
	_ = p.c.Close()
}

// dialSmallBuffers dials with a small receive buffer, so that a client that
// never reads fills the path quickly.
func dialSmallBuffers(t *testing.T, url string, rcvbuf int) *websocket.Conn {
	t.Helper()
	d := dialer()
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}}
		return nd.DialContext(ctx, network, addr)
	}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}
