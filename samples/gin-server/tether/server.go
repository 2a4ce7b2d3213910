// Package tether is the server half of the tether.v1 protocol
// (docs/protocol.md) for Go services built on net/http or Gin with
// gorilla/websocket: sessions that outlive connections, resume with rotated
// tokens, takeover, replay of unacked msgs, acks, heartbeats, id dedupe,
// rooms, graceful shutdown and Prometheus metrics. docs/gin-server.md shows
// how to embed it.
//
// Theory of operation
//   - A Store holds every fact about a session that must outlive a
//     connection; each Store method is one atomic step (store.go). The
//     default is a MemoryStore.
//   - Each connection has exactly two goroutines: the read pump (the HTTP
//     handler's goroutine) decodes frames and runs the protocol (hub.go: the
//     one place that changes session state, through the Store), and the write
//     pump (conn.go) writes the welcome, acks, pings, errors and closes, and
//     takes server msgs from the session's replay buffer in the Store when the
//     socket has taken the previous ones. There is no send channel to
//     overflow: a slow reader is paced by its socket, and memory is bounded
//     by the replay buffer.
//   - Anything that appends server msgs (the handler's effects, Send,
//     Broadcast, pushes) goes through the Store, then wakes the attached
//     connections of the sessions it touched.
//
// Thread safety: a Server's methods may be called from any goroutine.
package tether

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Subprotocol is the WebSocket subprotocol the server selects.
const Subprotocol = "tether.v1"

// Error codes of error frames (docs/protocol.md §2.2).
const (
	codeUnauthorized    = "unauthorized"
	codeTokenExpired    = "token_expired"
	codeForbidden       = "forbidden"
	codeBadFrame        = "bad_frame"
	codeTakenOver       = "session_taken_over"
	codeServerBusy      = "server_busy"
	codeRateLimited     = "rate_limited"
	codeProtocolVersion = "protocol_version"
)

// Close codes (docs/protocol.md §2.2 and §8).
const (
	closeNormal         = 1000
	closeProtocolError  = 1002
	closeInvalidPayload = 1007
	closeServiceRestart = 1012
	closeTryAgainLater  = 1013
	closeUnauthorized   = 4001
	closeTokenExpired   = 4002
	closeForbidden      = 4003
	closeBadFrame       = 4008
	closeTakenOver      = 4009
)

// closeCodeOf maps an error code to its close code: the table of §2.2.
var closeCodeOf = map[string]int{
	codeUnauthorized:    closeUnauthorized,
	codeTokenExpired:    closeTokenExpired,
	codeForbidden:       closeForbidden,
	codeBadFrame:        closeBadFrame,
	codeTakenOver:       closeTakenOver,
	codeServerBusy:      closeTryAgainLater,
	codeRateLimited:     closeTryAgainLater,
	codeProtocolVersion: closeProtocolError,
}

// AuthError is what Authenticate returns to refuse a client. Code is one of
// "unauthorized", "token_expired" or "forbidden"; any other error counts as
// unauthorized.
type AuthError struct {
	Code    string
	Message string
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Message }

// The refusals Authenticate may return (or build its own AuthError).
var (
	ErrUnauthorized = &AuthError{Code: codeUnauthorized, Message: "unknown token"}
	ErrTokenExpired = &AuthError{Code: codeTokenExpired, Message: "token expired"}
	ErrForbidden    = &AuthError{Code: codeForbidden, Message: "forbidden"}
)

// SessionInfo names a session to the application's hooks.
type SessionInfo struct {
	ID       string
	Identity string // what Authenticate returned (the token when there is no Authenticate)
	Resumed  bool
}

// EndReason says why a session ended.
type EndReason string

// Why sessions end.
const (
	EndBye      EndReason = "bye"      // the client closed it
	EndExpired  EndReason = "expired"  // detached for longer than the session TTL
	EndReplaced EndReason = "replaced" // its owner resumed but the replay was gone: a new session replaces it
)

// Message is one client msg given to the handler.
type Message struct {
	Session  SessionInfo
	ID       string          // the client's idempotency key
	Seq      uint64          // client → server seq
	Data     json.RawMessage // the payload, valid JSON
	Received time.Time
}

// Handler processes one client msg. Its effects (replies, sends, room
// changes) go through ctx and are committed atomically with the msg. A
// returned error is reported to the sender in-band, as a server msg
// {"error": err.Error()} carrying the client's id; the session goes on. The
// handler runs once per client id while the id is in the dedupe window; it
// runs on the connection's read goroutine, so a slow handler slows only that
// connection.
type Handler func(ctx *Context, m Message) error

// Config configures a Server. Zero values take the defaults in brackets.
type Config struct {
	Store      Store  // [NewMemoryStore with ReplayMsgs 10000]
	InstanceID string // names this instance as a session owner [random]

	Heartbeat       time.Duration // ping interval; read deadline 2x [15s]; negative: no pings, no deadline
	SessionTTL      time.Duration // how long a detached session can be resumed [60s]
	HelloTimeout    time.Duration // no hello by then: bad_frame, 4008 [10s]
	MaxMessageBytes int64         // inbound message limit; larger: close 1009 [16 MiB]
	AckEvery        int           // ack after this many client msgs [32]
	AckDelay        time.Duration // ... or this long after the first unacked one [50ms]
	WriteTimeout    time.Duration // a write that takes longer drops the connection [max(2 x Heartbeat, 10s)]
	DrainTimeout    time.Duration // Shutdown: how long connections may take to get their replay acked [5s]
	ReadBatch       int           // server msgs the write pump takes from the store per read [256]

	// Authenticate checks a token: hello.token, or the Bearer token at the
	// upgrade when AuthenticateAtUpgrade is set (then a refusal is HTTP 401,
	// which the SDK treats as final; in hello it can be token_expired, which
	// makes the client refresh). It returns the client's identity, which keys
	// the id-dedupe window. nil: everyone is welcome, identity = the token.
	Authenticate          func(token string, r *http.Request) (identity string, err error)
	AuthenticateAtUpgrade bool

	OnMessage      Handler                      // [drop msgs: they are acked and nothing else]
	OnSessionStart func(SessionInfo)            // a new session (resumed:false); not for resumes
	OnSessionEnd   func(SessionInfo, EndReason) // bye, expiry, replaced
	OnResume       func(SessionInfo)            // a session resumed (resumed:true)
	Logger         *Logger                      // [JSON lines on stderr, no debug]
	Registerer     prometheus.Registerer        // also register the metrics here [only the server's own registry]
	PushInterval   time.Duration                // send {"push": k} to every session every interval [off]
	MaxConnections int                          // more upgrades get 503 + Retry-After [no limit]
	MaxSessions    int                          // a hello for a new session beyond this gets server_busy [no limit]
	RetryAfter     time.Duration                // the wait those refusals ask for [1s]
	Origins        []string                     // allowed Origin values besides same-origin, e.g. "https://app.example"
	AllowAnyOrigin bool                         // accept every Origin (cross-site pages too): only on purpose
	CheckOrigin    func(r *http.Request) bool   // replaces the Origin policy entirely
	Upgrader       func(u *websocket.Upgrader)  // adjust buffer sizes, compression
	Now            func() time.Time             // [time.Now]
	NewSecret      func() (string, error)       // session ids and resume tokens [128 bits of crypto/rand, hex]
}

// Server is a tether.v1 endpoint. Mount ServeHTTP (or GinHandler) on the
// WebSocket path; call Shutdown (graceful) or Close when done.
type Server struct {
	cfg      Config
	store    Store
	upgrader websocket.Upgrader
	log      *Logger
	registry *prometheus.Registry
	stats    Stats

	mu       sync.Mutex
	conns    map[*conn]struct{}
	attached map[string]*conn  // session id -> its connection on this instance
	owned    map[string]*owned // sessions this instance created or resumed
	draining bool
	drainBy  time.Time
	connWG   sync.WaitGroup
	stop     chan struct{}
	bgWG     sync.WaitGroup
	closed   bool
}

type owned struct {
	pushes uint64
}

// New returns a running Server (its sweeper and pusher goroutines start now;
// Close or Shutdown stops them).
func New(cfg Config) (*Server, error) {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 60 * time.Second
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 16 << 20
	}
	if cfg.AckEvery <= 0 {
		cfg.AckEvery = 32
	}
	if cfg.AckDelay <= 0 {
		cfg.AckDelay = 50 * time.Millisecond
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
		if 2*cfg.Heartbeat > cfg.WriteTimeout {
			cfg.WriteTimeout = 2 * cfg.Heartbeat
		}
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.ReadBatch <= 0 {
		cfg.ReadBatch = 256
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewSecret == nil {
		cfg.NewSecret = randomSecret
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore(MemoryOptions{Now: cfg.Now, DedupeTTL: maxDuration(10*time.Minute, cfg.SessionTTL)})
	}
	if cfg.Logger == nil {
		cfg.Logger = NewLogger(nil, false)
	}
	if cfg.InstanceID == "" {
		id, err := cfg.NewSecret()
		if err != nil {
			return nil, err
		}
		cfg.InstanceID = id[:12]
	}
	s := &Server{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		registry: prometheus.NewRegistry(),
		conns:    make(map[*conn]struct{}),
		attached: make(map[string]*conn),
		owned:    make(map[string]*owned),
		stop:     make(chan struct{}),
	}
	s.upgrader = websocket.Upgrader{
		Subprotocols:     []string{Subprotocol},
		HandshakeTimeout: 10 * time.Second,
		// Idle connections hold no write buffer: it returns to the pool
		// after each message.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	if cfg.Upgrader != nil {
		cfg.Upgrader(&s.upgrader)
	}
	c := collector{srv: s}
	// The server's own registry also has the runtime's go_* (goroutines,
	// memory) and process_* metrics; a Registerer gets only ours.
	s.registry.MustRegister(c, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, err
		}
	}
	s.bgWG.Add(1)
	go s.tick(s.sweepInterval(), s.sweep)
	if cfg.PushInterval > 0 {
		s.bgWG.Add(1)
		go s.tick(cfg.PushInterval, s.push)
	}
	return s, nil
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// randomSecret is 128 bits from crypto/rand, hex.
func randomSecret() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Stats returns the live counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Store returns the store the server uses.
func (s *Server) Store() Store { return s.store }

// GinHandler mounts the server in a Gin router: r.GET("/ws", srv.GinHandler()).
func (s *Server) GinHandler() gin.HandlerFunc {
	return func(c *gin.Context) { s.ServeHTTP(c.Writer, c.Request) }
}

type identityKey struct{}

// UpgradeAuth is Gin middleware that checks "Authorization: Bearer <token>"
// with Config.Authenticate before the upgrade and answers 401 (403 for
// ErrForbidden) when it refuses. Use it in front of GinHandler when
// AuthenticateAtUpgrade is set; ServeHTTP does the same check by itself for
// plain net/http.
func (s *Server) UpgradeAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		identity, status := s.authenticateUpgrade(c.Request)
		if status != 0 {
			c.Header("WWW-Authenticate", "Bearer")
			c.AbortWithStatus(status)
			return
		}
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), identityKey{}, identity))
		c.Next()
	}
}

func (s *Server) authenticateUpgrade(r *http.Request) (identity string, status int) {
	if id, ok := r.Context().Value(identityKey{}).(string); ok {
		return id, 0
	}
	header := r.Header.Get("Authorization")
	token := strings.TrimPrefix(header, "Bearer ")
	if token == header {
		s.stats.AuthFailures.Add(1)
		return "", http.StatusUnauthorized
	}
	if s.cfg.Authenticate == nil {
		return token, 0
	}
	identity, err := s.cfg.Authenticate(token, r)
	if err != nil {
		s.stats.AuthFailures.Add(1)
		var ae *AuthError
		if errors.As(err, &ae) && ae.Code == codeForbidden {
			return "", http.StatusForbidden
		}
		return "", http.StatusUnauthorized
	}
	return identity, 0
}

// ServeHTTP upgrades the request and runs the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "WebSocket endpoint (subprotocol tether.v1)", http.StatusUpgradeRequired)
		return
	}
	s.mu.Lock()
	busy := s.draining || s.closed || (s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections)
	s.mu.Unlock()
	if busy {
		s.Refuse(w, http.StatusServiceUnavailable, s.cfg.RetryAfter)
		return
	}
	identity, upgradeAuthed := "", false
	if s.cfg.AuthenticateAtUpgrade {
		var status int
		identity, status = s.authenticateUpgrade(r)
		if status != 0 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, http.StatusText(status), status)
			return
		}
		upgradeAuthed = true
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := newConn(s, ws, r, identity, upgradeAuthed)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	draining := s.draining
	s.mu.Unlock()
	s.stats.ConnectionsTotal.Add(1)
	s.stats.ConnectionsOpen.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.stats.ConnectionsOpen.Add(-1)
		s.connWG.Done()
	}()
	if draining {
		c.requestClose(closeServiceRestart, "service restart", nil)
	}
	c.run()
}

// Refuse answers an upgrade with status (503 or 429) and Retry-After, which
// the SDK honours as a floor for its backoff. Cheaper than accepting and then
// sending server_busy.
func (s *Server) Refuse(w http.ResponseWriter, status int, retryAfter time.Duration) {
	s.stats.UpgradesRejected.Add(1)
	if retryAfter > 0 {
		secs := int((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	http.Error(w, http.StatusText(status), status)
}

// checkOrigin: no Origin header (native clients) or the request's own host
// passes; so do Config.Origins; everything else is refused (403), unless
// AllowAnyOrigin. This closes cross-site WebSocket hijacking.
func (s *Server) checkOrigin(r *http.Request) bool {
	if s.cfg.CheckOrigin != nil {
		return s.cfg.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" || s.cfg.AllowAnyOrigin {
		return true
	}
	for _, o := range s.cfg.Origins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// Healthz answers 200 "ok" while the server accepts connections and 503
// while it drains, for load-balancer probes.
func (s *Server) Healthz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	down := s.draining || s.closed
	s.mu.Unlock()
	if down {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// ---- application API outside a handler

// Send appends a server msg to the session (its replay buffer: delivered
// when attached, replayed on resume). ErrNotFound if there is no such session.
func (s *Server) Send(sessionID string, data interface{}) error {
	res, err := s.appendData(Effect{Kind: EffectSend, Session: sessionID}, data)
	if err == nil && len(res.Touched) == 0 {
		err = ErrNotFound
	}
	return err
}

// Broadcast appends a server msg to every member of room.
func (s *Server) Broadcast(room string, data interface{}) error {
	_, err := s.appendData(Effect{Kind: EffectBroadcast, Room: room}, data)
	return err
}

// appendData encodes data into e, appends it and wakes its recipients.
func (s *Server) appendData(e Effect, data interface{}) (AppendResult, error) {
	raw, err := encodeData(data)
	if err != nil {
		return AppendResult{}, err
	}
	e.Data = raw
	res, err := s.store.Append(context.Background(), []Effect{e})
	if err != nil {
		return res, err
	}
	s.wake(res)
	return res, nil
}

// Join adds the session to room; membership survives resume and ends with
// the session.
func (s *Server) Join(sessionID, room string) error {
	_, err := s.store.Append(context.Background(), []Effect{{Kind: EffectJoin, Session: sessionID, Room: room}})
	return err
}

// Leave removes the session from room.
func (s *Server) Leave(sessionID, room string) error {
	_, err := s.store.Append(context.Background(), []Effect{{Kind: EffectLeave, Session: sessionID, Room: room}})
	return err
}

// encodeData turns an application payload into JSON: json.RawMessage and
// []byte are taken as JSON text (and must be valid), anything else is
// marshalled.
func encodeData(data interface{}) (json.RawMessage, error) {
	var raw []byte
	switch d := data.(type) {
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	default:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	if !json.Valid(raw) {
		return nil, errors.New("tether: data is not valid JSON")
	}
	return compactJSON(append(json.RawMessage(nil), raw...)), nil
}

// Notify wakes the connections attached here to these sessions, so they
// look at the store again: for a shared store whose other instances appended
// msgs (or took a session over: the woken connection then finds itself
// fenced and closes with 4009). Cheap when nothing changed.
func (s *Server) Notify(sessionIDs ...string) {
	s.mu.Lock()
	for _, id := range sessionIDs {
		if c := s.attached[id]; c != nil {
			c.wakeup()
		}
	}
	s.mu.Unlock()
}

// wake tells the attached connections of touched sessions that msgs wait.
func (s *Server) wake(res AppendResult) {
	if len(res.Touched) == 0 {
		return
	}
	var overrun []*conn
	var overrunIDs []string
	s.mu.Lock()
	for _, t := range res.Touched {
		if c := s.attached[t.Session]; c != nil {
			if c.owedEvicted(t.ReplayFirst) {
				overrun = append(overrun, c)
				overrunIDs = append(overrunIDs, t.Session)
			}
			c.wakeup()
		}
	}
	s.mu.Unlock()
	// The replay buffer is the send queue: when msgs a connection was owed
	// leave it unsent (the peer stopped reading), the connection is dropped;
	// its resume then fails and the client gets a new session.
	for i, c := range overrun {
		s.stats.WindowOverruns.Add(1)
		s.log.Debug("msgs owed to the connection were evicted: dropped", "session", overrunIDs[i])
		c.terminate()
	}
}

// ---- lifecycle

// Shutdown is the graceful two-phase close: it stops accepting (new upgrades
// get 503), flushes acks, and closes each connection with 1012 (service
// restart) once everything sent to it has been acked, or when DrainTimeout or
// ctx ends; then it returns, after every connection has ended. The SDK comes
// back without counting a failure.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		s.drainBy = time.Now().Add(s.cfg.DrainTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(s.drainBy) {
			s.drainBy = d
		}
		for c := range s.conns {
			c.startDrain()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Close()
	return err
}

// Close drops every connection at once and stops the background goroutines.
// It returns when they have all ended.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	for c := range s.conns {
		c.ws.Close()
	}
	s.mu.Unlock()
	s.connWG.Wait()
	s.bgWG.Wait()
}

// tick runs fn every interval until Close; it is one of the background
// goroutines (bgWG).
func (s *Server) tick(interval time.Duration, fn func()) {
	defer s.bgWG.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

func (s *Server) sweepInterval() time.Duration {
	every := s.cfg.SessionTTL / 4
	if every > time.Second {
		every = time.Second
	}
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	return every
}

// sweep ends the sessions whose TTL ran out.
func (s *Server) sweep() {
	expired, err := s.store.Sweep(context.Background())
	if err != nil {
		s.log.Warn("sweep failed", "err", err)
	}
	for _, r := range expired {
		s.stats.SessionsExpired.Add(1)
		s.sessionEnded(r, EndExpired)
	}
}

// push sends {"push": k} to every session this instance holds (not while
// draining: the replay must be able to run dry).
func (s *Server) push() {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return
	}
	effects := make([]Effect, 0, len(s.owned))
	for id, o := range s.owned {
		o.pushes++
		data := append(json.RawMessage(`{"push":`), strconv.FormatUint(o.pushes, 10)...)
		effects = append(effects, Effect{Kind: EffectSend, Session: id, Data: append(data, '}')})
	}
	s.mu.Unlock()
	if len(effects) == 0 {
		return
	}
	res, err := s.store.Append(context.Background(), effects)
	if err != nil {
		s.log.Warn("push failed", "err", err)
		return
	}
	s.wake(res)
}

func (s *Server) sessionEnded(r Record, why EndReason) {
	s.stats.SessionsEnded.Add(1)
	s.mu.Lock()
	delete(s.owned, r.ID)
	s.mu.Unlock()
	s.log.Debug("session ended", "session", r.ID, "reason", string(why))
	if s.cfg.OnSessionEnd != nil {
		s.cfg.OnSessionEnd(SessionInfo{ID: r.ID, Identity: r.Identity}, why)
	}
}
