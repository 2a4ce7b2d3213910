package tether

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Stats are the server's counters: the one place they live. /metrics
// exposes them (Server.MetricsHandler) and tests read them (Server.Stats).
//
// Thread safety: updated with atomics from any goroutine.
type Stats struct {
	ConnectionsTotal  atomic.Uint64
	ConnectionsOpen   atomic.Int64
	SessionsCreated   atomic.Uint64
	SessionsEnded     atomic.Uint64 // bye, expired, replaced (unreplayable resume)
	SessionsExpired   atomic.Uint64
	Resumes           atomic.Uint64 // welcome resumed:true
	ResumeMisses      atomic.Uint64 // a resume answered resumed:false (the client reports session_lost)
	Takeovers         atomic.Uint64
	StaleSuperseded   atomic.Uint64 // resumed with the previous token over a stale hello (§5)
	AuthFailures      atomic.Uint64
	UnknownFrames     atomic.Uint64
	MsgsIn            atomic.Uint64 // client msgs committed (handler ran)
	DuplicatesBySeq   atomic.Uint64
	DuplicatesByID    atomic.Uint64
	MsgsOut           atomic.Uint64 // server msg frames written (first sends and replays)
	MsgsReplayed      atomic.Uint64
	AcksOut           atomic.Uint64
	HandlerErrors     atomic.Uint64
	LivenessTimeouts  atomic.Uint64
	WindowOverruns    atomic.Uint64 // connections dropped: msgs they were owed were evicted unsent
	UpgradesRejected  atomic.Uint64 // refused with 503/429 (and the command's scripted rejections)
	ShutdownCloses    atomic.Uint64 // connections closed 1012 by a graceful shutdown
	DeferredByDrain   atomic.Uint64 // client msgs left unprocessed (and unacked) while draining
	protocolErrorsMu  sync.Mutex
	protocolErrorsMap map[string]uint64
}

func (s *Stats) protocolError(code string) {
	s.protocolErrorsMu.Lock()
	if s.protocolErrorsMap == nil {
		s.protocolErrorsMap = make(map[string]uint64)
	}
	s.protocolErrorsMap[code]++
	s.protocolErrorsMu.Unlock()
}

// ProtocolErrors returns the connections ended for a protocol error, by the
// code sent (bad_frame, protocol_version, unauthorized, token_expired,
// forbidden, server_busy) or, for WebSocket-level closes, invalid_utf8
// (1007) and message_too_big (1009).
func (s *Stats) ProtocolErrors() map[string]uint64 {
	s.protocolErrorsMu.Lock()
	defer s.protocolErrorsMu.Unlock()
	out := make(map[string]uint64, len(s.protocolErrorsMap))
	for k, v := range s.protocolErrorsMap {
		out[k] = v
	}
	return out
}

// String is one line for logs.
func (s *Stats) String() string {
	return fmt.Sprintf("connections=%d sessions=%d resumes=%d resume_misses=%d takeovers=%d auth_failures=%d "+
		"msgs_in=%d dup_seq=%d dup_id=%d msgs_out=%d replayed=%d expired=%d liveness_timeouts=%d "+
		"window_overruns=%d upgrades_rejected=%d protocol_errors=%v",
		s.ConnectionsTotal.Load(), s.SessionsCreated.Load(), s.Resumes.Load(), s.ResumeMisses.Load(),
		s.Takeovers.Load(), s.AuthFailures.Load(), s.MsgsIn.Load(), s.DuplicatesBySeq.Load(),
		s.DuplicatesByID.Load(), s.MsgsOut.Load(), s.MsgsReplayed.Load(), s.SessionsExpired.Load(),
		s.LivenessTimeouts.Load(), s.WindowOverruns.Load(), s.UpgradesRejected.Load(), s.ProtocolErrors())
}

// collector exposes Stats (and the store's gauges, when it has them) to
// Prometheus as const metrics at scrape time.
type collector struct {
	srv *Server
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("tether_"+name, help, labels, nil)
}

var (
	descConnections     = desc("connections", "WebSocket connections open")
	descConnectionsTot  = desc("connections_total", "WebSocket connections accepted")
	descSessions        = desc("sessions", "sessions held by the store")
	descSessionsCreated = desc("sessions_created_total", "sessions created")
	descSessionsEnded   = desc("sessions_ended_total", "sessions ended (bye, expired, replaced)")
	descSessionsExpired = desc("sessions_expired_total", "sessions whose TTL ran out")
	descResumes         = desc("resumes_total", "resumes answered resumed:true")
	descSessionsLost    = desc("sessions_lost_total", "resumes answered resumed:false (the client reports session_lost)")
	descTakeovers       = desc("takeovers_total", "attached connections closed 4009 by a resume")
	descDuplicates      = desc("duplicates_dropped_total", "client msgs not processed again", "by")
	descProtocolErrors  = desc("protocol_errors_total", "connections ended for a protocol or auth error", "code")
	descReplayDepth     = desc("replay_buffer_msgs", "server msgs held in replay buffers")
	descMsgsIn          = desc("messages_in_total", "client msgs processed")
	descMsgsOut         = desc("messages_out_total", "server msg frames written, replays included")
	descAcksOut         = desc("acks_out_total", "ack frames written")
	descUnknown         = desc("unknown_frames_total", "client frames of unknown type, ignored")
	descLiveness        = desc("liveness_timeouts_total", "connections dropped after 2 x heartbeat of silence")
	descOverruns        = desc("window_overruns_total", "connections dropped: msgs they were owed left the replay buffer")
	descRejected        = desc("upgrades_rejected_total", "upgrades refused with an HTTP status")
	descHandlerErrors   = desc("handler_errors_total", "message handler errors reported in-band")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descConnectionsTot, descSessions, descSessionsCreated,
		descSessionsEnded, descSessionsExpired, descResumes, descSessionsLost, descTakeovers, descDuplicates,
		descProtocolErrors, descReplayDepth, descMsgsIn, descMsgsOut, descAcksOut, descUnknown, descLiveness,
		descOverruns, descRejected, descHandlerErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := &c.srv.stats
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(descConnections, float64(s.ConnectionsOpen.Load()))
	counter(descConnectionsTot, s.ConnectionsTotal.Load())
	if g, ok := c.srv.store.(interface{ Sessions() int }); ok {
		gauge(descSessions, float64(g.Sessions()))
	}
	if g, ok := c.srv.store.(interface{ ReplayDepth() int }); ok {
		gauge(descReplayDepth, float64(g.ReplayDepth()))
	}
	counter(descSessionsCreated, s.SessionsCreated.Load())
	counter(descSessionsEnded, s.SessionsEnded.Load())
	counter(descSessionsExpired, s.SessionsExpired.Load())
	counter(descResumes, s.Resumes.Load())
	counter(descSessionsLost, s.ResumeMisses.Load())
	counter(descTakeovers, s.Takeovers.Load())
	counter(descDuplicates, s.DuplicatesBySeq.Load(), "seq")
	counter(descDuplicates, s.DuplicatesByID.Load(), "id")
	errs := s.ProtocolErrors()
	codes := make([]string, 0, len(errs))
	for code := range errs {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		counter(descProtocolErrors, errs[code], code)
	}
	counter(descMsgsIn, s.MsgsIn.Load())
	counter(descMsgsOut, s.MsgsOut.Load())
	counter(descAcksOut, s.AcksOut.Load())
	counter(descUnknown, s.UnknownFrames.Load())
	counter(descLiveness, s.LivenessTimeouts.Load())
	counter(descOverruns, s.WindowOverruns.Load())
	counter(descRejected, s.UpgradesRejected.Load())
	counter(descHandlerErrors, s.HandlerErrors.Load())
}

// MetricsHandler serves the server's metrics in the Prometheus text format,
// from a registry of its own (so several servers can live in one process).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// Logger writes structured logs as JSON lines: {"ts":..,"level":..,"msg":..,
// key: value...}. Debug lines are written only when Verbose is set.
//
// Thread safety: safe for concurrent use; each line is one Write.
type Logger struct {
	mu      sync.Mutex
	w       io.Writer
	Verbose bool
}

// NewLogger writes to w (os.Stderr when nil).
func NewLogger(w io.Writer, verbose bool) *Logger {
	if w == nil {
		w = os.Stderr
	}
	return &Logger{w: w, Verbose: verbose}
}

// Info logs msg with key/value pairs.
func (l *Logger) Info(msg string, kv ...interface{}) { l.log("info", msg, kv) }

// Warn logs msg with key/value pairs.
func (l *Logger) Warn(msg string, kv ...interface{}) { l.log("warn", msg, kv) }

// Debug logs msg with key/value pairs when Verbose is set.
func (l *Logger) Debug(msg string, kv ...interface{}) {
	if l != nil && l.Verbose {
		l.log("debug", msg, kv)
	}
}

func (l *Logger) log(level, msg string, kv []interface{}) {
	if l == nil {
		return
	}
	line := make(map[string]interface{}, 3+len(kv)/2)
	line["ts"] = time.Now().UTC().Format(time.RFC3339Nano)
	line["level"] = level
	line["msg"] = msg
	for i := 0; i+1 < len(kv); i += 2 {
		key := fmt.Sprint(kv[i])
		if err, ok := kv[i+1].(error); ok {
			line[key] = err.Error()
		} else {
			line[key] = kv[i+1]
		}
	}
	b, err := json.Marshal(line)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"level":"error","msg":"log line not encodable: %q"}`, msg))
	}
	b = append(b, '\n')
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
}
