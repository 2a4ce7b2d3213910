package tether

import (
	"context"
	"errors"
	"sync"

	"github.com/gorilla/websocket"
)

// InboundBatcher is implemented by a Store that commits several consecutive
// client msgs of one session (same Session, Gen and Identity) in one call:
// the results are those CommitInbound would have given one by one (after a
// gap the rest are reported as gaps and not looked at), and the effects
// applied are spread over the results' Applied. With such a Store the Server
// group-commits: the read pump runs the handler and queues the msg, and the
// write pump commits everything queued in one call before it acks, so a
// connection costs one store round trip per batch, not per msg, and a msg is
// still acked only once it is committed.
type InboundBatcher interface {
	CommitInboundBatch(ctx context.Context, ins []Inbound) ([]InboundResult, error)
}

// CommitInboundBatch commits ins one by one; each is atomic (InboundBatcher).
func (m *MemoryStore) CommitInboundBatch(ctx context.Context, ins []Inbound) ([]InboundResult, error) {
	out := make([]InboundResult, 0, len(ins))
	for _, in := range ins {
		r, err := m.CommitInbound(ctx, in)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

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

// queueInbound queues in for the write pump's next commit, if the store
// batches; false: commit it now.
func (s *Server) queueInbound(c *conn, in Inbound) bool {
	if _, ok := s.store.(InboundBatcher); !ok {
		return false
	}
	c.queueMu.Lock()
	c.queued = append(c.queued, in)
	n := len(c.queued)
	c.queueMu.Unlock()
	if n >= maxQueuedInbound {
		s.commitQueued(c)
	} else {
		c.wakeup()
	}
	return true
}

// commitQueued commits what the connection queued, updates the counters and
// schedules the ack; on failure the connection closes (4009 when fenced).
func (s *Server) commitQueued(c *conn) {
	b, ok := s.store.(InboundBatcher)
	if !ok {
		return
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.queueMu.Lock()
	batch := c.queued
	c.queued = nil
	c.queueMu.Unlock()
	if len(batch) == 0 {
		return
	}
	res, err := b.CommitInboundBatch(context.Background(), batch)
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
