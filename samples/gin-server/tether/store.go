package tether

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"time"
)

// Store keeps everything about a session that must outlive a connection:
// the record (token hashes, counters, owner and fencing generation, rooms,
// TTL), the server→client replay buffer and the per-identity window of
// client message ids. The Server never keeps its own copy of these facts; it
// caches only what its single attached connection wrote itself.
//
// Each method is one atomic unit: a Store must apply all of it or none of it,
// so that a crash between two writes cannot leave a session half-updated (a
// shared store does that with one script or transaction per call). A method
// that touches one session and takes a generation (gen) first checks that it
// is the session's current generation, and otherwise changes nothing and
// returns ErrFenced: a connection that was taken over, possibly on another
// instance, can no longer deliver, ack or commit anything.
//
// Token hashes are SHA-256 of the resume token; a Store compares them in
// constant time and never sees a token.
//
// Thread safety: every method may be called from many goroutines at once.
type Store interface {
	// Create adds a new session, attached, owned by s.Owner, generation 1.
	// ErrExists if the id is taken (the caller draws another).
	Create(ctx context.Context, s NewSession) (Record, error)

	// Resume continues a session for a new connection, as protocol.md §4 and
	// §5 describe; see ResumeRequest for the checks. On ResumeOK it trims the
	// replay buffer up to LastSeq, rotates the token (the presented token
	// becomes the previous one, with Attempt), increments the generation, sets
	// the owner and marks the session attached. On ResumeUnreplayable it
	// deletes the session (its owner will get a new one). On ResumeUnknown it
	// changes nothing at all.
	Resume(ctx context.Context, r ResumeRequest) (ResumeResult, error)

	// Detach marks the session as having no connection; it expires ttl from
	// now unless resumed first. ErrFenced if gen is not current.
	Detach(ctx context.Context, id string, gen uint64, ttl time.Duration) error

	// Delete removes the session at once (the client said bye), with its
	// replay buffer and room memberships, and returns its last record.
	// ErrFenced if gen is not current, ErrNotFound if it does not exist.
	Delete(ctx context.Context, id string, gen uint64) (Record, error)

	// SeenID reports whether msgID is in the id-dedupe window of identity
	// with this digest of its data. The same id with other data is not a
	// duplicate: it is an application-level re-send with new content (such
	// as tether-chat's resync copies), not a retry. The server asks before it
	// runs the application's handler.
	SeenID(ctx context.Context, identity, msgID string, digest uint64) (bool, error)

	// CommitInbound records client msgs, in order, one result each. For each
	// in: only if the generation is current (ErrFenced for the whole call)
	// and in.Seq == the session's last client seq + 1 (otherwise
	// InboundDuplicate or InboundGap, and nothing changes). If in.MsgID is
	// already in the identity's window with in.Digest the seq still advances
	// but in.Effects are dropped (InboundDuplicateID). Otherwise the id enters the window and
	// the effects are applied, in order, in the same atomic step
	// (InboundDelivered). A batch lets a shared store commit several msgs
	// (e.g. one ack batch) in one round trip; the server sends one today.
	CommitInbound(ctx context.Context, batch []Inbound) ([]InboundResult, error)

	// Append applies effects that do not come with an inbound msg
	// (Server.Send, Server.Broadcast, pushes), in order, atomically. Effects
	// on sessions that do not exist are skipped.
	Append(ctx context.Context, effects []Effect) (AppendResult, error)

	// Ack applies the client's cumulative ack of server msgs: seq beyond the
	// last server seq assigned is AckOutOfRange, seq at or below the acked
	// one is AckStale; otherwise msgs up to seq leave the replay buffer.
	Ack(ctx context.Context, id string, gen uint64, seq uint64) (AckResult, error)

	// ReadOutbound returns the server msgs with seq > after, in order, at most
	// maxMsgs of them and at most about maxBytes of data (always at least one
	// if there is one). ErrEvicted if msg after+1 was assigned but has left
	// the buffer unacked: the connection can never be given it.
	ReadOutbound(ctx context.Context, id string, gen uint64, after uint64, maxMsgs, maxBytes int) ([]OutboundMsg, error)

	// Get returns the session's record; ErrNotFound if it does not exist.
	Get(ctx context.Context, id string) (Record, error)

	// Sweep deletes the sessions whose TTL has run out and returns them. A
	// store whose records expire by themselves may return none.
	Sweep(ctx context.Context) ([]Record, error)
}

// DataDigest is the digest of a msg's data that the dedupe window keeps
// with its id: 64-bit FNV-1a of the compact JSON text.
func DataDigest(data []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(compactJSON(data))
	return h.Sum64()
}

// Errors a Store returns. Callers compare with errors.Is.
var (
	ErrExists   = errors.New("tether: session id exists")
	ErrNotFound = errors.New("tether: no such session")
	ErrFenced   = errors.New("tether: stale generation: the session has moved to another connection")
	ErrEvicted  = errors.New("tether: msgs owed to the connection left the replay buffer")
)

// NewSession is what Create needs.
type NewSession struct {
	ID        string
	Identity  string // the client identity Authenticate returned; keys the id-dedupe window
	TokenHash []byte // hash of the first resume token
	Owner     string // instance id
}

// Record is a session's state as the store holds it.
type Record struct {
	ID             string
	Identity       string
	C2SLast        uint64 // highest client seq committed
	S2CLast        uint64 // highest server seq assigned
	S2CAcked       uint64 // highest server seq the client acked (replay holds (S2CAcked, S2CLast] minus evictions)
	ReplayFirst    uint64 // lowest server seq still in the replay buffer; S2CLast+1 when empty
	Owner          string
	Generation     uint64
	Attached       bool
	Rooms          []string // sorted
	ReplayMsgs     int
	ReplayBytesLen int
}

// ResumeRequest carries a resume hello. The session resumes when it exists,
// has not expired, and either TokenHash matches the current token, or it
// matches the previous token and Attempt > 0 and Attempt is higher than the
// attempt that presented the previous token (protocol.md §5: this hello
// supersedes a stale one that got there first). It is unreplayable when
// LastSeq > S2CLast, or when some msg in (LastSeq, S2CLast] has been evicted.
type ResumeRequest struct {
	ID           string
	TokenHash    []byte
	Attempt      uint64
	LastSeq      uint64
	NewTokenHash []byte
	Owner        string
}

// ResumeOutcome is how a resume ended.
type ResumeOutcome int

const (
	// ResumeUnknown: no such session, expired, or the token does not match.
	// These are one outcome on purpose: a wrong token must not reveal that
	// the session exists.
	ResumeUnknown ResumeOutcome = iota
	// ResumeOK: the session continues (welcome resumed:true).
	ResumeOK
	// ResumeUnreplayable: the token matched but the replay range is gone (or
	// last_seq is beyond what was sent); the session was deleted.
	ResumeUnreplayable
)

// ResumeResult is what Resume did.
type ResumeResult struct {
	Outcome    ResumeOutcome
	Record     Record // after the resume (ResumeOK) or before deletion (ResumeUnreplayable)
	Superseded bool   // resumed with the previous token over a stale hello
	// The connection that held the session before, if one was attached: it
	// must be closed with 4009 by its owner.
	PrevAttached   bool
	PrevOwner      string
	PrevGeneration uint64
}

// Inbound is one client msg to commit, with its application effects.
type Inbound struct {
	Session  string
	Gen      uint64
	Seq      uint64
	Identity string
	MsgID    string
	Digest   uint64 // of the msg's data (DataDigest); with MsgID, the dedupe key
	Effects  []Effect
}

// InboundOutcome is how CommitInbound classified a msg.
type InboundOutcome int

const (
	InboundDelivered   InboundOutcome = iota // seq committed, effects applied
	InboundDuplicate                         // seq <= last: nothing changed
	InboundDuplicateID                       // seq committed, id seen before: effects dropped
	InboundGap                               // seq > last+1: nothing changed
)

// InboundResult is what CommitInbound did.
type InboundResult struct {
	Outcome InboundOutcome
	C2SLast uint64 // after the call
	Applied AppendResult
}

// EffectKind says what an Effect does.
type EffectKind int

const (
	// EffectSend appends a server msg (Data, optional ID) to Session.
	EffectSend EffectKind = iota
	// EffectBroadcast appends a server msg to every member of Room.
	EffectBroadcast
	// EffectJoin adds Session to Room.
	EffectJoin
	// EffectLeave removes Session from Room.
	EffectLeave
)

// Effect is one change an application makes: stored as data so a store can
// apply it inside the atomic step of a commit.
type Effect struct {
	Kind    EffectKind
	Session string
	Room    string
	Data    json.RawMessage // valid JSON
	ID      string          // optional server msg id (a relayed client id)
	HasID   bool
}

// AppendResult lists the sessions that got new server msgs, so their
// connections can be woken.
type AppendResult struct {
	Touched []Touched
}

// Touched is one session that got new msgs.
type Touched struct {
	Session     string
	Owner       string
	LastSeq     uint64
	ReplayFirst uint64 // lowest seq still in the replay buffer after the append
}

// AckOutcome is how Ack classified an ack.
type AckOutcome int

const (
	AckApplied    AckOutcome = iota // msgs up to seq left the buffer
	AckStale                        // seq <= acked: ignored
	AckOutOfRange                   // seq > last assigned: a violation
)

// AckResult is what Ack did.
type AckResult struct {
	Outcome  AckOutcome
	S2CAcked uint64
	S2CLast  uint64
}

// OutboundMsg is one server msg in the replay buffer.
type OutboundMsg struct {
	Seq   uint64
	ID    string
	HasID bool
	Data  json.RawMessage
}
