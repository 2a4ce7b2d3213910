// Command tether-gin-server is the reference deployment of the tether Go
// library: a Gin app with the tether.v1 endpoint (echo or rooms), /metrics and
// /healthz. Its flags match chat-server's, so the SDK's tests can run against
// either server.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"tether.dev/gin-server/tether"
)

type options struct {
	host, path, tokens, expiredTokens, tlsCert, tlsKey                 string
	port, rejectStatus                                                 int
	echo, upgradeAuth, verbose, anyOrigin                              bool
	heartbeatMs, sessionTTLMs, pushIntervalMs, helloTimeoutMs, drainMs int64
	replayBuffer, rejectUpgrades, maxSessions, maxConnections, dedupe  int
	retryAfterS                                                        int
	maxMessageBytes, sendWindowBytes                                   int64
}

const usageTail = `The first stdout line is always "listening on <host>:<port>".
Also served: /metrics (Prometheus), /healthz. SIGTERM/SIGINT: graceful shutdown
(stop accepting, flush acks, close each connection 1012 once its replay is acked
or after --drain-ms).
`

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("tether-gin-server", flag.ContinueOnError)
	fs.StringVar(&o.host, "host", "127.0.0.1", "listen address")
	fs.IntVar(&o.port, "port", 8080, "listen port, 0 = ephemeral")
	fs.StringVar(&o.path, "path", "/ws", "WebSocket path (other paths answer 404)")
	fs.StringVar(&o.tokens, "tokens", "", "hello.token must be one of these, comma-separated (default: no auth)")
	fs.StringVar(&o.expiredTokens, "expired-tokens", "", "tokens answered with token_expired (close 4002)")
	fs.BoolVar(&o.upgradeAuth, "upgrade-auth", false, `check "Authorization: Bearer <token>" at the upgrade against --tokens (HTTP 401) instead of hello.token`)
	fs.BoolVar(&o.echo, "echo", false, `echo mode: reply {"echo": data, "id": id} to every msg (default: rooms, {"room": R[, "text": T]})`)
	fs.Int64Var(&o.heartbeatMs, "heartbeat-ms", 15000, "ping interval; silent for 2N -> dropped (0 = off)")
	fs.Int64Var(&o.sessionTTLMs, "session-ttl-ms", 60000, "how long a disconnected session can resume")
	fs.IntVar(&o.replayBuffer, "replay-buffer", 10000, "server msgs kept per session for resume")
	fs.Int64Var(&o.pushIntervalMs, "push-interval-ms", 0, `send {"push": k} to every session every N ms (0 = off)`)
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve wss:// with this PEM certificate chain (with --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.IntVar(&o.rejectUpgrades, "reject-upgrades", 0, "answer the first N upgrades with --reject-status")
	fs.IntVar(&o.rejectStatus, "reject-status", 503, "HTTP status for those")
	fs.IntVar(&o.retryAfterS, "retry-after-s", -1, `add "Retry-After: R" to those`)
	fs.Int64Var(&o.maxMessageBytes, "max-message-bytes", 16<<20, "inbound message limit, larger -> close 1009")
	fs.Int64Var(&o.sendWindowBytes, "send-window-bytes", 4<<20, "accepted for chat-server compatibility; the Go server is paced by its socket")
	fs.BoolVar(&o.verbose, "verbose", false, "debug logs (JSON lines) on stderr, stats on exit")
	fs.Int64Var(&o.helloTimeoutMs, "hello-timeout-ms", 10000, "no hello by then: bad_frame, close 4008")
	fs.Int64Var(&o.drainMs, "drain-ms", 5000, "shutdown: how long connections may take to get their replay acked")
	fs.IntVar(&o.maxConnections, "max-connections", 0, "more upgrades get 503 + Retry-After (0 = no limit)")
	fs.IntVar(&o.maxSessions, "max-sessions", 0, "a hello for a new session beyond this gets server_busy (0 = no limit)")
	fs.IntVar(&o.dedupe, "dedupe-ids", 100000, "client msg ids remembered per identity for dedupe")
	fs.BoolVar(&o.anyOrigin, "allow-any-origin", false, "accept WebSocket upgrades from any Origin (default: same-origin or none)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tether-gin-server [options]")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), usageTail)
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(os.Stdout) // asked for: the usage is the output
		}
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.port < 0 || o.port > 65535:
		return o, errors.New("--port must be in [0, 65535]")
	case !strings.HasPrefix(o.path, "/"):
		return o, errors.New("--path must start with /")
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return o, errors.New("--tls-cert and --tls-key go together")
	case o.upgradeAuth && o.tokens == "":
		return o, errors.New("--upgrade-auth needs --tokens")
	case o.rejectStatus < 300 || o.rejectStatus > 599:
		return o, errors.New("--reject-status must be in [300, 599]")
	case o.heartbeatMs < 0 || o.sessionTTLMs < 0 || o.pushIntervalMs < 0 || o.replayBuffer < 0 || o.maxMessageBytes < 1:
		return o, errors.New("durations and sizes must not be negative")
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// debugLog turns net/http's log lines into debug lines of the logger.
type debugLog struct{ l *tether.Logger }

func (d debugLog) Write(b []byte) (int, error) {
	d.l.Debug("http server", "detail", strings.TrimSpace(string(b)))
	return len(b), nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-gin-server:", err)
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(o, sig, os.Stdout))
}

// run serves until stop delivers a signal, then shuts down gracefully. The
// first line on stdout is "listening on HOST:PORT".
func run(o options, stop <-chan os.Signal, stdout io.Writer) int {
	logger := tether.NewLogger(os.Stderr, o.verbose)
	cfg := tether.Config{
		SessionTTL:      ms(o.sessionTTLMs),
		HelloTimeout:    ms(o.helloTimeoutMs),
		MaxMessageBytes: o.maxMessageBytes,
		PushInterval:    ms(o.pushIntervalMs),
		DrainTimeout:    ms(o.drainMs),
		MaxConnections:  o.maxConnections,
		MaxSessions:     o.maxSessions,
		AllowAnyOrigin:  o.anyOrigin,
		Logger:          logger,
		OnMessage:       tether.RoomsHandler,
	}
	cfg.Heartbeat = ms(o.heartbeatMs)
	if o.heartbeatMs == 0 {
		cfg.Heartbeat = -1
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = time.Millisecond
	}
	if o.echo {
		cfg.OnMessage = tether.EchoHandler
	}
	dedupeTTL := 10 * time.Minute
	if cfg.SessionTTL > dedupeTTL {
		dedupeTTL = cfg.SessionTTL
	}
	replay := o.replayBuffer
	if replay == 0 {
		replay = -1 // keep nothing: every resume after a drop fails
	}
	cfg.Store = tether.NewMemoryStore(tether.MemoryOptions{ReplayMsgs: replay, DedupeIDs: o.dedupe, DedupeTTL: dedupeTTL})
	tokens, expired := splitList(o.tokens), splitList(o.expiredTokens)
	if len(tokens) > 0 || len(expired) > 0 {
		cfg.Authenticate = func(token string, _ *http.Request) (string, error) {
			if contains(expired, token) {
				return "", tether.ErrTokenExpired
			}
			if len(tokens) > 0 && !contains(tokens, token) {
				return "", tether.ErrUnauthorized
			}
			return token, nil
		}
		cfg.AuthenticateAtUpgrade = o.upgradeAuth
	}
	srv, err := tether.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-gin-server:", err)
		return 1
	}

	gin.SetMode(gin.ReleaseMode)
	router := gin.New()
	router.Use(gin.Recovery())
	var rejected atomic.Int64
	ws := []gin.HandlerFunc{}
	if o.rejectUpgrades > 0 {
		ws = append(ws, func(c *gin.Context) {
			if websocket.IsWebSocketUpgrade(c.Request) && rejected.Add(1) <= int64(o.rejectUpgrades) {
				if o.retryAfterS >= 0 {
					c.Header("Retry-After", strconv.Itoa(o.retryAfterS))
				}
				srv.Stats().UpgradesRejected.Add(1)
				c.AbortWithStatus(o.rejectStatus)
			}
		})
	}
	if cfg.AuthenticateAtUpgrade {
		ws = append(ws, srv.UpgradeAuth())
	}
	ws = append(ws, srv.GinHandler())
	router.GET(o.path, ws...)
	if o.path != "/metrics" {
		router.GET("/metrics", gin.WrapH(srv.MetricsHandler()))
	}
	if o.path != "/healthz" {
		router.GET("/healthz", gin.WrapF(srv.Healthz))
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tether-gin-server: cannot listen on %s:%d: %v\n", o.host, o.port, err)
		return 1
	}
	httpSrv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(debugLog{logger}, "", 0)} // peers' TLS and HTTP errors: --verbose only
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tether-gin-server: cannot load certificate:", err)
			return 1
		}
		// HTTP/1.1 only: WebSocket upgrades do not work over h2.
		httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		ln = tls.NewListener(ln, httpSrv.TLSConfig)
	}
	// Tests parse this line: always first on stdout.
	fmt.Fprintf(stdout, "listening on %s:%d\n", o.host, ln.Addr().(*net.TCPAddr).Port)
	if ta, ok := ln.Addr().(*net.TCPAddr); ok {
		logger.Debug("listening", "addr", ta.String(), "path", o.path, "echo", o.echo)
	}

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintln(os.Stderr, "tether-gin-server: serve:", err)
		srv.Close()
		return 1
	case s := <-stop:
		logger.Debug("signal, shutting down", "signal", s.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), ms(o.drainMs)+2*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(ctx) // stop accepting; the hijacked WebSockets are srv's
	_ = srv.Shutdown(ctx)
	if o.verbose {
		fmt.Fprintln(os.Stderr, "tether-gin-server: stats", srv.Stats().String())
	}
	return 0
}
