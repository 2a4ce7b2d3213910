package hostile

// The server under test as a child process: started with chat-server's
// command line (--port 0 prints "listening on HOST:PORT"), observed from
// outside (/metrics when it has one, /proc/PID for descriptors and memory,
// stderr for panics and chat-server's exit stats), stopped with SIGTERM.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverPath is the binary under test: $TETHER_TEST_SERVER.
func serverPath(t *testing.T) string {
	p := os.Getenv("TETHER_TEST_SERVER")
	if p == "" {
		t.Skip("TETHER_TEST_SERVER is not set")
	}
	return p
}

// isReference: the C++ reference chat-server (no /metrics; stats on exit).
func isReference(path string) bool { return filepath.Base(path) == "chat-server" }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type server struct {
	t         *testing.T
	path      string
	reference bool
	cmd       *exec.Cmd
	addr      string
	stderr    *lockedBuffer
	exited    chan struct{}
	exitErr   error
	exitStats map[string]float64 // chat-server's "stats" line, after stop()
}

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	path := serverPath(t)
	s := &server{t: t, path: path, reference: isReference(path), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	all := append([]string{"--host", "127.0.0.1", "--port", "0", "--verbose"}, args...)
	s.cmd = exec.Command(path, all...)
	s.cmd.Stderr = s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, "listening on ") {
			t.Fatalf("%s: unexpected first line %q; stderr:\n%s", path, line, s.stderr.String())
		}
		s.addr = strings.TrimPrefix(line, "listening on ")
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not print its port in 10 s; stderr:\n%s", path, s.stderr.String())
	}
	return s
}

func (s *server) url() string { return "ws://" + s.addr + "/ws" }

func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// checkNoPanic fails the test if the server died or wrote a Go panic or a
// data race report.
func (s *server) checkNoPanic(t *testing.T) {
	t.Helper()
	if !s.running() {
		t.Errorf("server exited during the row (%v); stderr tail:\n%s", s.exitErr, tail(s.stderr.String(), 30))
	}
	e := s.stderr.String()
	for _, bad := range []string{"panic:", "panicked", "panic recovered", "[Recovery]", "fatal error:", "WARNING: DATA RACE",
		"AddressSanitizer", "runtime error:"} {
		if strings.Contains(e, bad) {
			t.Errorf("server stderr has %q:\n%s", bad, tail(e, 40))
		}
	}
}

// stop: SIGTERM, wait (bounded), parse chat-server's exit stats.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("server did not exit within 15 s of SIGTERM")
	}
	if s.exitErr != nil {
		t.Errorf("server exit after SIGTERM: %v; stderr tail:\n%s", s.exitErr, tail(s.stderr.String(), 30))
	}
	s.exitStats = parseChatStats(s.stderr.String())
}

// parseChatStats reads "chat-server: stats k=v k=v ..." (chat-server --verbose).
func parseChatStats(stderr string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(stderr, "\n") {
		i := strings.Index(line, "chat-server: stats ")
		if i < 0 {
			continue
		}
		for _, kv := range strings.Fields(line[i+len("chat-server: stats "):]) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					out[k] = f
				}
			}
		}
	}
	return out
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// metrics scrapes /metrics (Prometheus text format) into series -> value,
// keyed by the series as written ("name" or `name{a="b"}`).
func (s *server) metrics() (map[string]float64, error) {
	resp, err := scrapeClient.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// sum adds every series of metric `name` whose labels contain all of `labels`
// (each `k="v"`).
func sum(m map[string]float64, name string, labels ...string) float64 {
	total := 0.0
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// goroutines reads go_goroutines from /metrics; ok is false when the server
// does not export it.
func (s *server) goroutines(t *testing.T) (v float64, ok bool) {
	t.Helper()
	m, err := s.metrics()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	v, ok = m["go_goroutines"]
	return v, ok
}

// fds counts the server's open descriptors.
func (s *server) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// memory returns VmRSS and VmHWM (peak RSS) in bytes.
func (s *server) memory() (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024
		case "VmHWM:":
			hwm = kb * 1024
		}
	}
	return rss, hwm
}

// eventually polls cond until it holds or `within` passes.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
