// Package hostile is the server-side twin of the SDK's bad-input table
// (tests/integration/bad_input_test.cpp): scripted raw WebSocket clients send
// what the SDK never would, to the server named by $TETHER_TEST_SERVER
// (tether-gin-server or the reference chat-server), started afresh for every
// row. Each row asserts
//   - the close code docs/protocol.md §2.2/§3.2/§8 gives (for rows where the
//     document is silent, the code chosen here is named in the row);
//   - a counter that moved (tether-gin-server: /metrics; chat-server: the
//     stats line it prints on exit with --verbose);
//   - no panic or crash (stderr, process alive);
//   - no leak: the server's open descriptors and, for a Go server,
//     go_goroutines return to their baseline (waited for with a deadline);
//   - another session, attached before the row, still works afterwards.
//
// Run: tests/gin/go_test.sh (GOPATH mode against /usr/share/gocode), or CTest
// (gin.hostile, hostile.chat-server).
package hostile

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A counter that a row must move: chat-server's exit-stats key (empty: it
// keeps none for this), and the tether-gin-server series (metric name and
// label matchers).
type counter struct {
	chat      string
	gin       string
	ginLabels []string
	min       float64
}

// Counters, by what they count.
var (
	badFrames = func(n float64) counter {
		return counter{chat: "bad_frames", gin: ginProtocolErrors, ginLabels: []string{`code="bad_frame"`}, min: n}
	}
	versionErrors = counter{chat: "bad_frames", gin: ginProtocolErrors, ginLabels: []string{`code="protocol_version"`}, min: 1}
	tooBig        = counter{gin: ginProtocolErrors, ginLabels: []string{`code="message_too_big"`}, min: 1}
	// 4008 bad_frame or the WebSocket layer's 1007; chat-server counts neither
	// when websocketpp closes with 1007.
	anyProtocolError = counter{gin: ginProtocolErrors, min: 1}
	resumeMisses     = counter{chat: "resume_misses", gin: ginSessionsLost, min: 1}
	slowDrops        = counter{chat: "window_overruns", gin: ginWindowOverruns, min: 1}
)

type env struct {
	s         *server
	bystander *peer
}

type row struct {
	name    string
	args    []string // server flags beyond --echo
	counter counter
	run     func(t *testing.T, e *env) string // returns what the server did, for the table
}

// Rows chat-server is known to fail, with what it does instead. The row is
// skipped against chat-server only; fix the server, then delete the entry.
var chatServerDeviations = map[string]string{}

const (
	closeBadFrame        = 4008
	closeProtocolVersion = 1002
	closeTooBig          = 1009
	closeInvalidPayload  = 1007
)

// violation: connect, optionally hello, send, and expect the connection to be
// closed with one of `want` (4008 must come after an error frame bad_frame).
func violation(afterHello bool, send func(c *websocket.Conn) error, want ...int) func(*testing.T, *env) string {
	return func(t *testing.T, e *env) string {
		c := dial(t, e.s.url())
		defer c.Close()
		if afterHello {
			hello(t, c, nil)
		}
		_ = send(c) // may fail once the server has closed: the ending says what happened
		end := readUntilEnd(c, 15*time.Second)
		expectEnding(t, end, want...)
		return end.String()
	}
}

func expectEnding(t *testing.T, end ending, want ...int) {
	t.Helper()
	ok := false
	for _, w := range want {
		if end.code == w {
			ok = true
		}
	}
	if !ok {
		t.Errorf("server ended the connection with %v, want close %v", end, want)
	}
	if end.code == closeBadFrame && end.errorCode != "bad_frame" {
		t.Errorf("close 4008 without an error frame bad_frame before it (%v)", end)
	}
	if end.code == closeProtocolVersion && end.errorCode != "protocol_version" {
		t.Errorf("close 1002 without an error frame protocol_version before it (%v)", end)
	}
}

func text(s string) func(*websocket.Conn) error {
	return func(c *websocket.Conn) error { return writeText(c, s) }
}

func msgWithSeq(seq string) string {
	return `{"type":"msg","seq":` + seq + `,"id":"h-1","data":{"n":1}}`
}

// big streams one text message of `size` bytes (a msg whose data is a string
// of 'x') in 1 MiB writes.
func big(size int) func(*websocket.Conn) error {
	return func(c *websocket.Conn) error {
		_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		w, err := c.NextWriter(websocket.TextMessage)
		if err != nil {
			return err
		}
		head := `{"type":"msg","seq":1,"id":"h-big","data":"`
		if _, err := w.Write([]byte(head)); err != nil {
			return err
		}
		chunk := []byte(strings.Repeat("x", 1<<20))
		left := size - len(head) - 2
		for left > 0 {
			n := len(chunk)
			if left < n {
				n = left
			}
			if _, err := w.Write(chunk[:n]); err != nil {
				return err
			}
			left -= n
		}
		if _, err := w.Write([]byte(`"}`)); err != nil {
			return err
		}
		return w.Close()
	}
}

// resumeOf tries to resume `session` with `token` and expects a new session
// (resumed:false) on a connection that stays usable.
func expectNewSession(t *testing.T, e *env, session, token string, lastSeq uint64) string {
	t.Helper()
	c := dial(t, e.s.url())
	defer c.Close()
	w := hello(t, c, resumeHello(session, token, lastSeq))
	if w.Resumed {
		t.Fatalf("resumed:true for a resume that must not succeed: %+v", w)
	}
	if w.Session == session {
		t.Errorf("resumed:false but the same session id %q (§4.2: a new session)", w.Session)
	}
	if w.LastSeq != 0 {
		t.Errorf("resumed:false with last_seq %d (must be 0)", w.LastSeq)
	}
	// The new session works.
	if err := writeText(c, msgWithSeq("1")); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := readFrame(c, 10*time.Second)
		if err != nil {
			t.Fatalf("the new session's connection: %v", err)
		}
		if f.typ() == "ack" && f.num("seq") >= 1 {
			break
		}
		if f.typ() == "error" {
			t.Fatalf("error on the new session: %v", f)
		}
	}
	return "welcome resumed:false (new session), connection usable"
}

// session makes a session of its own on a connection that then drops.
func droppedSession(t *testing.T, e *env) welcome {
	c := dial(t, e.s.url())
	w := hello(t, c, nil)
	_ = c.Close()
	return w
}

func rows() []row {
	afterHello, first := true, false
	seqRow := func(seq string) row {
		return row{"msg seq " + seq, nil, badFrames(1), violation(afterHello, text(msgWithSeq(seq)), closeBadFrame)}
	}
	return []row{
		{"invalid JSON", nil, badFrames(1), violation(afterHello, text(`{"type":"msg","seq":1,`), closeBadFrame)},
		{"invalid UTF-8", nil, anyProtocolError, violation(afterHello,
			text("{\"type\":\"msg\",\"seq\":1,\"id\":\"h-1\",\"data\":\"\xff\xfe\xfd\"}"), closeBadFrame, closeInvalidPayload)},
		{"binary frame", nil, badFrames(1), violation(afterHello, func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.BinaryMessage, []byte(msgWithSeq("1")))
		}, closeBadFrame)},
		{"100 MB frame", nil, tooBig, violation(afterHello, big(100<<20), closeTooBig)},
		{"JSON nested 100,000 deep", nil, badFrames(1), violation(afterHello, text(
			`{"type":"msg","seq":1,"id":"h-deep","data":`+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+`}`),
			closeBadFrame)},
		seqRow("0"),
		seqRow("-1"),
		seqRow("1.5"),
		seqRow(`"7"`),
		seqRow(fmt.Sprint(uint64(1) << 53)),
		{"seq gap (1 then 3)", nil, badFrames(1), violation(afterHello, func(c *websocket.Conn) error {
			if err := writeText(c, msgWithSeq("1")); err != nil {
				return err
			}
			return writeText(c, msgWithSeq("3"))
		}, closeBadFrame)},
		{"ack of a msg never sent", nil, badFrames(1), violation(afterHello, text(`{"type":"ack","seq":5}`), closeBadFrame)},
		{"hello twice", nil, badFrames(1), violation(afterHello, text(`{"type":"hello","v":1}`), closeBadFrame)},
		{"msg before hello", nil, badFrames(1), violation(first, text(msgWithSeq("1")), closeBadFrame)},
		{"hello v 2", nil, versionErrors, violation(first, text(`{"type":"hello","v":2}`), closeProtocolVersion)},
		{"resume of a foreign session", nil, resumeMisses, func(t *testing.T, e *env) string {
			mine := droppedSession(t, e) // a real token, of another session
			out := expectNewSession(t, e, e.bystander.w.Session, mine.ResumeToken, 0)
			e.bystander.alive(t)
			e.bystander.reconnectResume(t, e.s.url())
			return out + "; the real session resumes"
		}},
		{"resume with a wrong token", nil, resumeMisses, func(t *testing.T, e *env) string {
			out := expectNewSession(t, e, e.bystander.w.Session, "rt-not-the-token", 0)
			e.bystander.alive(t)
			e.bystander.reconnectResume(t, e.s.url())
			return out + "; the real session resumes"
		}},
		{"resume with last_seq beyond what was sent", nil, resumeMisses, func(t *testing.T, e *env) string {
			mine := droppedSession(t, e)
			return expectNewSession(t, e, mine.Session, mine.ResumeToken, 1000)
		}},
		{"5,000 connections that never send hello", nil, badFrames(5000), neverHello(5000)},
		{"a client that never reads", []string{"--replay-buffer", "256"}, slowDrops, neverReads},
	}
}

// neverHello: n upgraded connections that send nothing. The server's hello
// timeout must close every one (docs/protocol.md is silent on the code; this
// table requires 4008 bad_frame, as chat-server sends) and free it.
func neverHello(n int) func(*testing.T, *env) string {
	return func(t *testing.T, e *env) string {
		raiseFdLimit(t)
		var mu sync.Mutex
		codes := map[string]int{}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64) // dials in flight
		for i := 0; i < n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				c, _, err := dialer().Dial(e.s.url(), nil)
				<-sem
				key := ""
				if err != nil {
					key = "dial failed: " + err.Error()
				} else {
					end := readUntilEnd(c, 60*time.Second)
					_ = c.Close()
					key = end.String()
				}
				mu.Lock()
				codes[key]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		want := ending{code: closeBadFrame, errorCode: "bad_frame"}.String()
		if codes[want] != n {
			t.Errorf("of %d connections without hello, %d ended with %q; all endings: %v", n, codes[want], want, codes)
		}
		return summarize(codes)
	}
}

func summarize(codes map[string]int) string {
	var parts []string
	for k, v := range codes {
		parts = append(parts, fmt.Sprintf("%d x %s", v, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// neverReads: a client reads its welcome, then sends 8,192 msgs of 16 KiB
// (128 MiB; the echo server answers each) and never reads again. The server's
// memory must stay bounded (peak RSS within 64 MiB of the baseline: the replay
// buffer is 256 msgs, 4 MiB), and it must end that connection, not buffer
// without bound; the session is then gone (a resume gets resumed:false).
func neverReads(t *testing.T, e *env) string {
	rss0, _ := e.s.memory()
	c := dialSmallBuffers(t, e.s.url(), 32<<10)
	defer c.Close()
	w := hello(t, c, nil)
	pad := strings.Repeat("p", 16<<10)
	sent := 0
	var werr error
	for ; sent < 8192; sent++ {
		if werr = writeText(c, fmt.Sprintf(`{"type":"msg","seq":%d,"id":"nr-%d","data":{"pad":%q}}`, sent+1, sent+1, pad)); werr != nil {
			break
		}
	}
	// What the socket holds now comes out, then how the server ended it.
	end := readUntilEnd(c, 30*time.Second)
	if end.err != nil {
		t.Errorf("the server still holds the connection of a client that never read (%d msgs sent): %v", sent, end)
	}
	_, hwm := e.s.memory()
	bound := int64(64 << 20)
	// A sanitizer build's allocator keeps freed buffers in quarantine (ASan:
	// 256 MiB), so its RSS says nothing about this bound; .ci/test.sh raises it
	// there, and the normal stage checks the 64 MiB.
	if v, err := strconv.Atoi(os.Getenv("TETHER_HOSTILE_RSS_BOUND_MIB")); err == nil && v > 0 {
		bound = int64(v) << 20
	}
	if hwm-rss0 > bound {
		t.Errorf("server peak RSS grew by %d MiB (bound %d MiB)", (hwm-rss0)>>20, bound>>20)
	}
	// The session that fell behind is over: its resume starts a new one.
	expectNewSession(t, e, w.Session, w.ResumeToken, 0)
	how := end.String()
	if end.code == closeAbnormal {
		how = "dropped (TCP closed without a close frame: 1006 at the client)"
	}
	return fmt.Sprintf("%s after %d msgs written (write error: %v); peak RSS +%d MiB; resume: resumed:false",
		how, sent, werr, (hwm-rss0)>>20)
}

func raiseFdLimit(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Cur < 12000 {
		t.Skipf("RLIMIT_NOFILE hard limit %d: too low for 5,000 connections (client and server side)", l.Max)
	}
}

var (
	resultsMu sync.Mutex
	results   []string
)

func TestHostileClients(t *testing.T) {
	path := serverPath(t)
	raiseFdLimit(t) // before any server starts: it inherits the limit
	for _, r := range rows() {
		r := r
		t.Run(strings.ReplaceAll(r.name, " ", "_"), func(t *testing.T) {
			if os.Getenv("TETHER_HOSTILE_ONLY") != "" && !strings.Contains(r.name, os.Getenv("TETHER_HOSTILE_ONLY")) {
				t.Skip("TETHER_HOSTILE_ONLY")
			}
			if why, ok := chatServerDeviations[r.name]; ok && isReference(path) {
				resultsMu.Lock()
				results = append(results, fmt.Sprintf("| KNOWN | %s | %s | |", r.name, why))
				resultsMu.Unlock()
				t.Skip("chat-server deviates from docs/protocol.md here: " + why)
			}
			runRow(t, path, r)
		})
	}
	resultsMu.Lock()
	defer resultsMu.Unlock()
	fmt.Printf("\nhostile-client table against %s:\n", path)
	for _, l := range results {
		fmt.Println(l)
	}
}

func runRow(t *testing.T, path string, r row) {
	s := startServer(t, append([]string{"--echo"}, r.args...)...)
	e := &env{s: s, bystander: newPeer(t, s.url(), nil)}
	e.bystander.roundTrip(t, true)

	fds0 := s.fds()
	var before map[string]float64
	goroutines0 := math.NaN() // stays NaN without go_goroutines
	if !s.reference {
		var err error
		if before, err = s.metrics(); err != nil {
			t.Fatalf("scrape: %v", err)
		}
		var ok bool
		if goroutines0, ok = s.goroutines(t); !ok {
			goroutines0 = math.NaN()
			t.Errorf("/metrics has no go_goroutines: the goroutine-leak check cannot run")
		}
	}

	what := r.run(t, e)

	e.bystander.alive(t)
	e.bystander.roundTrip(t, true)
	s.checkNoPanic(t)
	if !eventually(20*time.Second, func() bool { return s.fds() <= fds0 }) {
		t.Errorf("descriptors: %d open, baseline %d (a connection was not freed)", s.fds(), fds0)
	}
	delta := 0.0
	if !s.reference {
		now := func() float64 { v, _ := s.goroutines(t); return v }
		if !math.IsNaN(goroutines0) && !eventually(20*time.Second, func() bool { return now() <= goroutines0 }) {
			t.Errorf("go_goroutines %v, baseline %v: goroutine leak", now(), goroutines0)
		}
		after, err := s.metrics()
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		if !hasMetric(after, r.counter.gin) {
			t.Errorf("/metrics has no %s", r.counter.gin)
		}
		delta = sum(after, r.counter.gin, r.counter.ginLabels...) - sum(before, r.counter.gin, r.counter.ginLabels...)
	}
	e.bystander.bye()
	s.stop(t)
	counterName := r.counter.chat
	if s.reference {
		delta = s.exitStats[r.counter.chat]
		if r.counter.chat != "" && len(s.exitStats) == 0 {
			t.Errorf("no stats line on stderr")
		}
	} else {
		counterName = r.counter.gin + "{" + strings.Join(r.counter.ginLabels, ",") + "}"
	}
	switch {
	case counterName == "":
		counterName = "(none kept)"
	case delta < r.counter.min:
		t.Errorf("counter %s moved by %v, want at least %v", counterName, delta, r.counter.min)
	}
	status := "PASS"
	if t.Failed() {
		status = "FAIL"
	}
	resultsMu.Lock()
	results = append(results, fmt.Sprintf("| %s | %s | %s | %s +%v |", status, r.name, what, counterName, delta))
	resultsMu.Unlock()
}

func hasMetric(m map[string]float64, name string) bool {
	for series := range m {
		if n, _, _ := strings.Cut(series, "{"); n == name {
			return true
		}
	}
	return false
}

// tether-gin-server's series for the counters above.
const (
	ginProtocolErrors = "tether_protocol_errors_total" // {code="bad_frame"|"protocol_version"|"message_too_big"|...}
	ginSessionsLost   = "tether_sessions_lost_total"   // resumes answered resumed:false
	ginWindowOverruns = "tether_window_overruns_total" // connections dropped: owed msgs left the replay buffer
)
