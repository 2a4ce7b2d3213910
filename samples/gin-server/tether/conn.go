package tether

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket and its two goroutines. The pumps translate: the read
// pump hands frames to the hub functions (hub.go) and the write pump writes
// what the fields below and the store say is due. Neither decides protocol
// matters on its own.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	req    *http.Request
	remote string

	// Read pump only.
	welcomed      bool
	identity      string
	upgradeAuthed bool
	c2sLast       uint64 // the last client seq this connection committed (cached from the store)
	sess          SessionInfo
	gen           uint64
	bye           bool

	wakeCh    chan struct{} // capacity 1: a wakeup, never data
	readDone  chan struct{}
	writeDone chan struct{}

	mu sync.Mutex // guards the fields below (read pump, write pump, other sessions' wakers)
	out
}

// out is what the write pump owes the peer.
type out struct {
	welcome    []byte // written first, once
	attached   bool   // after the welcome: feed server msgs from the store
	session    string
	generation uint64
	sentUpto   uint64 // highest server seq taken from the store for writing (or acked) on this connection
	ackSeq     uint64 // the client seq to ack
	ackPending int    // client msgs (duplicates included) not acked yet
	ackDue     time.Time
	closing    *closeReq
	draining   bool
}

type closeReq struct {
	code      int
	reason    string
	errFrame  []byte
	terminate bool // drop the TCP connection, no close handshake
}

const (
	closeWait = 2 * time.Second // for the peer to answer our close frame
	readBytes = 1 << 20         // server msg data the write pump takes from the store per turn
)

func newConn(s *Server, ws *websocket.Conn, r *http.Request, identity string, upgradeAuthed bool) *conn {
	return &conn{
		srv: s, ws: ws, req: r, remote: r.RemoteAddr,
		identity: identity, upgradeAuthed: upgradeAuthed,
		wakeCh:    make(chan struct{}, 1),
		readDone:  make(chan struct{}),
		writeDone: make(chan struct{}),
	}
}

func (c *conn) wakeup() {
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
}

// requestClose asks the write pump to flush acks, write errFrame (if any)
// and close with code. The first request wins.
func (c *conn) requestClose(code int, reason string, errFrame []byte) {
	c.mu.Lock()
	if c.closing == nil {
		c.closing = &closeReq{code: code, reason: reason, errFrame: errFrame}
	}
	c.mu.Unlock()
	c.wakeup()
}

// terminate drops the connection without a handshake (dead link, overrun).
func (c *conn) terminate() {
	c.mu.Lock()
	if c.closing == nil {
		c.closing = &closeReq{terminate: true}
	}
	c.mu.Unlock()
	c.ws.Close()
	c.wakeup()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing != nil
}

func (c *conn) startDrain() {
	c.mu.Lock()
	c.draining = true
	c.mu.Unlock()
	c.wakeup()
}

// run is the read pump; it returns when both pumps have ended.
func (c *conn) run() {
	cfg := &c.srv.cfg
	c.ws.SetReadLimit(cfg.MaxMessageBytes)
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.HelloTimeout))
	c.ws.SetPongHandler(func(string) error {
		c.extendDeadline()
		return nil
	})
	c.ws.SetPingHandler(func(data string) error {
		c.extendDeadline()
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				return err
			}
		}
		return nil
	})
	go c.writePump()
	c.srv.log.Debug("conn open", "remote", c.remote)
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			break
		}
		if c.isClosing() {
			continue // the close handshake is running: input is ignored
		}
		c.extendDeadline()
		c.srv.handleFrame(c, typ, data)
		if c.isClosing() {
			_ = c.ws.SetReadDeadline(time.Now().Add(closeWait))
		}
	}
	close(c.readDone)
	c.srv.connEnded(c)
	<-c.writeDone
	c.ws.Close()
}

// extendDeadline runs on the read pump (frames, pings, pongs): until the
// welcome the hello timeout stands; then 2 x heartbeat, or none at all when
// heartbeats are off.
func (c *conn) extendDeadline() {
	cfg := &c.srv.cfg
	switch {
	case !c.welcomed:
	case cfg.Heartbeat < 0:
		_ = c.ws.SetReadDeadline(time.Time{})
	default:
		_ = c.ws.SetReadDeadline(time.Now().Add(2 * cfg.Heartbeat))
	}
}

// readFailed classifies why reading stopped.
func (c *conn) readFailed(err error) {
	if c.isClosing() {
		return // our close: the peer answered, or closeWait passed
	}
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent close 1009.
		c.srv.stats.protocolError("message_too_big")
		c.terminate()
	case errors.As(err, &ne) && ne.Timeout():
		if !c.welcomed {
			c.srv.violation(c, codeBadFrame, "no hello in time")
			return
		}
		c.srv.stats.LivenessTimeouts.Add(1)
		c.srv.log.Debug("conn silent too long, dropped", "remote", c.remote, "session", c.sess.ID)
		c.terminate()
	default:
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			c.srv.log.Debug("conn closed by peer", "remote", c.remote, "code", ce.Code, "reason", ce.Text)
		} else {
			c.srv.log.Debug("conn lost", "remote", c.remote, "err", err)
		}
		c.terminate()
	}
}

// writePump writes everything the connection owes, in this order each turn:
// welcome, ack, server msgs from the store, the closing error and close
// frame, pings.
func (c *conn) writePump() {
	defer close(c.writeDone)
	cfg := &c.srv.cfg
	ctx := context.Background()
	var nextPing time.Time
	if cfg.Heartbeat > 0 {
		nextPing = time.Now().Add(cfg.Heartbeat)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var buf []byte // grows to the largest frame written; nil while idle
	write := func(b []byte) bool {
		_ = c.ws.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			c.srv.log.Debug("write failed", "remote", c.remote, "err", err)
			c.terminate()
			return false
		}
		return true
	}
	for {
		now := time.Now() // sockets and timers run on the real clock; cfg.Now is for the store
		c.mu.Lock()
		welcome := c.welcome
		c.welcome = nil
		closing := c.closing
		ackNow := c.ackPending > 0 && (c.ackPending >= cfg.AckEvery || !now.Before(c.ackDue) || closing != nil || c.draining)
		ackSeq, ackCount := c.ackSeq, c.ackPending
		attached, session, gen, after, draining := c.attached, c.session, c.generation, c.sentUpto, c.draining
		c.mu.Unlock()

		if closing != nil && closing.terminate {
			return
		}
		if welcome != nil && !write(welcome) {
			return
		}
		more, truncated := false, false
		if attached && closing == nil {
			msgs, err := c.srv.store.ReadOutbound(ctx, session, gen, after, cfg.ReadBatch, readBytes)
			switch {
			case errors.Is(err, ErrEvicted):
				c.srv.stats.WindowOverruns.Add(1)
				c.srv.log.Debug("msgs owed to the connection were evicted: dropped", "session", session)
				c.terminate()
				return
			case errors.Is(err, ErrFenced) || errors.Is(err, ErrNotFound):
				// The session moved to another connection, perhaps on another
				// instance (which woke us through Server.Notify), or ended.
				c.requestClose(closeTakenOver, codeTakenOver, nil)
				continue
			case err != nil:
				c.srv.log.Warn("store failed", "op", "read", "session", session, "err", err)
				c.requestClose(websocket.CloseInternalServerErr, "store unavailable", nil)
				continue
			}
			if n := len(msgs); n > 0 {
				// Taken: from here an eviction of these no longer overruns us.
				c.mu.Lock()
				if msgs[n-1].Seq > c.sentUpto {
					c.sentUpto = msgs[n-1].Seq
				}
				c.mu.Unlock()
				more = true
			}
			bytes := 0
			for _, m := range msgs {
				buf = appendMsg(buf[:0], m)
				if !write(buf) {
					return
				}
				bytes += len(m.Data)
				c.srv.stats.MsgsOut.Add(1)
			}
			truncated = len(msgs) >= cfg.ReadBatch || bytes >= readBytes
		}
		// The ack goes after the msgs that its commits appended (ackSeq was
		// taken before the read): a client that has an ack has the replies
		// too, on this connection. If the read was cut short, next turn.
		if ackNow && attached && !truncated {
			buf = appendAck(buf[:0], ackSeq)
			if !write(buf) {
				return
			}
			c.srv.stats.AcksOut.Add(1)
			c.mu.Lock()
			c.ackPending -= ackCount
			if c.ackPending > 0 {
				c.ackDue = now.Add(cfg.AckDelay)
			}
			c.mu.Unlock()
		}
		c.mu.Lock()
		ackDue, pending := c.ackDue, c.ackPending > 0
		c.mu.Unlock()
		if closing == nil && draining {
			if c.drained(ctx, attached, session, after, more, pending) || !now.Before(c.srv.drainDeadline()) {
				c.srv.stats.ShutdownCloses.Add(1)
				c.requestClose(closeServiceRestart, "service restart", nil)
				continue
			}
		}
		if closing != nil {
			if closing.errFrame != nil && !write(closing.errFrame) {
				return
			}
			msg := websocket.FormatCloseMessage(closing.code, closing.reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			c.srv.log.Debug("conn close", "remote", c.remote, "code", closing.code, "reason", closing.reason)
			select {
			case <-c.readDone:
			case <-time.After(closeWait):
				c.ws.Close()
			}
			return
		}
		if !nextPing.IsZero() && !now.Before(nextPing) {
			if err := c.ws.WriteControl(websocket.PingMessage, nil, now.Add(cfg.WriteTimeout)); err != nil {
				c.terminate()
				return
			}
			nextPing = now.Add(cfg.Heartbeat)
		}
		if more {
			continue
		}
		wait := time.Hour
		if !nextPing.IsZero() {
			wait = nextPing.Sub(now)
		}
		if pending && ackDue.Sub(now) < wait {
			wait = ackDue.Sub(now)
		}
		if draining {
			if d := c.srv.drainDeadline().Sub(now); d < wait {
				wait = d
			}
		}
		if wait < 0 {
			wait = 0
		}
		timer.Reset(wait)
		select {
		case <-c.wakeCh:
		case <-timer.C:
		case <-c.readDone:
			c.mu.Lock()
			done := c.closing == nil || c.closing.terminate
			c.mu.Unlock()
			if done {
				return
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// drained: during Shutdown, the connection may close once its acks are out
// and the client has acked every server msg.
func (c *conn) drained(ctx context.Context, attached bool, session string, sent uint64, more, ackPending bool) bool {
	if !attached {
		return true
	}
	if more || ackPending {
		return false
	}
	rec, err := c.srv.store.Get(ctx, session)
	return err != nil || (rec.S2CAcked >= rec.S2CLast && sent >= rec.S2CLast)
}

func (s *Server) drainDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drainBy
}

// owedEvicted: the store's replay buffer now starts after msgs this
// connection has not taken yet.
func (c *conn) owedEvicted(replayFirst uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attached && c.closing == nil && replayFirst > c.sentUpto+1
}
