"""Short-lived memories kept in one process, for answers the API would otherwise fetch on every
request (a validated bearer token, an instrument, a practice's webhook subscriptions).

Each holds an entry for at most ``seconds`` (and never past an entry's own deadline), is emptied
at once in this process by the signals its owner connects (a revoked token, a changed endpoint),
and so is at most ``seconds`` stale in the other processes. ``clear_all()`` empties every one
(tests call it between tests, whose rolled-back rows reuse ids)."""

import threading
import time
from typing import Any

_registry: list["ProcessCache"] = []


class ProcessCache:
    def __init__(self, name: str, *, seconds: float, max_entries: int = 4096) -> None:
        self.name = name
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        _registry.append(self)

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.time() >= entry[1]:
            self._entries.pop(key, None)
            return None
        return entry[0]

    def put(self, key: Any, value: Any, *, deadline: float | None = None) -> None:
        """Remember ``value`` for ``seconds``, or until ``deadline`` (a Unix time) if sooner."""
        now = time.time()
        until = now + self.seconds if deadline is None else min(now + self.seconds, deadline)
        if until <= now:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries = {k: entry for k, entry in self._entries.items() if entry[1] > now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[key] = (value, until)

    def clear(self, **signal_kwargs: Any) -> None:
        """Forget everything (also a signal receiver: invalidations are rare, keep no index)."""
        with self._lock:
            self._entries.clear()


def clear_all() -> None:
    for process_cache in _registry:
        process_cache.clear()
