"""Throttling counters on Redis, shared by every worker and node.

One HASH per key: ``c`` (count), ``s`` (window start), ``l`` (locked until).
Counting and its expiry happen in one Lua script, so concurrent hits all
count and a counter never outlives its window plus its lock. The window is
measured with the ``now`` the caller passes, as on SQL; the key TTL only
lets Redis forget idle counters.
"""

from __future__ import annotations

import math

import redis

from .redis_support import guarded

GRACE = 60

# KEYS: counter. ARGV: now, window. Returns the count in the current window.
HIT = f"""
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local start = redis.call('HGET', KEYS[1], 's')
local count
if (not start) or tonumber(start) + window <= now then
  redis.call('HSET', KEYS[1], 'c', 1, 's', ARGV[1])
  count = 1
else
  count = redis.call('HINCRBY', KEYS[1], 'c', 1)
end
local ttl = math.ceil(window) + {GRACE}
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return count
"""

# KEYS: counter. ARGV: until. Only an existing counter is locked (as on SQL).
LOCK = f"""
local start = redis.call('HGET', KEYS[1], 's')
if not start then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[1])
-- the lock began at or after the window's start: this TTL covers it
local ttl = math.ceil(tonumber(ARGV[1]) - tonumber(start)) + {GRACE}
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
"""


class RedisCounterStore:
    def __init__(self, client: redis.Redis, prefix: str = "cas:") -> None:
        self.client = client
        self.prefix = prefix + "throttle:"
        self._hit = client.register_script(HIT)
        self._lock = client.register_script(LOCK)

    @guarded
    def hit(self, key: str, now: float, window: float) -> int:
        return int(self._hit(keys=[self.prefix + key], args=[repr(now), repr(float(window))]))

    @guarded
    def locked_until(self, key: str, now: float) -> float | None:
        raw = self.client.hget(self.prefix + key, "l")
        until = float(str(raw)) if raw is not None else None
        return until if until is not None and until > now else None

    @guarded
    def lock(self, key: str, until: float) -> None:
        if math.isfinite(until):
            self._lock(keys=[self.prefix + key], args=[repr(until)])

    @guarded
    def reset(self, key: str) -> None:
        self.client.delete(self.prefix + key)
