package tether

// The Lua scripts of RedisStore: each Store method is one script, so Redis
// runs it atomically. Keys, for prefix P and session S (docs/scale-out.md):
//
//	P{S}:s    HASH   the record: id ident tok ptok ptry c2s s2c ack first
//	                 owner gen att exp n b cb
//	P{S}:r    STREAM the replay buffer; entry id "<seq>-0", fields d (data),
//	                 c (bytes appended so far), t (ms), i (msg id, optional)
//	P{S}:m    SET    the session's rooms
//	Proom:R   SET    the room's sessions
//	Pids:{I}  ZSET   client msg id -> ms, the id-dedupe window of identity I
//	Pexpiry   ZSET   detached session -> ms it expires at (for Sweep)
//	Pstats    HASH   sessions, depth (msgs in all replay buffers): gauges
//	Pinst:O   Pub/Sub channel of instance O: "W s1 s2 ..." (new msgs),
//	                 "T S gen" (taken over)
//
// Every script gets ARGV[1] = P and ARGV[2] = now (ms, the Store's clock), and
// ARGV[3] = keep (ms): how long Redis itself keeps a session's keys after its
// last touch, a backstop behind the logical expiry the scripts check. The
// session's own keys are declared in KEYS (one hash slot, thanks to {S});
// scripts that reach other sessions (effects, broadcast, sweep) build those
// keys themselves, which a single Redis primary allows.
//
// Token hashes are compared with Lua's ==: they are SHA-256 outputs, so a
// client cannot steer their bytes and comparison timing reveals nothing.
const luaPrelude = `
local P = ARGV[1]
local now = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local function K(sid, suffix) return P .. '{' .. sid .. '}:' .. suffix end

-- 'NOTFOUND', 'FENCED' or nil (current); gen nil: only liveness
local function check(sid, gen)
  local v = redis.call('HMGET', K(sid, 's'), 'att', 'exp', 'gen')
  if not v[1] or (v[1] ~= '1' and tonumber(v[2]) <= now) then return 'NOTFOUND' end
  if gen and v[3] ~= gen then return 'FENCED' end
  return nil
end

local function snap(sid)
  return {redis.call('HGETALL', K(sid, 's')), redis.call('SMEMBERS', K(sid, 'm'))}
end

local function remove(sid)
  local n = tonumber(redis.call('HGET', K(sid, 's'), 'n') or '0')
  redis.call('HINCRBY', P .. 'stats', 'sessions', -1)
  redis.call('HINCRBY', P .. 'stats', 'depth', 0 - n)
  for _, room in ipairs(redis.call('SMEMBERS', K(sid, 'm'))) do
    redis.call('SREM', P .. 'room:' .. room, sid)
  end
  redis.call('DEL', K(sid, 's'), K(sid, 'r'), K(sid, 'm'))
  redis.call('ZREM', P .. 'expiry', sid)
end

local function refresh(sid)
  redis.call('PEXPIRE', K(sid, 's'), keep)
  redis.call('PEXPIRE', K(sid, 'r'), keep)
  redis.call('PEXPIRE', K(sid, 'm'), keep)
end

local function fields(e)
  local f = {}
  for i = 1, #e, 2 do f[e[i]] = e[i + 1] end
  return f
end

-- after the buffer lost its head: recount n, b, first
local function recount(sid)
  local k, r = K(sid, 's'), K(sid, 'r')
  local n = redis.call('XLEN', r)
  local b = 0
  if n > 0 then
    local f = fields(redis.call('XRANGE', r, '-', '+', 'COUNT', 1)[1][2])
    b = tonumber(redis.call('HGET', k, 'cb')) - (tonumber(f.c) - #f.d)
  end
  local v = redis.call('HMGET', k, 's2c', 'n')
  redis.call('HINCRBY', P .. 'stats', 'depth', n - tonumber(v[2]))
  redis.call('HSET', k, 'n', n, 'b', b, 'first', tonumber(v[1]) + 1 - n)
end

-- drop msgs up to seq (the client has them)
local function trim(sid, seq)
  local k = K(sid, 's')
  redis.call('XTRIM', K(sid, 'r'), 'MINID', (seq + 1) .. '-0')
  if seq > tonumber(redis.call('HGET', k, 'ack')) then redis.call('HSET', k, 'ack', seq) end
  recount(sid)
end
`

// luaEffects applies effects ARGV[i..] (6 per effect: kind session room data
// id hasid) for caller instance `caller`; touched and notify collect what the
// caller and other owners must be told. Limits: ARGV[4..7] = replay msgs,
// replay bytes, replay age ms (0: none), dedupe ttl ms.
const luaEffects = `
local maxMsgs, maxBytes, maxAge = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local function push(sid, data, id, hasid, caller, touched, notify)
  local k, r = K(sid, 's'), K(sid, 'r')
  local s2c = redis.call('HINCRBY', k, 's2c', 1)
  local cb = redis.call('HINCRBY', k, 'cb', #data)
  if hasid == '1' then
    redis.call('XADD', r, s2c .. '-0', 'd', data, 'c', cb, 't', now, 'i', id)
  else
    redis.call('XADD', r, s2c .. '-0', 'd', data, 'c', cb, 't', now)
  end
  local n = redis.call('HINCRBY', k, 'n', 1)
  local b = redis.call('HINCRBY', k, 'b', #data)
  local n0 = n
  while n > 0 do
    local over = n > maxMsgs or b > maxBytes
    local e
    if not over and maxAge > 0 then
      e = redis.call('XRANGE', r, '-', '+', 'COUNT', 1)[1]
      over = now - tonumber(fields(e[2]).t) > maxAge
    end
    if not over then break end
    e = e or redis.call('XRANGE', r, '-', '+', 'COUNT', 1)[1]
    redis.call('XDEL', r, e[1])
    n = n - 1
    b = b - #fields(e[2]).d
  end
  redis.call('HSET', k, 'n', n, 'b', b, 'first', s2c + 1 - n)
  redis.call('HINCRBY', P .. 'stats', 'depth', 1 - (n0 - n))
  local v = redis.call('HMGET', k, 'owner', 'att')
  touched[#touched + 1] = sid
  touched[#touched + 1] = v[1]
  touched[#touched + 1] = s2c
  touched[#touched + 1] = s2c + 1 - n
  if v[2] == '1' and v[1] ~= caller then
    local o = notify[v[1]]
    if not o then o = {}; notify[v[1]] = o end
    if not o[sid] then o[sid] = true; o[#o + 1] = sid end
  end
end

local function apply(first, last, caller, touched, notify)
  for i = first, last, 6 do
    local kind, sid, room = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if kind == 'send' then
      if not check(sid) then push(sid, ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], caller, touched, notify) end
    elseif kind == 'bcast' then
      local members = redis.call('SMEMBERS', P .. 'room:' .. room)
      table.sort(members)
      for _, m in ipairs(members) do
        if not check(m) then
          push(m, ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], caller, touched, notify)
        elseif redis.call('EXISTS', K(m, 's')) == 0 then
          redis.call('SREM', P .. 'room:' .. room, m)
        end
      end
    elseif kind == 'join' then
      if not check(sid) then
        redis.call('SADD', K(sid, 'm'), room)
        redis.call('PEXPIRE', K(sid, 'm'), keep)
        redis.call('SADD', P .. 'room:' .. room, sid)
      end
    elseif kind == 'leave' then
      if not check(sid) then
        redis.call('SREM', K(sid, 'm'), room)
        redis.call('SREM', P .. 'room:' .. room, sid)
      end
    end
  end
end

local function publish(notify)
  for owner, sids in pairs(notify) do redis.call('PUBLISH', P .. 'inst:' .. owner, 'W ' .. table.concat(sids, ' ')) end
end
`

// KEYS: s r m. ARGV[4..]: id ident tok owner. Returns 'EXISTS' or the record.
const luaCreate = luaPrelude + `
local sid = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 1 then return 'EXISTS' end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'id', sid, 'ident', ARGV[5], 'tok', ARGV[6], 'ptok', '', 'ptry', 0,
  'c2s', 0, 's2c', 0, 'ack', 0, 'first', 1, 'owner', ARGV[7], 'gen', 1, 'att', 1, 'exp', 0,
  'n', 0, 'b', 0, 'cb', 0)
redis.call('HINCRBY', P .. 'stats', 'sessions', 1)
redis.call('XADD', KEYS[2], '0-1', 'd', '')
redis.call('XDEL', KEYS[2], '0-1')
refresh(sid)
return snap(sid)
`

// KEYS: s r m. ARGV[4..]: id tokhash attempt last_seq newtok owner.
// Returns {outcome, superseded, prev_att, prev_owner, prev_gen, snap}:
// outcome 0 unknown, 1 ok, 2 unreplayable (deleted).
const luaResume = luaPrelude + `
local sid, tok, attempt, last = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
if check(sid) then return {0} end
local v = redis.call('HMGET', KEYS[1], 'tok', 'ptok', 'ptry', 's2c', 'n', 'owner', 'gen', 'att')
local current = v[1] == tok
local ptry = tonumber(v[3])
local superseded = not current and attempt > 0 and ptry > 0 and attempt > ptry and v[2] ~= '' and v[2] == tok
if not current and not superseded then return {0} end
local s2c, n = tonumber(v[4]), tonumber(v[5])
local prevAtt = v[8] == '1' and 1 or 0
if last > s2c or s2c - last > n then
  local s = snap(sid)
  remove(sid)
  return {2, 0, prevAtt, v[6], v[7], s}
end
trim(sid, last)
redis.call('HSET', KEYS[1], 'ptok', tok, 'ptry', attempt, 'tok', ARGV[8], 'owner', ARGV[9], 'att', 1, 'exp', 0)
redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('ZREM', P .. 'expiry', sid)
refresh(sid)
if prevAtt == 1 and v[6] ~= ARGV[9] then
  redis.call('PUBLISH', P .. 'inst:' .. v[6], 'T ' .. sid .. ' ' .. v[7])
end
return {1, superseded and 1 or 0, prevAtt, v[6], v[7], snap(sid)}
`

// KEYS: s r m. ARGV[4..]: id gen ttl.
const luaDetach = luaPrelude + `
local sid = ARGV[4]
local err = check(sid, ARGV[5])
if err then return err end
local exp = now + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'att', 0, 'exp', exp)
redis.call('ZADD', P .. 'expiry', exp, sid)
refresh(sid)
return 'OK'
`

// KEYS: s r m. ARGV[4..]: id gen. Returns the record before deletion.
const luaDelete = luaPrelude + `
local sid = ARGV[4]
local err = check(sid, ARGV[5])
if err then return err end
local s = snap(sid)
remove(sid)
return s
`

// KEYS: s r m ids. ARGV[4..7] limits, ARGV[8..]: id gen caller dedupe_max
// count, then per msg: seq msgid digest neffects, then 6 args per effect.
// Returns {status, c2s, {outcome per msg}, {touched: sid owner seq first ...}};
// outcomes 0 delivered, 1 duplicate, 2 duplicate id, 3 gap. The window's
// members are "<msgid>:<digest>": the same id with other data is new.
// Also returns c2s after each msg (5th element).
const luaCommit = luaPrelude + luaEffects + `
local sid, caller, ttl = ARGV[8], ARGV[10], tonumber(ARGV[7])
local err = check(sid, ARGV[9])
if err then return {err} end
local dmax, count = tonumber(ARGV[11]), tonumber(ARGV[12])
local c2s = tonumber(redis.call('HGET', KEYS[1], 'c2s'))
local outcomes, after, touched, notify = {}, {}, {}, {}
local i = 13
local windowSwept = false
for m = 1, count do
  local seq, member, ne = tonumber(ARGV[i]), ARGV[i + 1] .. ':' .. ARGV[i + 2], tonumber(ARGV[i + 3])
  local first, last = i + 4, i + 3 + 6 * ne
  i = last + 1
  if seq <= c2s then
    outcomes[m] = 1
  elseif seq > c2s + 1 then
    outcomes[m] = 3
  else
    c2s = seq
    if not windowSwept then
      redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - ttl)
      windowSwept = true
    end
    if redis.call('ZSCORE', KEYS[4], member) then
      outcomes[m] = 2
    else
      redis.call('ZADD', KEYS[4], now, member)
      outcomes[m] = 0
      apply(first, last, caller, touched, notify)
    end
  end
  after[m] = c2s
end
redis.call('HSET', KEYS[1], 'c2s', c2s)
if windowSwept then
  local over = redis.call('ZCARD', KEYS[4]) - dmax
  if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[4], 0, over - 1) end
  redis.call('PEXPIRE', KEYS[4], ttl)
end
publish(notify)
return {'OK', c2s, outcomes, touched, after}
`

// ARGV[4..7] limits, ARGV[8] caller, ARGV[9..] effects. Returns touched.
const luaAppend = luaPrelude + luaEffects + `
local touched, notify = {}, {}
apply(9, #ARGV, ARGV[8], touched, notify)
publish(notify)
return touched
`

// KEYS: s r m. ARGV[4..]: id gen seq. Returns {status, outcome, ack, s2c};
// outcome 0 applied, 1 stale, 2 out of range.
const luaAck = luaPrelude + `
local sid, seq = ARGV[4], tonumber(ARGV[6])
local err = check(sid, ARGV[5])
if err then return {err} end
local v = redis.call('HMGET', KEYS[1], 'ack', 's2c')
local ack, s2c = tonumber(v[1]), tonumber(v[2])
if seq > s2c then return {'OK', 2, ack, s2c} end
if seq <= ack then return {'OK', 1, ack, s2c} end
trim(sid, seq)
return {'OK', 0, seq, s2c}
`

// KEYS: s r m. ARGV[4..]: id gen after max. Returns {status, {seq data hasid
// id ...}}; status EVICTED when msg after+1 left the buffer unacked. Also
// renews the keys' lease: an attached session's owner reads at least once
// per heartbeat.
const luaRead = luaPrelude + `
local sid, after, max = ARGV[4], tonumber(ARGV[6]), tonumber(ARGV[7])
local err = check(sid, ARGV[5])
if err then return {err} end
refresh(sid)
local v = redis.call('HMGET', KEYS[1], 's2c', 'first')
if after >= tonumber(v[1]) then return {'OK', {}} end
if after + 1 < tonumber(v[2]) then return {'EVICTED'} end
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[2], (after + 1) .. '-0', '+', 'COUNT', max)) do
  local f = fields(e[2])
  out[#out + 1] = string.match(e[1], '^(%d+)')
  out[#out + 1] = f.d
  out[#out + 1] = f.i and '1' or '0'
  out[#out + 1] = f.i or ''
end
return {'OK', out}
`

// KEYS: s r m. ARGV[4]: id. Returns the record or 'NOTFOUND'.
const luaGet = luaPrelude + `
if check(ARGV[4]) then return 'NOTFOUND' end
return snap(ARGV[4])
`

// ARGV[4]: limit. Deletes up to limit expired detached sessions and returns
// their records.
const luaSweep = luaPrelude + `
local out = {}
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local v = redis.call('HMGET', K(sid, 's'), 'att', 'exp')
  if not v[1] then
    redis.call('ZREM', P .. 'expiry', sid)
  elseif v[1] ~= '1' and tonumber(v[2]) <= now then
    out[#out + 1] = snap(sid)
    remove(sid)
  end
end
return out
`
