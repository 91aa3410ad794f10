"""What one process has already recorded of a session's services (#15).

A service ticket granted from a session records the (session, service) pair
in the store once; repeated single sign-on to the same service must add no
write to the hot path, so each store remembers, per process, the pairs it
has written. Crude bound, as the SQL registry's session cache: when full it
is emptied, and the next grant of each pair writes once more (a no-op insert).
"""

from __future__ import annotations

import threading

RECORDED_REMEMBERED = 50_000


class RecordedServices:
    def __init__(self, size: int = RECORDED_REMEMBERED) -> None:
        self._size = size
        self._pairs: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __contains__(self, pair: tuple[str, str]) -> bool:
        return pair in self._pairs

    def add(self, pair: tuple[str, str]) -> None:
        with self._lock:
            if len(self._pairs) >= self._size:
                self._pairs.clear()
            self._pairs.add(pair)
