package tether

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisOptions configure a RedisStore. Zero values take the defaults.
type RedisOptions struct {
	URL    string      // redis://HOST:PORT/DB (required unless Pool is set)
	Pool   *redis.Pool // use this pool instead of dialing URL
	Prefix string      // key prefix (default "tether:")
	// The replay buffer and dedupe window bounds and the clock, with the
	// same meaning and defaults as for a MemoryStore.
	MemoryOptions
	// Keep is how long Redis keeps a session's keys after their last touch
	// (default DedupeTTL + 1 min): the backstop that frees sessions whose
	// owner died while they were attached and whose client never came back.
	// An attached session is touched at least once per heartbeat.
	Keep time.Duration
	// Instance is this instance's id (Config.InstanceID): msgs it appends to
	// sessions it holds itself need no Pub/Sub notification. Empty: notify
	// every owner.
	Instance string
}

// RedisStore is a Store shared by every instance of a cluster: sessions,
// replay buffers and id-dedupe windows live in one Redis (7 or later), and
// each method is one Lua script, so Redis applies it atomically. It also
// implements Notifier over Redis Pub/Sub, so an instance learns at once when
// another one appended msgs to a session it holds or took one over.
// docs/scale-out.md describes the keys and scripts.
//
// Thread safety: all methods may be called concurrently.
type RedisStore struct {
	opt  RedisOptions
	pool *redis.Pool
	own  bool // the pool is ours to close

	create, resume, detach, del, commit, append_, ack, read, get, sweep *redis.Script
}

// NewRedisStore connects to opt.URL (or uses opt.Pool) and checks that Redis
// answers.
func NewRedisStore(opt RedisOptions) (*RedisStore, error) {
	if opt.Prefix == "" {
		opt.Prefix = "tether:"
	}
	opt.MemoryOptions = opt.MemoryOptions.withDefaults()
	if opt.Keep <= 0 {
		opt.Keep = opt.DedupeTTL + time.Minute
	}
	r := &RedisStore{opt: opt, pool: opt.Pool}
	if r.pool == nil {
		if opt.URL == "" {
			return nil, errors.New("tether: RedisOptions needs URL or Pool")
		}
		url := opt.URL
		r.pool = &redis.Pool{
			MaxIdle:     128,
			IdleTimeout: time.Minute,
			Dial: func() (redis.Conn, error) {
				return redis.DialURL(url, redis.DialConnectTimeout(2*time.Second),
					redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
			},
			TestOnBorrow: func(c redis.Conn, t time.Time) error {
				if time.Since(t) < 10*time.Second {
					return nil
				}
				_, err := c.Do("PING")
				return err
			},
		}
		r.own = true
	}
	r.create = redis.NewScript(3, luaCreate)
	r.resume = redis.NewScript(3, luaResume)
	r.detach = redis.NewScript(3, luaDetach)
	r.del = redis.NewScript(3, luaDelete)
	r.commit = redis.NewScript(4, luaCommit)
	r.append_ = redis.NewScript(0, luaAppend)
	r.ack = redis.NewScript(3, luaAck)
	r.read = redis.NewScript(3, luaRead)
	r.get = redis.NewScript(3, luaGet)
	r.sweep = redis.NewScript(0, luaSweep)
	c := r.pool.Get()
	defer c.Close()
	if _, err := c.Do("PING"); err != nil {
		if r.own {
			r.pool.Close()
		}
		return nil, fmt.Errorf("tether: redis: %w", err)
	}
	return r, nil
}

// Close releases the connections (if the store dialed them).
func (r *RedisStore) Close() error {
	if r.own {
		return r.pool.Close()
	}
	return nil
}

func (r *RedisStore) key(sid, suffix string) string {
	return r.opt.Prefix + "{" + sid + "}:" + suffix
}

// run evaluates script with the session's three keys (if sid != "") and
// the common ARGV head (prefix, now, keep).
func (r *RedisStore) run(ctx context.Context, s *redis.Script, keys []string, args ...interface{}) (interface{}, error) {
	c, err := r.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	kv := make([]interface{}, 0, len(keys)+3+len(args))
	for _, k := range keys {
		kv = append(kv, k)
	}
	kv = append(kv, r.opt.Prefix, r.opt.Now().UnixMilli(), r.opt.Keep.Milliseconds())
	kv = append(kv, args...)
	return s.Do(c, kv...)
}

// runStatus runs a script whose reply is {status, ...}: the status word
// becomes an error, and the rest is returned (at least want elements).
func (r *RedisStore) runStatus(ctx context.Context, s *redis.Script, keys []string, want int, args ...interface{}) ([]interface{}, error) {
	v, err := r.run(ctx, s, keys, args...)
	if err != nil {
		return nil, err
	}
	vals, err := redis.Values(v, nil)
	if err != nil || len(vals) == 0 {
		return nil, fmt.Errorf("tether: redis: bad reply: %v", err)
	}
	if err := status(vals[0]); err != nil {
		return nil, err
	}
	if len(vals) < want {
		return nil, fmt.Errorf("tether: redis: %d elements in a reply, want %d", len(vals), want)
	}
	return vals, nil
}

func (r *RedisStore) sessionKeys(sid string) []string {
	return []string{r.key(sid, "s"), r.key(sid, "r"), r.key(sid, "m")}
}

func (r *RedisStore) limits() []interface{} {
	return []interface{}{r.opt.ReplayMsgs, r.opt.ReplayBytes, r.opt.ReplayAge.Milliseconds(), r.opt.DedupeTTL.Milliseconds()}
}

// status turns a script's status word into an error.
func status(v interface{}) error {
	s, ok := v.([]byte)
	if !ok {
		return nil
	}
	switch string(s) {
	case "OK":
		return nil
	case "NOTFOUND":
		return ErrNotFound
	case "FENCED":
		return ErrFenced
	case "EVICTED":
		return ErrEvicted
	case "EXISTS":
		return ErrExists
	}
	return fmt.Errorf("tether: redis script said %q", s)
}

// parseRecord reads snap(): {HGETALL, SMEMBERS}.
func parseRecord(v interface{}) (Record, error) {
	parts, err := redis.Values(v, nil)
	if err != nil || len(parts) != 2 {
		return Record{}, fmt.Errorf("tether: redis: bad record reply: %v", err)
	}
	h, err := redis.StringMap(parts[0], nil)
	if err != nil {
		return Record{}, err
	}
	rooms, err := redis.Strings(parts[1], nil)
	if err != nil {
		return Record{}, err
	}
	sort.Strings(rooms)
	u := func(k string) uint64 { n, _ := strconv.ParseUint(h[k], 10, 64); return n }
	rec := Record{
		ID: h["id"], Identity: h["ident"], C2SLast: u("c2s"), S2CLast: u("s2c"), S2CAcked: u("ack"),
		ReplayFirst: u("first"), Owner: h["owner"], Generation: u("gen"), Attached: h["att"] == "1",
		Rooms: rooms, ReplayMsgs: int(u("n")), ReplayBytesLen: int(u("b")),
	}
	return rec, nil
}

func (r *RedisStore) Create(ctx context.Context, n NewSession) (Record, error) {
	v, err := r.run(ctx, r.create, r.sessionKeys(n.ID), n.ID, n.Identity, n.TokenHash, n.Owner)
	if err != nil {
		return Record{}, err
	}
	if err := status(v); err != nil {
		return Record{}, err
	}
	return parseRecord(v)
}

func (r *RedisStore) Resume(ctx context.Context, q ResumeRequest) (ResumeResult, error) {
	v, err := r.run(ctx, r.resume, r.sessionKeys(q.ID), q.ID, q.TokenHash, q.Attempt, q.LastSeq, q.NewTokenHash, q.Owner)
	if err != nil {
		return ResumeResult{}, err
	}
	vals, err := redis.Values(v, nil)
	if err != nil || len(vals) == 0 {
		return ResumeResult{}, fmt.Errorf("tether: redis: bad resume reply: %v", err)
	}
	outcome, _ := redis.Int(vals[0], nil)
	if outcome == 0 || len(vals) < 6 {
		return ResumeResult{Outcome: ResumeUnknown}, nil
	}
	sup, _ := redis.Int(vals[1], nil)
	prevAtt, _ := redis.Int(vals[2], nil)
	prevOwner, _ := redis.String(vals[3], nil)
	prevGen, _ := redis.Uint64(vals[4], nil)
	rec, err := parseRecord(vals[5])
	if err != nil {
		return ResumeResult{}, err
	}
	res := ResumeResult{Record: rec, PrevAttached: prevAtt == 1, PrevOwner: prevOwner, PrevGeneration: prevGen}
	if outcome == 2 {
		res.Outcome = ResumeUnreplayable
		return res, nil
	}
	res.Outcome = ResumeOK
	res.Superseded = sup == 1
	return res, nil
}

func (r *RedisStore) Detach(ctx context.Context, id string, gen uint64, ttl time.Duration) error {
	v, err := r.run(ctx, r.detach, r.sessionKeys(id), id, gen, ttl.Milliseconds())
	if err != nil {
		return err
	}
	return status(v)
}

func (r *RedisStore) Delete(ctx context.Context, id string, gen uint64) (Record, error) {
	v, err := r.run(ctx, r.del, r.sessionKeys(id), id, gen)
	if err != nil {
		return Record{}, err
	}
	if err := status(v); err != nil {
		return Record{}, err
	}
	return parseRecord(v)
}

func (r *RedisStore) idsKey(identity string) string {
	return r.opt.Prefix + "ids:{" + identity + "}"
}

func (r *RedisStore) SeenID(ctx context.Context, identity, msgID string, digest uint64) (bool, error) {
	c, err := r.pool.GetContext(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close()
	// ZMSCORE, not ZSCORE: the scripts use ZSCORE, so INFO commandstats tells
	// these round trips apart.
	v, err := redis.Values(c.Do("ZMSCORE", r.idsKey(identity), msgID+":"+strconv.FormatUint(digest, 10)))
	if err != nil || len(v) != 1 || v[0] == nil {
		return false, err
	}
	at, err := redis.Int64(v[0], nil)
	if err != nil {
		return false, err
	}
	return r.opt.Now().UnixMilli()-at < r.opt.DedupeTTL.Milliseconds(), nil
}

func effectArgs(args []interface{}, effects []Effect) []interface{} {
	for _, e := range effects {
		var kind string
		switch e.Kind {
		case EffectSend:
			kind = "send"
		case EffectBroadcast:
			kind = "bcast"
		case EffectJoin:
			kind = "join"
		case EffectLeave:
			kind = "leave"
		}
		hasID := "0"
		if e.HasID {
			hasID = "1"
		}
		args = append(args, kind, e.Session, e.Room, []byte(e.Data), e.ID, hasID)
	}
	return args
}

func parseTouched(v interface{}) (AppendResult, error) {
	vals, err := redis.Values(v, nil)
	if err != nil {
		return AppendResult{}, err
	}
	var res AppendResult
	for i := 0; i+3 < len(vals); i += 4 {
		sid, _ := redis.String(vals[i], nil)
		owner, _ := redis.String(vals[i+1], nil)
		seq, _ := redis.Uint64(vals[i+2], nil)
		first, _ := redis.Uint64(vals[i+3], nil)
		res.Touched = append(res.Touched, Touched{Session: sid, Owner: owner, LastSeq: seq, ReplayFirst: first})
	}
	return res, nil
}

// gauge reads one field of the stats hash (0 when Redis does not answer).
func (r *RedisStore) gauge(field string) int {
	c := r.pool.Get()
	defer c.Close()
	n, _ := redis.Int(c.Do("HGET", r.opt.Prefix+"stats", field))
	return n
}

// Sessions is the number of sessions in Redis (all instances'). A session
// whose keys Redis expired by itself (see RedisOptions.Keep) stays counted.
func (r *RedisStore) Sessions() int { return r.gauge("sessions") }

// ReplayDepth is the number of server msgs in all replay buffers, counted
// the same way.
func (r *RedisStore) ReplayDepth() int { return r.gauge("depth") }

// CommitInbound commits a batch of msgs of one session (same Session, Gen and
// Identity: what a connection queues) in one script. The effects applied are
// all reported in the first result's Applied.
func (r *RedisStore) CommitInbound(ctx context.Context, ins []Inbound) ([]InboundResult, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	first := ins[0]
	keys := append(r.sessionKeys(first.Session), r.idsKey(first.Identity))
	args := append(r.limits(), first.Session, first.Gen, r.opt.Instance, r.opt.DedupeIDs, len(ins))
	for _, in := range ins {
		if in.Session != first.Session || in.Gen != first.Gen || in.Identity != first.Identity {
			return nil, errors.New("tether: a commit batch spans sessions")
		}
		args = append(args, in.Seq, in.MsgID, strconv.FormatUint(in.Digest, 10), len(in.Effects))
		args = effectArgs(args, in.Effects)
	}
	vals, err := r.runStatus(ctx, r.commit, keys, 5, args...)
	if err != nil {
		return nil, err
	}
	outcomes, err := redis.Ints(vals[2], nil)
	if err != nil {
		return nil, err
	}
	after, err := redis.Int64s(vals[4], nil) // (this redigo's Uint64s refuses integer replies)
	if err != nil {
		return nil, err
	}
	applied, err := parseTouched(vals[3])
	if err != nil {
		return nil, err
	}
	if len(outcomes) != len(ins) || len(after) != len(ins) {
		return nil, fmt.Errorf("tether: redis: %d outcomes for %d msgs", len(outcomes), len(ins))
	}
	out := make([]InboundResult, len(ins))
	for i := range out {
		out[i] = InboundResult{Outcome: [...]InboundOutcome{InboundDelivered, InboundDuplicate, InboundDuplicateID, InboundGap}[outcomes[i]], C2SLast: uint64(after[i])}
	}
	out[0].Applied = applied
	return out, nil
}

func (r *RedisStore) Append(ctx context.Context, effects []Effect) (AppendResult, error) {
	args := append(r.limits(), r.opt.Instance)
	v, err := r.run(ctx, r.append_, nil, effectArgs(args, effects)...)
	if err != nil {
		return AppendResult{}, err
	}
	return parseTouched(v)
}

func (r *RedisStore) Ack(ctx context.Context, id string, gen uint64, seq uint64) (AckResult, error) {
	vals, err := r.runStatus(ctx, r.ack, r.sessionKeys(id), 4, id, gen, seq)
	if err != nil {
		return AckResult{}, err
	}
	o, _ := redis.Int(vals[1], nil)
	acked, _ := redis.Uint64(vals[2], nil)
	last, _ := redis.Uint64(vals[3], nil)
	return AckResult{Outcome: [...]AckOutcome{AckApplied, AckStale, AckOutOfRange}[o], S2CAcked: acked, S2CLast: last}, nil
}

func (r *RedisStore) ReadOutbound(ctx context.Context, id string, gen uint64, after uint64, maxMsgs, maxBytes int) ([]OutboundMsg, error) {
	if maxMsgs <= 0 {
		maxMsgs = 1
	}
	vals, err := r.runStatus(ctx, r.read, r.sessionKeys(id), 2, id, gen, after, maxMsgs)
	if err != nil {
		return nil, err
	}
	flat, err := redis.Values(vals[1], nil)
	if err != nil {
		return nil, err
	}
	var out []OutboundMsg
	bytes := 0
	for i := 0; i+3 < len(flat) && (len(out) == 0 || bytes < maxBytes); i += 4 {
		seqText, _ := redis.String(flat[i], nil)
		seq, _ := strconv.ParseUint(seqText, 10, 64)
		data, _ := redis.Bytes(flat[i+1], nil)
		hasID, _ := redis.String(flat[i+2], nil)
		msgID, _ := redis.String(flat[i+3], nil)
		out = append(out, OutboundMsg{Seq: seq, ID: msgID, HasID: hasID == "1", Data: data})
		bytes += len(data)
	}
	return out, nil
}

func (r *RedisStore) Get(ctx context.Context, id string) (Record, error) {
	v, err := r.run(ctx, r.get, r.sessionKeys(id), id)
	if err != nil {
		return Record{}, err
	}
	if err := status(v); err != nil {
		return Record{}, err
	}
	return parseRecord(v)
}

func (r *RedisStore) Sweep(ctx context.Context) ([]Record, error) {
	var out []Record
	for {
		v, err := r.run(ctx, r.sweep, nil, 256)
		if err != nil {
			return out, err
		}
		vals, err := redis.Values(v, nil)
		if err != nil {
			return out, err
		}
		for _, x := range vals {
			rec, err := parseRecord(x)
			if err != nil {
				return out, err
			}
			out = append(out, rec)
		}
		if len(vals) < 256 {
			return out, nil
		}
	}
}

// ---- Notifier over Pub/Sub

// Listen subscribes to this instance's channel until stop is called: "W"
// messages wake the named sessions' connections, "T" messages close a
// connection whose session was taken over elsewhere. After every
// (re)subscription it calls resync, because notifications sent while the
// subscription was down are lost (the replay buffer still has the msgs, and
// each connection also re-reads it every heartbeat).
func (r *RedisStore) Listen(instance string, n Notifications) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		backoff := 50 * time.Millisecond
		for ctx.Err() == nil {
			if r.listenOnce(ctx, l, r.opt.Prefix+"inst:"+instance, n) {
				backoff = 50 * time.Millisecond
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			if backoff < time.Second {
				backoff *= 2
			}
		}
	}()
	return func() {
		cancel()
		l.close()
		wg.Wait()
	}
}

// listener holds the current subscription connection, so that stop can
// close it and end a blocked Receive.
type listener struct {
	mu     sync.Mutex
	conn   redis.Conn
	closed bool
}

func (l *listener) set(c redis.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = c
	return !l.closed
}

func (l *listener) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.conn != nil {
		l.conn.Close()
	}
}

// listenOnce runs one subscription until it fails or ctx ends; true if it
// got as far as subscribing.
func (r *RedisStore) listenOnce(ctx context.Context, l *listener, channel string, n Notifications) bool {
	c, err := r.pool.Dial()
	if err != nil {
		return false
	}
	psc := redis.PubSubConn{Conn: c}
	defer psc.Close()
	if !l.set(c) || psc.Subscribe(channel) != nil {
		return false
	}
	subscribed := false
	for ctx.Err() == nil {
		switch m := psc.ReceiveWithTimeout(0).(type) {
		case redis.Subscription:
			if m.Kind == "subscribe" && !subscribed {
				subscribed = true
				if n.Resync != nil {
					n.Resync()
				}
			}
		case redis.Message:
			handleNotification(string(m.Data), n)
		case error:
			return subscribed
		}
	}
	return subscribed
}

func handleNotification(msg string, n Notifications) {
	f := strings.Fields(msg)
	if len(f) == 0 {
		return
	}
	switch f[0] {
	case "W":
		if n.Wake != nil {
			for _, sid := range f[1:] {
				n.Wake(sid)
			}
		}
	case "T":
		if len(f) == 3 && n.TakenOver != nil {
			gen, err := strconv.ParseUint(f[2], 10, 64)
			if err == nil {
				n.TakenOver(f[1], gen)
			}
		}
	}
}
