package tether

import (
	"context"
	"errors"
	"sync"

	"github.com/gorilla/websocket"
)

// Group commit: the read pump runs the handler and queues the msg; the write
// pump commits everything queued in one Store.CommitInbound call at the
// start of each turn, before it acks, so a connection costs one store round
// trip per batch (whatever arrived during the previous round trip), not per
// msg, an idle connection commits at once, and a msg is still acked only
// once it is committed.

// maxQueuedInbound bounds the msgs a connection queues for commit: the read
// pump commits by itself beyond it (backpressure).
const maxQueuedInbound = 512

// inboundQueue is a connection's msgs handled but not committed yet.
type inboundQueue struct {
	commitMu   sync.Mutex // one commit at a time, in order
	queueMu    sync.Mutex
	queued     []Inbound
	idsChecked bool // read pump: past the first never-seen id (prefixIDCheck stores)
}

// prefixIDCheck is implemented by stores whose SeenID costs a round trip
// (RedisStore). The Server then asks SeenID only until the first msg of a
// connection whose id was never seen: the SDK re-sends the msgs of a lost
// session first and in order, and the ones the server had committed are a
// prefix of them. A later msg with an old id (not the SDK's behaviour) still
// has its effects dropped by CommitInbound; only the handler runs again.
type prefixIDCheck interface{ prefixIDCheck() }

func (*RedisStore) prefixIDCheck() {}

// queueInbound queues in for the write pump's next commit.
func (s *Server) queueInbound(c *conn, in Inbound) {
	c.queueMu.Lock()
	c.queued = append(c.queued, in)
	n := len(c.queued)
	c.queueMu.Unlock()
	if n >= maxQueuedInbound {
		s.commitQueued(c)
	} else {
		c.wakeup()
	}
}

// commitQueued commits what the connection queued, updates the counters and
// schedules the ack; on failure the connection closes (4009 when fenced).
func (s *Server) commitQueued(c *conn) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.queueMu.Lock()
	batch := c.queued
	c.queued = nil
	c.queueMu.Unlock()
	if len(batch) == 0 {
		return
	}
	res, err := s.store.CommitInbound(context.Background(), batch)
	for _, r := range res {
		if r.Outcome == InboundGap {
			err = errors.New("tether: seq gap in a commit batch")
			break
		}
		switch r.Outcome {
		case InboundDelivered:
			s.stats.MsgsIn.Add(1)
		case InboundDuplicateID:
			s.stats.DuplicatesByID.Add(1)
		case InboundDuplicate:
			s.stats.DuplicatesBySeq.Add(1)
		}
		s.wake(r.Applied)
		c.noteAck(r.C2SLast, false)
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrFenced):
		c.requestClose(closeTakenOver, codeTakenOver, nil)
	default:
		s.log.Warn("store failed", "op", "commit", "session", batch[0].Session, "err", err)
		c.requestClose(websocket.CloseInternalServerErr, "store unavailable", nil)
	}
}
