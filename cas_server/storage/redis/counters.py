"""Throttling counters on Redis, shared by every worker and node.

One HASH per key: ``c`` (count), ``s`` (window start), ``l`` (locked until),
``v`` and ``u`` (rising lockouts: the level, and when it is forgotten).
Counting and its expiry happen in one Lua script, so concurrent hits all
count and a counter never outlives its window plus its lock. The window is
measured with the ``now`` the caller passes, as on SQL; the key TTL only
lets Redis forget idle counters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import redis

from ...accounts.throttle import Grant
from .client import guarded

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

# KEYS: counter. ARGV: now, window, attempts, until (now + lock). Returns
# {granted, count, window start, retry at (refused only)}: the promises of
# CounterStore.acquire, in one script (so in one step for every client).
ACQUIRE = f"""
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local attempts = tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'c', 's', 'l')
local count, start, locked = tonumber(h[1]) or 0, h[2], tonumber(h[3])
if locked and locked > now then
  return {{0, count, start or ARGV[1], h[3]}}
end
if (not start) or tonumber(start) + window <= now then
  start, count = ARGV[1], 1
  redis.call('HSET', KEYS[1], 'c', 1, 's', start)
  redis.call('HDEL', KEYS[1], 'l')  -- a lock that ended goes with its window
elseif count + 1 <= attempts then
  count = redis.call('HINCRBY', KEYS[1], 'c', 1)
elseif locked then
  -- one check just after a lock ended (a failure locks again); the next is refused
  count = redis.call('HINCRBY', KEYS[1], 'c', 1)
  redis.call('HDEL', KEYS[1], 'l')
else
  -- every attempt is taken (some perhaps still being checked): nothing counted
  return {{0, count, start, ARGV[4]}}
end
local ttl = math.ceil(tonumber(start) + window - now) + {GRACE}
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return {{1, count, start}}
"""

# KEYS: counter. ARGV: now, memory, step 1, step 2… Returns {lock end, level}
# as strings (a Lua number would reach the client as an integer): the promises
# of CounterStore.lock_step, in one script. A key locked at now is unchanged.
LOCK_STEP = f"""
local now, memory = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'l', 'v', 'u', 's')
local locked, level, forget = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
if locked and locked > now then
  return {{h[1], tostring(level or 1)}}
end
if level and forget and forget > now then level = level + 1 else level = 1 end
local steps = #ARGV - 2
local finish = now + tonumber(ARGV[2 + math.min(level, steps)])
local ends = string.format('%.6f', finish)
redis.call('HSET', KEYS[1], 'l', ends, 'v', level, 'u', string.format('%.6f', finish + memory))
if not h[4] then redis.call('HSET', KEYS[1], 'c', 0, 's', ARGV[1]) end
local ttl = math.ceil(finish + memory - now) + {GRACE}
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return {{ends, tostring(level)}}
"""

# KEYS: counter. ARGV: the window start of the attempt given back.
RELEASE = """
local start = redis.call('HGET', KEYS[1], 's')
if start and tonumber(start) == tonumber(ARGV[1]) then
  if (tonumber(redis.call('HGET', KEYS[1], 'c')) or 0) > 0 then
    redis.call('HINCRBY', KEYS[1], 'c', -1)
  end
end
return 1
"""
# A lock longer than this (infinite, say) is kept for this long (about 31 years).
LONGEST_LOCK = 1e9


class RedisCounterStore:
    def __init__(self, client: redis.Redis, prefix: str = "cas:") -> None:
        self.client = client
        self.prefix = prefix + "throttle:"
        self._hit = client.register_script(HIT)
        self._lock = client.register_script(LOCK)
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)
        self._lock_step = client.register_script(LOCK_STEP)

    @guarded
    def acquire(self, key: str, now: float, window: float, attempts: int, lock: float) -> Grant:
        until = now + min(lock, LONGEST_LOCK)
        args: list[str | int] = [repr(now), repr(float(window)), int(attempts), repr(until)]
        granted, count, start, *rest = self._acquire(keys=[self.prefix + key], args=args)
        retry = float(_text(rest[0])) if rest and rest[0] is not None else None
        return Grant(bool(granted), int(count), float(_text(start)), None if granted else retry)

    @guarded
    def release(self, key: str, window_start: float) -> None:
        self._release(keys=[self.prefix + key], args=[repr(window_start)])

    @guarded
    def hit(self, key: str, now: float, window: float) -> int:
        return int(self._hit(keys=[self.prefix + key], args=[repr(now), repr(float(window))]))

    @guarded
    def window_started(self, key: str) -> float | None:
        raw = self.client.hget(self.prefix + key, "s")
        return float(str(raw)) if raw is not None else None

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
    def lock_step(
        self, key: str, now: float, steps: Sequence[float], memory: float
    ) -> tuple[float, int]:
        if not steps:
            raise ValueError("lock_step needs at least one step")
        bounded = [repr(float(min(step, LONGEST_LOCK))) for step in steps]
        args = [repr(now), repr(float(min(memory, LONGEST_LOCK))), *bounded]
        until, level = self._lock_step(keys=[self.prefix + key], args=args)
        return float(_text(until)), int(_text(level))

    @guarded
    def level(self, key: str, now: float) -> int:
        level, forget = self.client.hmget(self.prefix + key, ["v", "u"])
        if level is None or forget is None or float(_text(forget)) <= now:
            return 0
        return int(_text(level))

    @guarded
    def reset(self, key: str) -> None:
        self.client.delete(self.prefix + key)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
