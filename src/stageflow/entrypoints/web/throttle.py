"""Failed sign-ins slow down further attempts, per account and per client address.

Kept in the server's memory: a restart forgets it, and several server processes each keep
their own count (a limit per process is still a limit). The first few failures cost nothing;
after that each failure doubles the wait before the next attempt is even checked, up to 15
minutes. The same wait applies whether or not the account exists, so it tells nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FREE_PER_ACCOUNT = 5
FREE_PER_ADDRESS = 20
MAX_WAIT = 15 * 60.0
FORGET_AFTER = 60 * 60.0  # a key with no failure for an hour starts again from zero
PRUNE_ABOVE = 10_000  # keys kept before idle ones are dropped


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class SignInThrottle:
    """Counts failed sign-ins by account (the email typed) and by address."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    @staticmethod
    def _keys(email: str, address: str) -> list[tuple[str, int]]:
        return [
            ("account:" + email.strip().lower(), FREE_PER_ACCOUNT),
            ("address:" + address, FREE_PER_ADDRESS),
        ]

    def wait(self, email: str, address: str) -> float:
        """Seconds to wait before this attempt may be checked (0: go ahead)."""
        now = self._clock()
        longest = 0.0
        with self._lock:
            for key, free in self._keys(email, address):
                entry = self._failures.get(key)
                if entry is None or entry.count < free:
                    continue
                delay = min(2.0 ** (entry.count - free), MAX_WAIT)
                longest = max(longest, entry.last + delay - now)
        return max(longest, 0.0)

    def failed(self, email: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > PRUNE_ABOVE:
                self._failures = {
                    k: v for k, v in self._failures.items() if now - v.last < FORGET_AFTER
                }
            for key, _ in self._keys(email, address):
                entry = self._failures.get(key)
                if entry is None or now - entry.last > FORGET_AFTER:
                    self._failures[key] = _Failures(1, now)
                else:
                    entry.count += 1
                    entry.last = now

    def succeeded(self, email: str) -> None:
        """A right password clears the account's count (not the address's)."""
        with self._lock:
            self._failures.pop("account:" + email.strip().lower(), None)
