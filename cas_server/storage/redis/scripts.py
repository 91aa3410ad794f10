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
  end
end
local function destroy(root, out)
  local tk = p .. 'tgt:' .. root
  local n = 0
  local principal = redis.call('HGET', tk, 'p')
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

# KEYS: tgt key. ARGV: p, digest, principal, auth, c, e, i, u, ttl, deadline, hard ttl
ADD_TGT = (
    _PRELUDE
    + """
redis.call('HSET', KEYS[1], 'a', ARGV[4], 'p', ARGV[3], 'c', ARGV[5], 'e', ARGV[6],
           'i', ARGV[7], 'u', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', p .. 'expiry', ARGV[10], KEYS[1])
local uk = p .. 'user:' .. ARGV[3]
redis.call('SADD', uk, ARGV[2])
if redis.call('TTL', uk) < tonumber(ARGV[11]) then redis.call('EXPIRE', uk, ARGV[11]) end
return 1
"""
)

# KEYS: tgt key, st key. ARGV: p, root, now, st json, st ttl, st deadline
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

# KEYS: child key. ARGV: p, root, json, ttl, deadline, now. A proxy or service
# ticket, or a PGT, stored only if its session is alive now (as GRANT does): a
# logout between the caller's read and this write wins. Returns 1 if stored.
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
