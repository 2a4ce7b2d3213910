package tether

import (
	"context"
	"crypto/subtle"
	"sort"
	"sync"
	"time"
)

// MemoryOptions bound a MemoryStore. Zero values take the defaults.
type MemoryOptions struct {
	ReplayMsgs  int           // server msgs kept per session (default 10000; negative: none)
	ReplayBytes int           // data bytes kept per session (default 64 MiB)
	ReplayAge   time.Duration // older unacked msgs are evicted (default: no limit)
	DedupeIDs   int           // client ids remembered per identity (default 100000)
	DedupeTTL   time.Duration // how long an id is remembered (default 10 min; keep it >= the session TTL)
	Now         func() time.Time
}

// MemoryStore is the default Store: everything in this process, behind one
// mutex, so each method is trivially atomic. It is lost when the process
// exits.
//
// Thread safety: all methods may be called concurrently.
type MemoryStore struct {
	opt      MemoryOptions
	mu       sync.Mutex
	sessions map[string]*memSession
	rooms    map[string]map[string]struct{}
	windows  map[string]*idWindow
	depth    int // msgs in all replay buffers
}

type memSession struct {
	rec       Record
	token     []byte
	prevToken []byte
	prevTry   uint64
	expires   time.Time // zero while attached
	replay    []memMsg  // contiguous, ends at rec.S2CLast
	bytes     int
	rooms     map[string]struct{}
}

type memMsg struct {
	OutboundMsg
	at time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(opt MemoryOptions) *MemoryStore {
	if opt.ReplayMsgs == 0 {
		opt.ReplayMsgs = 10000
	} else if opt.ReplayMsgs < 0 {
		opt.ReplayMsgs = 0
	}
	if opt.ReplayBytes <= 0 {
		opt.ReplayBytes = 64 << 20
	}
	if opt.DedupeIDs <= 0 {
		opt.DedupeIDs = 100000
	}
	if opt.DedupeTTL <= 0 {
		opt.DedupeTTL = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &MemoryStore{
		opt:      opt,
		sessions: make(map[string]*memSession),
		rooms:    make(map[string]map[string]struct{}),
		windows:  make(map[string]*idWindow),
	}
}

// ReplayDepth is the number of server msgs held in all replay buffers.
func (m *MemoryStore) ReplayDepth() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.depth
}

// Sessions is the number of sessions held.
func (m *MemoryStore) Sessions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

func (m *MemoryStore) Create(_ context.Context, n NewSession) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[n.ID]; ok {
		return Record{}, ErrExists
	}
	s := &memSession{
		rec:   Record{ID: n.ID, Identity: n.Identity, ReplayFirst: 1, Owner: n.Owner, Generation: 1, Attached: true},
		token: append([]byte(nil), n.TokenHash...),
		rooms: make(map[string]struct{}),
	}
	m.sessions[n.ID] = s
	return s.snapshot(), nil
}

// live returns the session unless it is missing or its TTL has run out. An
// expired session stays until Sweep removes and reports it.
func (m *MemoryStore) live(id string) *memSession {
	s := m.sessions[id]
	if s == nil || (!s.expires.IsZero() && !m.opt.Now().Before(s.expires)) {
		return nil
	}
	return s
}

func (m *MemoryStore) current(id string, gen uint64) (*memSession, error) {
	s := m.live(id)
	if s == nil {
		return nil, ErrNotFound
	}
	if s.rec.Generation != gen {
		return nil, ErrFenced
	}
	return s, nil
}

func (m *MemoryStore) Resume(_ context.Context, r ResumeRequest) (ResumeResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.live(r.ID)
	if s == nil {
		return ResumeResult{Outcome: ResumeUnknown}, nil
	}
	current := subtle.ConstantTimeCompare(s.token, r.TokenHash) == 1
	superseded := !current && r.Attempt > 0 && s.prevTry > 0 && r.Attempt > s.prevTry &&
		len(s.prevToken) > 0 && subtle.ConstantTimeCompare(s.prevToken, r.TokenHash) == 1
	if !current && !superseded {
		return ResumeResult{Outcome: ResumeUnknown}, nil
	}
	res := ResumeResult{PrevAttached: s.rec.Attached, PrevOwner: s.rec.Owner, PrevGeneration: s.rec.Generation}
	if r.LastSeq > s.rec.S2CLast || s.rec.S2CLast-r.LastSeq > uint64(len(s.replay)) {
		res.Outcome = ResumeUnreplayable
		res.Record = s.snapshot()
		m.remove(s)
		return res, nil
	}
	m.trim(s, r.LastSeq)
	s.prevToken = append(s.prevToken[:0], r.TokenHash...)
	s.prevTry = r.Attempt
	s.token = append([]byte(nil), r.NewTokenHash...)
	s.rec.Generation++
	s.rec.Owner = r.Owner
	s.rec.Attached = true
	s.expires = time.Time{}
	res.Outcome = ResumeOK
	res.Superseded = superseded
	res.Record = s.snapshot()
	return res, nil
}

func (m *MemoryStore) Detach(_ context.Context, id string, gen uint64, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.current(id, gen)
	if err != nil {
		return err
	}
	s.rec.Attached = false
	s.expires = m.opt.Now().Add(ttl)
	return nil
}

func (m *MemoryStore) Delete(_ context.Context, id string, gen uint64) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.current(id, gen)
	if err != nil {
		return Record{}, err
	}
	rec := s.snapshot()
	m.remove(s)
	return rec, nil
}

func (m *MemoryStore) SeenID(_ context.Context, identity, msgID string, digest uint64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.windows[identity]
	return w != nil && w.has(msgID, digest, m.opt.Now(), m.opt.DedupeTTL), nil
}

func (m *MemoryStore) CommitInbound(_ context.Context, batch []Inbound) ([]InboundResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]InboundResult, 0, len(batch))
	for _, in := range batch {
		res, err := m.commit(in)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func (m *MemoryStore) commit(in Inbound) (InboundResult, error) {
	s, err := m.current(in.Session, in.Gen)
	if err != nil {
		return InboundResult{}, err
	}
	switch {
	case in.Seq <= s.rec.C2SLast:
		return InboundResult{Outcome: InboundDuplicate, C2SLast: s.rec.C2SLast}, nil
	case in.Seq > s.rec.C2SLast+1:
		return InboundResult{Outcome: InboundGap, C2SLast: s.rec.C2SLast}, nil
	}
	s.rec.C2SLast = in.Seq
	now := m.opt.Now()
	w := m.windows[in.Identity]
	if w == nil {
		w = &idWindow{ids: make(map[string]seenID)}
		m.windows[in.Identity] = w
	}
	if w.has(in.MsgID, in.Digest, now, m.opt.DedupeTTL) {
		return InboundResult{Outcome: InboundDuplicateID, C2SLast: s.rec.C2SLast}, nil
	}
	w.add(in.MsgID, in.Digest, now, m.opt.DedupeIDs, m.opt.DedupeTTL)
	res := InboundResult{Outcome: InboundDelivered, C2SLast: s.rec.C2SLast}
	res.Applied = m.apply(in.Effects, now)
	return res, nil
}

func (m *MemoryStore) Append(_ context.Context, effects []Effect) (AppendResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.apply(effects, m.opt.Now()), nil
}

func (m *MemoryStore) Ack(_ context.Context, id string, gen uint64, seq uint64) (AckResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.current(id, gen)
	if err != nil {
		return AckResult{}, err
	}
	switch {
	case seq > s.rec.S2CLast:
		return AckResult{Outcome: AckOutOfRange, S2CAcked: s.rec.S2CAcked, S2CLast: s.rec.S2CLast}, nil
	case seq <= s.rec.S2CAcked:
		return AckResult{Outcome: AckStale, S2CAcked: s.rec.S2CAcked, S2CLast: s.rec.S2CLast}, nil
	}
	m.trim(s, seq)
	return AckResult{Outcome: AckApplied, S2CAcked: s.rec.S2CAcked, S2CLast: s.rec.S2CLast}, nil
}

func (m *MemoryStore) ReadOutbound(_ context.Context, id string, gen uint64, after uint64, maxMsgs, maxBytes int) ([]OutboundMsg, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.current(id, gen)
	if err != nil {
		return nil, err
	}
	if after >= s.rec.S2CLast {
		return nil, nil
	}
	if after+1 < s.rec.ReplayFirst {
		return nil, ErrEvicted
	}
	i := int(after + 1 - s.rec.ReplayFirst)
	var out []OutboundMsg
	bytes := 0
	for ; i < len(s.replay) && len(out) < maxMsgs && (len(out) == 0 || bytes < maxBytes); i++ {
		out = append(out, s.replay[i].OutboundMsg)
		bytes += len(s.replay[i].Data)
	}
	return out, nil
}

func (m *MemoryStore) Get(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.live(id)
	if s == nil {
		return Record{}, ErrNotFound
	}
	return s.snapshot(), nil
}

func (m *MemoryStore) Sweep(_ context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opt.Now()
	var out []Record
	for _, s := range m.sessions {
		if !s.expires.IsZero() && !now.Before(s.expires) {
			out = append(out, s.snapshot())
			m.remove(s)
		}
	}
	for identity, w := range m.windows {
		w.expire(now, m.opt.DedupeTTL)
		if len(w.ids) == 0 {
			delete(m.windows, identity)
		}
	}
	return out, nil
}

// ---- helpers; m.mu held

func (m *MemoryStore) apply(effects []Effect, now time.Time) AppendResult {
	var res AppendResult
	for _, e := range effects {
		switch e.Kind {
		case EffectSend:
			if s := m.live(e.Session); s != nil {
				res.Touched = append(res.Touched, m.push(s, e, now))
			}
		case EffectBroadcast:
			members := make([]string, 0, len(m.rooms[e.Room]))
			for id := range m.rooms[e.Room] {
				members = append(members, id)
			}
			sort.Strings(members)
			for _, id := range members {
				if s := m.live(id); s != nil {
					res.Touched = append(res.Touched, m.push(s, e, now))
				}
			}
		case EffectJoin:
			if s := m.live(e.Session); s != nil {
				s.rooms[e.Room] = struct{}{}
				if m.rooms[e.Room] == nil {
					m.rooms[e.Room] = make(map[string]struct{})
				}
				m.rooms[e.Room][s.rec.ID] = struct{}{}
			}
		case EffectLeave:
			if s := m.live(e.Session); s != nil {
				delete(s.rooms, e.Room)
				m.leave(e.Room, s.rec.ID)
			}
		}
	}
	return res
}

func (m *MemoryStore) push(s *memSession, e Effect, now time.Time) Touched {
	s.rec.S2CLast++
	s.replay = append(s.replay, memMsg{OutboundMsg{Seq: s.rec.S2CLast, ID: e.ID, HasID: e.HasID, Data: e.Data}, now})
	s.bytes += len(e.Data)
	m.depth++
	for len(s.replay) > 0 && (len(s.replay) > m.opt.ReplayMsgs || s.bytes > m.opt.ReplayBytes ||
		(m.opt.ReplayAge > 0 && now.Sub(s.replay[0].at) > m.opt.ReplayAge)) {
		m.dropFirst(s)
	}
	s.rec.ReplayFirst = s.rec.S2CLast + 1 - uint64(len(s.replay))
	return Touched{Session: s.rec.ID, Owner: s.rec.Owner, LastSeq: s.rec.S2CLast, ReplayFirst: s.rec.ReplayFirst}
}

func (m *MemoryStore) dropFirst(s *memSession) {
	s.bytes -= len(s.replay[0].Data)
	s.replay[0] = memMsg{}
	s.replay = s.replay[1:]
	m.depth--
}

// trim drops msgs up to seq: the client has them.
func (m *MemoryStore) trim(s *memSession, seq uint64) {
	for len(s.replay) > 0 && s.replay[0].Seq <= seq {
		m.dropFirst(s)
	}
	if len(s.replay) == 0 {
		s.replay = nil // let a burst's backing array go
	}
	if seq > s.rec.S2CAcked {
		s.rec.S2CAcked = seq
	}
	s.rec.ReplayFirst = s.rec.S2CLast + 1 - uint64(len(s.replay))
}

func (m *MemoryStore) remove(s *memSession) {
	for room := range s.rooms {
		m.leave(room, s.rec.ID)
	}
	m.depth -= len(s.replay)
	delete(m.sessions, s.rec.ID)
}

func (m *MemoryStore) leave(room, id string) {
	if members := m.rooms[room]; members != nil {
		delete(members, id)
		if len(members) == 0 {
			delete(m.rooms, room)
		}
	}
}

func (s *memSession) snapshot() Record {
	r := s.rec
	r.Rooms = make([]string, 0, len(s.rooms))
	for room := range s.rooms {
		r.Rooms = append(r.Rooms, room)
	}
	sort.Strings(r.Rooms)
	r.ReplayMsgs = len(s.replay)
	r.ReplayBytesLen = s.bytes
	return r
}

// idWindow remembers recent client message ids of one identity, each with
// the digest of its data: at most max of them (the oldest go first), each
// for ttl.
type idWindow struct {
	ids   map[string]seenID
	order []string // insertion order; an id re-added with new data appears twice
}

type seenID struct {
	at     time.Time
	digest uint64
}

func (w *idWindow) has(id string, digest uint64, now time.Time, ttl time.Duration) bool {
	e, ok := w.ids[id]
	return ok && e.digest == digest && now.Sub(e.at) < ttl
}

func (w *idWindow) add(id string, digest uint64, now time.Time, max int, ttl time.Duration) {
	w.expire(now, ttl)
	w.ids[id] = seenID{at: now, digest: digest}
	w.order = append(w.order, id)
	for len(w.ids) > max && len(w.order) > 0 {
		delete(w.ids, w.order[0])
		w.order = w.order[1:]
	}
}

func (w *idWindow) expire(now time.Time, ttl time.Duration) {
	for len(w.order) > 0 {
		e, ok := w.ids[w.order[0]]
		if ok && now.Sub(e.at) < ttl {
			return
		}
		delete(w.ids, w.order[0])
		w.order = w.order[1:]
	}
}
