"""Lua scripts of the Redis ticket registry: each runs atomically, in one round trip.

Key layout under the configured prefix ``p`` (``d`` is the SHA-256 of a
ticket id; plain tickets are never keys):

``p tgt:<d>``     HASH of a session: a (authentication JSON), p (principal),
                  c, e, i, u (created, hard expiry, idle timeout, last used)
``p kids:<d>``    SET of the keys of the session's service, proxy and
                  proxy-granting tickets (cascade delete without a scan)
``p slo:<d>``     HASH: used tickets of services that asked for single logout
``p st:<d>``      STRING (JSON) of a service or proxy ticket
``p pgt:<d>``     STRING (JSON) of a proxy-granting ticket
``p user:<id>``   SET of the session digests of a principal (no scan either)
``p expiry``      ZSET of every ticket key by its deadline, for ``purge_expired``

The session directory (#15): a session's hash also holds its client (ip, n
(network key), ua, pub), only when known, and

``p svc:<d>``     HASH service id -> JSON [service, first_at]: the services it
                  gave a ticket to, each written once (HSETNX)
``p started``     ZSET of session digests by creation time (search by age)
``p ip:<ip>``, ``p net:<key>``, ``p bysvc:<id>``  ZSETs of session digests by
                  creation time, per address, network label and service

Key TTLs expire everything by themselves; the ``now`` the callers pass
decides what is alive, as on SQL. Scripts name keys they compute, so the
registry needs a single Redis (with replicas/Sentinel), not Redis Cluster.
"""

from __future__ import annotations

# Seconds a key outlives its logical deadline: clocks of nodes differ a little.
GRACE = 60

_PRELUDE = f"""
local p = ARGV[1]
local GRACE = {GRACE}
local function num(x) return string.format('%.17g', x) end
local function follow(root, ttl)
  -- the session's sets live as long as the session
  if ttl > 0 then
    redis.call('EXPIRE', p .. 'kids:' .. root, ttl)
    redis.call('EXPIRE', p .. 'slo:' .. root, ttl)
    redis.call('EXPIRE', p .. 'svc:' .. root, ttl)
  end
end
local function index(key, root, created, ttl)
  -- a session in a search index, kept at least as long as the session may live
  redis.call('ZADD', key, created, root)
  if redis.call('TTL', key) < ttl then redis.call('EXPIRE', key, ttl) end
end
local function record(root, sid, service, at, ttl)
  -- the service the session gave a ticket to, once (#15)
  if sid == '' then return end
  local tk = p .. 'tgt:' .. root
  local sk = p .. 'svc:' .. root
  if redis.call('HSETNX', sk, sid, cjson.encode({{service, at}})) == 1 then
    local t = redis.call('HMGET', tk, 'c', 'e')
    if t[1] then
      index(p .. 'bysvc:' .. sid, root, t[1], math.ceil(tonumber(t[2]) - tonumber(at)) + GRACE)
    end
  end
  if ttl > 0 then redis.call('EXPIRE', sk, ttl) end
end
local function destroy(root, out)
  local tk = p .. 'tgt:' .. root
  local n = 0
  local principal = redis.call('HGET', tk, 'p')
  local where = redis.call('HMGET', tk, 'ip', 'n')
  if where[1] then redis.call('ZREM', p .. 'ip:' .. where[1], root) end
  if where[2] then redis.call('ZREM', p .. 'net:' .. where[2], root) end
  for _, sid in ipairs(redis.call('HKEYS', p .. 'svc:' .. root)) do
    redis.call('ZREM', p .. 'bysvc:' .. sid, root)
  end
  redis.call('DEL', p .. 'svc:' .. root)
  redis.call('ZREM', p .. 'started', root)
  for _, k in ipairs(redis.call('SMEMBERS', p .. 'kids:' .. root)) do
    n = n + redis.call('DEL', k)
    redis.call('ZREM', p .. 'expiry', k)
  end
  for _, v in ipairs(redis.call('HVALS', p .. 'slo:' .. root)) do
    table.insert(out, v)
    n = n + 1
  end
  n = n + redis.call('DEL', tk)
  redis.call('DEL', p .. 'kids:' .. root, p .. 'slo:' .. root)
  redis.call('ZREM', p .. 'expiry', tk)
  if principal then redis.call('SREM', p .. 'user:' .. principal, root) end
  return n
end
"""

# KEYS: tgt key. ARGV: p, digest, principal, auth, c, e, i, u, ttl, deadline, hard ttl,
# then the client: ip, network, user agent, public ('1', '0'), each '' when unknown.
ADD_TGT = (
    _PRELUDE
    + """
redis.call('HSET', KEYS[1], 'a', ARGV[4], 'p', ARGV[3], 'c', ARGV[5], 'e', ARGV[6],
           'i', ARGV[7], 'u', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', p .. 'expiry', ARGV[10], KEYS[1])
local uk = p .. 'user:' .. ARGV[3]
redis.call('SADD', uk, ARGV[2])
local hard = tonumber(ARGV[11])
if redis.call('TTL', uk) < hard then redis.call('EXPIRE', uk, hard) end
redis.call('ZADD', p .. 'started', ARGV[5], ARGV[2])
local fields = {'ip', 'n', 'ua', 'pub'}
for j = 1, 4 do
  local v = ARGV[11 + j]
  if v and v ~= '' then redis.call('HSET', KEYS[1], fields[j], v) end
end
if ARGV[12] and ARGV[12] ~= '' then index(p .. 'ip:' .. ARGV[12], ARGV[2], ARGV[5], hard) end
if ARGV[13] and ARGV[13] ~= '' then index(p .. 'net:' .. ARGV[13], ARGV[2], ARGV[5], hard) end
return 1
"""
)

# KEYS: tgt key, st key. ARGV: p, root, now, st json, st ttl, st deadline, then the
# service id ('' when this node has recorded it already), service, first_at (#15).
GRANT = (
    _PRELUDE
    + """
local t = redis.call('HMGET', KEYS[1], 'e', 'i', 'u')
if not t[1] then return 0 end
local now = tonumber(ARGV[3])
local e, i, u = tonumber(t[1]), tonumber(t[2]), tonumber(t[3])
if e <= now or u + i <= now then return 0 end
redis.call('HSET', KEYS[1], 'u', ARGV[3])
local deadline = math.min(e, now + i)
local ttl = math.ceil(deadline - now) + GRACE
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', p .. 'expiry', num(deadline), KEYS[1])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
redis.call('ZADD', p .. 'expiry', ARGV[6], KEYS[2])
redis.call('SADD', p .. 'kids:' .. ARGV[2], KEYS[2])
follow(ARGV[2], ttl)
if ARGV[7] then record(ARGV[2], ARGV[7], ARGV[8], ARGV[9], ttl) end
return 1
"""
)

# KEYS: tgt key. ARGV: p, now, principal, authentication JSON. The session's
# new authentication, only while it is alive and only for the same principal;
# its children keep theirs. Returns c, e, i, u of the session, or false.
REPLACE_AUTH = (
    _PRELUDE
    + """
local t = redis.call('HMGET', KEYS[1], 'p', 'c', 'e', 'i', 'u')
if not t[1] or t[1] ~= ARGV[3] then return false end
local now = tonumber(ARGV[2])
if tonumber(t[3]) <= now or tonumber(t[5]) + tonumber(t[4]) <= now then return false end
redis.call('HSET', KEYS[1], 'a', ARGV[4])
return {t[2], t[3], t[4], t[5]}
"""
)

# KEYS: child key. ARGV: p, root, json, ttl, deadline, now[, service id, service]. A
# proxy or service ticket, or a PGT, stored only if its session is alive now (as
# GRANT does): a logout between the caller's read and this write wins. Returns 1
# if stored. With a service id, the session's services record it (#15).
ADD_CHILD = (
    _PRELUDE
    + """
local t = redis.call('HMGET', p .. 'tgt:' .. ARGV[2], 'e', 'i', 'u')
if not t[1] then return 0 end
local now = tonumber(ARGV[6])
if tonumber(t[1]) <= now or tonumber(t[3]) + tonumber(t[2]) <= now then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('ZADD', p .. 'expiry', ARGV[5], KEYS[1])
redis.call('SADD', p .. 'kids:' .. ARGV[2], KEYS[1])
local ttl = redis.call('TTL', p .. 'tgt:' .. ARGV[2])
if ttl > 0 then follow(ARGV[2], ttl) else
  redis.call('EXPIRE', p .. 'kids:' .. ARGV[2], ARGV[4]) end
if ARGV[7] then record(ARGV[2], ARGV[7], ARGV[8], ARGV[6], ttl) end
return 1
"""
)

# KEYS: st key. ARGV: p, digest, plain ticket. Single use: GETDEL.
CONSUME = (
    _PRELUDE
    + """
local v = redis.call('GETDEL', KEYS[1])
if not v then return false end
redis.call('ZREM', p .. 'expiry', KEYS[1])
local t = cjson.decode(v)
redis.call('SREM', p .. 'kids:' .. t.r, KEYS[1])
if t.l then
  -- kept (plain, once used) only for single logout, as long as the session
  local ttl = redis.call('TTL', p .. 'tgt:' .. t.r)
  if ttl > 0 then
    local slo = p .. 'slo:' .. t.r
    redis.call('HSET', slo, ARGV[2], cjson.encode({t.s, t.si, t.l, ARGV[3]}))
    redis.call('EXPIRE', slo, ttl)
  end
end
return v
"""
)

# KEYS: pgt key. ARGV: p. The PGT and the state of its session.
GET_PGT = (
    _PRELUDE
    + """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local t = redis.call('HMGET', p .. 'tgt:' .. cjson.decode(v).r, 'e', 'i', 'u')
return {v, t[1], t[2], t[3]}
"""
)

# ARGV: p, root... Returns {count, slo targets...}.
DESTROY = (
    _PRELUDE
    + """
local out = {}
local n = 0
for k = 2, #ARGV do n = n + destroy(ARGV[k], out) end
table.insert(out, 1, n)
return out
"""
)

# ARGV: p, principal. Every session of the principal, through its index.
DESTROY_USER = (
    _PRELUDE
    + """
local uk = p .. 'user:' .. ARGV[2]
local out = {}
local n = 0
for _, root in ipairs(redis.call('SMEMBERS', uk)) do n = n + destroy(root, out) end
redis.call('DEL', uk)
table.insert(out, 1, n)
return out
"""
)

# ARGV: p, principal. Flat list: digest, a, c, e, i, u per live key; stale members go.
SESSIONS = (
    _PRELUDE
    + """
local uk = p .. 'user:' .. ARGV[2]
local out = {}
for _, root in ipairs(redis.call('SMEMBERS', uk)) do
  local t = redis.call('HMGET', p .. 'tgt:' .. root, 'a', 'c', 'e', 'i', 'u')
  if t[1] then
    table.insert(out, root)
    for j = 1, 5 do table.insert(out, t[j]) end
  else
    redis.call('SREM', uk, root)
  end
end
return out
"""
)

# ARGV: p, now, batch. Returns {removed, examined}.
PURGE = (
    _PRELUDE
    + """
local keys = redis.call('ZRANGEBYSCORE', p .. 'expiry', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local n = 0
local tgt = p .. 'tgt:'
local out = {}
for _, k in ipairs(keys) do
  if string.sub(k, 1, #tgt) == tgt then
    n = n + destroy(string.sub(k, #tgt + 1), out)
  else
    local v = redis.call('GET', k)
    if v then
      redis.call('SREM', p .. 'kids:' .. cjson.decode(v).r, k)
      n = n + redis.call('DEL', k)
    end
  end
  redis.call('ZREM', p .. 'expiry', k)
end
return {n, #keys}
"""
)

# The session directory (#15): one record per live session, from the indexes.
_RECORD = """
local function alive(t, now)
  return t[1] and tonumber(t[4]) > now and tonumber(t[6]) + tonumber(t[5]) > now
end
local function read(root)
  return redis.call('HMGET', p .. 'tgt:' .. root, 'p', 'a', 'c', 'e', 'i', 'u',
                    'ip', 'n', 'ua', 'pub')
end
local function with_services(root, t)
  local out = {root}
  for j = 1, 10 do out[j + 1] = t[j] end
  out[12] = redis.call('HGETALL', p .. 'svc:' .. root)
  return out
end
"""

# ARGV: p, now, limit, handle, principal, ip, network, service id, after, before
# ('' when not given). Candidates come from one index (the handle itself, the
# principal's set, the address's, the network's, the service's, or every session
# by age, newest first), the other fields are checked on each; members whose
# session has gone leave their index. Returns records: digest, then p, a, c, e,
# i, u, ip, n, ua, pub, and the services hash flattened.
SEARCH = (
    _PRELUDE
    + _RECORD
    + """
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local handle, principal, ip, net, sid = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local after, before = ARGV[9], ARGV[10]
local out, stale = {}, {}
local function consider(root)
  local t = read(root)
  if not t[1] then table.insert(stale, root) return end
  if not alive(t, now) then return end
  if principal ~= '' and t[1] ~= principal then return end
  if ip ~= '' and t[7] ~= ip then return end
  if net ~= '' and t[8] ~= net then return end
  if after ~= '' and tonumber(t[3]) <= tonumber(after) then return end
  if before ~= '' and tonumber(t[3]) >= tonumber(before) then return end
  if sid ~= '' and redis.call('HEXISTS', p .. 'svc:' .. root, sid) == 0 then return end
  table.insert(out, with_services(root, t))
end
local key
if handle ~= '' then
  consider(handle)
  return out
elseif principal ~= '' then
  key = p .. 'user:' .. principal
  for _, root in ipairs(redis.call('SMEMBERS', key)) do consider(root) end
  for _, root in ipairs(stale) do redis.call('SREM', key, root) end
  return out
elseif ip ~= '' then key = p .. 'ip:' .. ip
elseif net ~= '' then key = p .. 'net:' .. net
elseif sid ~= '' then key = p .. 'bysvc:' .. sid
else key = p .. 'started' end
local high = before ~= '' and ('(' .. before) or '+inf'
local low = after ~= '' and ('(' .. after) or '-inf'
local offset, chunk = 0, 200
while #out < limit do
  local roots = redis.call('ZREVRANGEBYSCORE', key, high, low, 'LIMIT', offset, chunk)
  for _, root in ipairs(roots) do
    if #out >= limit then break end
    consider(root)
  end
  if #roots < chunk then break end
  offset = offset + chunk
end
for _, root in ipairs(stale) do redis.call('ZREM', key, root) end
return out
"""
)

# ARGV: p, digest, now, check ('1': only the principal's), principal. Ends the live
# session, only if it is the principal's when asked: {count, slo targets...}, or false.
DESTROY_ONE = (
    _PRELUDE
    + _RECORD
    + """
local t = read(ARGV[2])
if not alive(t, tonumber(ARGV[3])) then return false end
if ARGV[4] == '1' and t[1] ~= ARGV[5] then return false end
local out = {}
local n = destroy(ARGV[2], out)
table.insert(out, 1, n)
return out
"""
)
