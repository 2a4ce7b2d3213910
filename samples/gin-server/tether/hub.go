package tether

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// The protocol, run on each connection's read goroutine: the one place that
// changes session state (always through one atomic Store call). Decisions
// where docs/protocol.md leaves room follow the reference chat-server:
//   - hello with v != 1: error protocol_version, close 1002; anything else
//     malformed, or a frame illegal in its state: error bad_frame, close 4008.
//   - a text message that is not UTF-8: close 1007 (the WebSocket rule).
//   - a frame of unknown type is ignored and counted, even before hello.
//   - a resume whose token matches but whose replay range is gone ends the
//     old session (4009 to its connection) and starts a new one; a wrong
//     token never touches the old session and is answered exactly like an
//     unknown id.
//   - duplicates count towards the ack batch and force an ack even when the
//     cumulative value did not move.
//   - the welcome of a resumed session acks everything up to its last_seq.

func (s *Server) handleFrame(c *conn, typ int, data []byte) {
	if typ != websocket.TextMessage {
		s.violation(c, codeBadFrame, "binary frames are not allowed in tether.v1")
		return
	}
	if !validText(data) {
		s.stats.protocolError("invalid_utf8")
		c.requestClose(closeInvalidPayload, "invalid UTF-8", nil)
		return
	}
	f, derr := decodeClientFrame(data)
	if derr != nil {
		s.violation(c, derr.code, derr.detail)
		return
	}
	if f.kind == frameUnknown {
		s.stats.UnknownFrames.Add(1) // forward compatibility (§10)
		return
	}
	if !c.welcomed {
		if f.kind != frameHello {
			s.violation(c, codeBadFrame, "a frame before hello")
			return
		}
		s.hello(c, &f)
		return
	}
	switch f.kind {
	case frameHello:
		s.violation(c, codeBadFrame, "second hello")
	case frameMsg:
		s.inbound(c, &f)
	case frameAck:
		s.ack(c, f.seq)
	case frameBye:
		s.bye(c)
	}
}

// violation sends error `code` and closes with the code's close code.
func (s *Server) violation(c *conn, code, detail string) {
	s.stats.protocolError(code)
	s.log.Debug("protocol error", "remote", c.remote, "session", c.sess.ID, "code", code, "detail", detail)
	c.requestClose(closeCodeOf[code], code, encodeError(code, detail, nil))
}

func (s *Server) refuseHello(c *conn, code, message string, retryAfterMs *uint64) {
	s.stats.protocolError(code)
	c.requestClose(closeCodeOf[code], code, encodeError(code, message, retryAfterMs))
}

func (s *Server) hello(c *conn, f *clientFrame) {
	ctx := context.Background()
	identity := c.identity
	if !c.upgradeAuthed {
		identity = f.token
		if s.cfg.Authenticate != nil {
			id, err := s.cfg.Authenticate(f.token, c.req)
			if err != nil {
				s.stats.AuthFailures.Add(1)
				ae := ErrUnauthorized
				if !errors.As(err, &ae) || closeCodeOf[ae.Code] == 0 {
					ae = &AuthError{Code: codeUnauthorized, Message: err.Error()}
				}
				if !f.hasToken && ae.Code == codeUnauthorized {
					ae = &AuthError{Code: codeUnauthorized, Message: "token required"}
				}
				s.refuseHello(c, ae.Code, ae.Message, nil)
				return
			}
			identity = id
		}
	}
	token, err := s.cfg.NewSecret()
	if err != nil {
		s.log.Warn("no randomness for a resume token", "err", err)
		c.terminate()
		return
	}

	if f.resume {
		res, err := s.store.Resume(ctx, ResumeRequest{
			ID: f.session, TokenHash: tokenHash(f.resumeTok), Attempt: f.attempt, LastSeq: f.lastSeq,
			NewTokenHash: tokenHash(token), Owner: s.cfg.InstanceID,
		})
		if err != nil {
			s.storeFailed(c, "resume", err)
			return
		}
		switch res.Outcome {
		case ResumeOK:
			if res.PrevAttached {
				s.takeOver(res.Record.ID, c)
			}
			s.stats.Resumes.Add(1)
			if res.Superseded {
				s.stats.StaleSuperseded.Add(1)
			}
			s.attach(c, res.Record, token, true, f.lastSeq)
			if s.cfg.OnResume != nil {
				s.cfg.OnResume(c.sess)
			}
			return
		case ResumeUnreplayable:
			if res.PrevAttached {
				s.takeOver(res.Record.ID, nil)
			}
			s.sessionEnded(res.Record, EndReplaced)
		}
		s.stats.ResumeMisses.Add(1)
	}

	if s.cfg.MaxSessions > 0 {
		if n, ok := s.store.(interface{ Sessions() int }); ok && n.Sessions() >= s.cfg.MaxSessions {
			ms := uint64(s.cfg.RetryAfter.Milliseconds())
			s.refuseHello(c, codeServerBusy, "too many sessions", &ms)
			return
		}
	}
	var rec Record
	for {
		id, err := s.cfg.NewSecret()
		if err == nil {
			rec, err = s.store.Create(ctx, NewSession{ID: id, Identity: identity, TokenHash: tokenHash(token), Owner: s.cfg.InstanceID})
		}
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			s.storeFailed(c, "create", err)
			return
		}
		break
	}
	s.stats.SessionsCreated.Add(1)
	s.attach(c, rec, token, false, 0)
	if s.cfg.OnSessionStart != nil {
		s.cfg.OnSessionStart(c.sess)
	}
}

// takeOver closes the connection attached to session on this instance with
// 4009 and, if next is given, attaches next in its place.
func (s *Server) takeOver(session string, next *conn) {
	s.mu.Lock()
	old := s.attached[session]
	if next != nil {
		s.attached[session] = next
	} else {
		delete(s.attached, session)
	}
	s.mu.Unlock()
	if old != nil && old != next {
		s.stats.Takeovers.Add(1)
		old.requestClose(closeTakenOver, codeTakenOver, nil)
	}
}

func (s *Server) attach(c *conn, rec Record, token string, resumed bool, clientLast uint64) {
	c.welcomed = true
	c.gen = rec.Generation
	c.c2sLast = rec.C2SLast
	c.sess = SessionInfo{ID: rec.ID, Identity: rec.Identity, Resumed: resumed}
	w := welcomeFrame{Type: "welcome", Session: rec.ID, ResumeToken: token, Resumed: resumed,
		SessionTTLMs: uint64(s.cfg.SessionTTL.Milliseconds())}
	if resumed {
		w.LastSeq = rec.C2SLast
	}
	if s.cfg.Heartbeat > 0 {
		w.HeartbeatMs = uint64(s.cfg.Heartbeat.Milliseconds())
	}
	text, _ := json.Marshal(w)
	s.mu.Lock()
	s.attached[rec.ID] = c
	if s.owned[rec.ID] == nil {
		s.owned[rec.ID] = &owned{}
	}
	s.mu.Unlock()
	if resumed {
		s.stats.MsgsReplayed.Add(rec.S2CLast - clientLast)
	}
	c.mu.Lock()
	c.welcome = text
	c.attached = true
	c.session = rec.ID
	c.generation = rec.Generation
	c.sentUpto = clientLast
	c.ackSeq = rec.C2SLast // the welcome acks these
	c.ackPending = 0
	c.mu.Unlock()
	c.extendDeadline()
	c.wakeup()
	s.log.Debug("welcome", "remote", c.remote, "session", rec.ID, "resumed", resumed, "last_seq", w.LastSeq)
}

func (s *Server) inbound(c *conn, f *clientFrame) {
	c.mu.Lock()
	draining := c.draining
	c.mu.Unlock()
	if draining {
		// Shutdown stops taking work: not committed, not acked. The client
		// sends it again on its next connection (protocol.md §4).
		s.stats.DeferredByDrain.Add(1)
		return
	}
	switch {
	case f.seq <= c.c2sLast:
		s.stats.DuplicatesBySeq.Add(1) // not processed again, acked again
		c.noteAck(c.c2sLast, true)
		return
	case f.seq > c.c2sLast+1:
		s.violation(c, codeBadFrame, fmt.Sprintf("seq gap: expected %d, got %d", c.c2sLast+1, f.seq))
		return
	}
	ctx := context.Background()
	digest := DataDigest(f.data)
	seen, err := s.store.SeenID(ctx, c.sess.Identity, f.id, digest)
	if err != nil {
		s.storeFailed(c, "dedupe", err)
		return
	}
	var effects []Effect
	if !seen {
		effects = s.runHandler(c, f)
	}
	results, err := s.store.CommitInbound(ctx, []Inbound{{Session: c.sess.ID, Gen: c.gen, Seq: f.seq,
		Identity: c.sess.Identity, MsgID: f.id, Digest: digest, Effects: effects}})
	if err == nil && len(results) != 1 {
		err = fmt.Errorf("store returned %d results for 1 msg", len(results))
	}
	if err != nil {
		s.storeFailed(c, "commit", err)
		return
	}
	res := results[0]
	switch res.Outcome {
	case InboundDelivered:
		s.stats.MsgsIn.Add(1)
		s.wake(res.Applied)
	case InboundDuplicateID:
		s.stats.DuplicatesByID.Add(1)
	case InboundDuplicate:
		s.stats.DuplicatesBySeq.Add(1)
	case InboundGap:
		s.violation(c, codeBadFrame, fmt.Sprintf("seq gap: expected %d, got %d", res.C2SLast+1, f.seq))
		return
	}
	c.c2sLast = res.C2SLast
	c.noteAck(res.C2SLast, false)
}

// runHandler runs the application's handler and returns its effects; an
// error (or a panic) becomes an in-band {"error": ...} reply.
func (s *Server) runHandler(c *conn, f *clientFrame) (effects []Effect) {
	if s.cfg.OnMessage == nil {
		return nil
	}
	x := &Context{srv: s, session: c.sess, msgID: f.id}
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Warn("message handler panicked", "session", c.sess.ID, "panic", fmt.Sprint(p))
				err = errors.New("internal error")
			}
		}()
		err = s.cfg.OnMessage(x, Message{Session: c.sess, ID: f.id, Seq: f.seq, Data: f.data, Received: s.cfg.Now()})
	}()
	if err != nil {
		s.stats.HandlerErrors.Add(1)
		reply, _ := json.Marshal(map[string]string{"error": err.Error()})
		x.effects = append(x.effects, Effect{Kind: EffectSend, Session: c.sess.ID, Data: reply, ID: f.id, HasID: true})
	}
	return x.effects
}

// noteAck schedules an ack of seq: at once after AckEvery msgs, else after
// AckDelay.
func (c *conn) noteAck(seq uint64, duplicate bool) {
	now := time.Now()
	c.mu.Lock()
	c.ackSeq = seq
	c.ackPending++
	if c.ackPending == 1 {
		c.ackDue = now.Add(c.srv.cfg.AckDelay)
	}
	wake := c.ackPending == 1 || c.ackPending >= c.srv.cfg.AckEvery
	c.mu.Unlock()
	if wake {
		c.wakeup()
	}
}

func (s *Server) ack(c *conn, seq uint64) {
	res, err := s.store.Ack(context.Background(), c.sess.ID, c.gen, seq)
	if err != nil {
		s.storeFailed(c, "ack", err)
		return
	}
	if res.Outcome == AckOutOfRange {
		s.violation(c, codeBadFrame, fmt.Sprintf("ack %d beyond last sent %d", seq, res.S2CLast))
		return
	}
	c.mu.Lock()
	if seq > c.sentUpto {
		c.sentUpto = seq // acked means delivered: nothing left to send there
	}
	draining := c.draining
	c.mu.Unlock()
	if draining {
		c.wakeup()
	}
}

func (s *Server) bye(c *conn) {
	// Closing first: the write pump must not find the session gone and take
	// it for a takeover.
	c.requestClose(closeNormal, "bye", nil)
	rec, err := s.store.Delete(context.Background(), c.sess.ID, c.gen)
	if err != nil {
		s.storeFailed(c, "bye", err)
		return
	}
	c.bye = true
	s.mu.Lock()
	if s.attached[rec.ID] == c {
		delete(s.attached, rec.ID)
	}
	s.mu.Unlock()
	s.sessionEnded(rec, EndBye)
}

// storeFailed: ErrFenced/ErrNotFound mean the session moved to another
// connection (which closes this one with 4009) or ended; anything else is a
// store outage: the connection closes with 1011 and the client resumes later.
func (s *Server) storeFailed(c *conn, op string, err error) {
	if errors.Is(err, ErrFenced) || errors.Is(err, ErrNotFound) {
		c.requestClose(closeTakenOver, codeTakenOver, nil)
		return
	}
	s.log.Warn("store failed", "op", op, "session", c.sess.ID, "err", err)
	c.requestClose(websocket.CloseInternalServerErr, "store unavailable", nil)
}

// connEnded runs once the read pump has stopped: the session (if any, and
// still ours) is detached and starts its TTL.
func (s *Server) connEnded(c *conn) {
	if !c.welcomed || c.bye {
		return
	}
	s.mu.Lock()
	mine := s.attached[c.sess.ID] == c
	if mine {
		delete(s.attached, c.sess.ID)
	}
	s.mu.Unlock()
	if !mine {
		return
	}
	err := s.store.Detach(context.Background(), c.sess.ID, c.gen, s.cfg.SessionTTL)
	if err != nil && !errors.Is(err, ErrFenced) && !errors.Is(err, ErrNotFound) {
		s.log.Warn("detach failed", "session", c.sess.ID, "err", err)
	}
	s.log.Debug("session detached", "session", c.sess.ID)
}

// Context is what a Handler uses to act. Everything it does is collected and
// committed atomically with the msg, when the handler returns. It is valid
// only during the handler call and only on its goroutine.
type Context struct {
	srv     *Server
	session SessionInfo
	msgID   string
	effects []Effect
}

// Session is the sender's session.
func (x *Context) Session() SessionInfo { return x.session }

// Reply sends data to the sender, carrying the client msg's id.
func (x *Context) Reply(data interface{}) error {
	return x.addData(Effect{Kind: EffectSend, Session: x.session.ID, ID: x.msgID, HasID: true}, data)
}

// Send sends data to another session (skipped if it does not exist).
func (x *Context) Send(sessionID string, data interface{}) error {
	return x.addData(Effect{Kind: EffectSend, Session: sessionID}, data)
}

// Join adds the sender to room; membership survives resume.
func (x *Context) Join(room string) {
	x.effects = append(x.effects, Effect{Kind: EffectJoin, Session: x.session.ID, Room: room})
}

// Leave removes the sender from room.
func (x *Context) Leave(room string) {
	x.effects = append(x.effects, Effect{Kind: EffectLeave, Session: x.session.ID, Room: room})
}

// Broadcast relays data to every member of room (the sender too, if it is
// one), carrying the client msg's id so the sender can recognise its echo.
func (x *Context) Broadcast(room string, data interface{}) error {
	return x.addData(Effect{Kind: EffectBroadcast, Room: room, ID: x.msgID, HasID: true}, data)
}

func (x *Context) addData(e Effect, data interface{}) error {
	raw, err := encodeData(data)
	if err != nil {
		return err
	}
	e.Data = raw
	x.effects = append(x.effects, e)
	return nil
}

// EchoHandler replies {"echo": data, "id": id} to every msg (chat-server --echo).
func EchoHandler(x *Context, m Message) error {
	reply := make([]byte, 0, len(m.Data)+len(m.ID)+24)
	reply = append(reply, `{"echo":`...)
	reply = append(reply, compactJSON(m.Data)...)
	reply = append(reply, `,"id":`...)
	reply = appendQuoted(reply, m.ID)
	reply = append(reply, '}')
	x.effects = append(x.effects, Effect{Kind: EffectSend, Session: x.session.ID, Data: reply, ID: m.ID, HasID: true})
	return nil
}

// RoomsHandler is chat-server's rooms mode: {"room": R} joins R;
// {"room": R, "text": ...} also relays the whole data to every member of R,
// sender included, with the original id. Anything else is ignored.
func RoomsHandler(x *Context, m Message) error {
	if len(m.Data) == 0 || m.Data[0] != '{' {
		return nil
	}
	fields, ok := splitObject(m.Data) // valid JSON: it came in a frame
	if !ok {
		return nil
	}
	r, _ := fields.get("room")
	room, ok := stringOf(r)
	if !ok {
		return nil
	}
	x.Join(room)
	if _, ok := fields.get("text"); ok {
		data := compactJSON(m.Data)
		x.effects = append(x.effects, Effect{Kind: EffectBroadcast, Room: room, Data: data, ID: m.ID, HasID: true})
	}
	return nil
}
