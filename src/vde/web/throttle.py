"""Login throttling: failed attempts per (login, address), per address, and per login across
every address with exponential backoff; and a cap on concurrent argon2 verifications.

Why these keys: a per-login lock alone lets anyone lock a member out by typing wrong
passwords; a per-address lock alone lets a botnet guess without limit. So:

- per (login, address): a few failures per window, then 429 with Retry-After;
- per address: more failures per window, over any logins (password spraying);
- per login, over every address: past a cap, each further attempt waits twice as long as the
  previous one (up to ``max_backoff_s``). A device on which the login already signed in
  (it holds a signed device cookie) is exempt from this global backoff, so an attack from
  elsewhere does not lock the owner out of their own browser.

An attempt is counted as a failure *before* the password is checked, under one lock, so
parallel requests cannot all slip past the limits; a success refunds it. The check itself
(argon2, ~64 MiB each) runs only when a verification slot is free; with none free the
attempt gets 429 at once instead of queueing memory.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import HTTPException

from vde.accounts import hasher_memory_bytes

#: At most this many argon2 verifications at once, whatever the memory.
MAX_VERIFIERS = 4


def verifier_slots(memory_bytes: int | None = None) -> int:
    """How many argon2 checks may run at once: an eighth of the available memory divided by
    the memory one check takes, between 1 and MAX_VERIFIERS."""
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):  # not on this platform: assume little
            memory_bytes = 0
    return max(1, min(MAX_VERIFIERS, memory_bytes // (8 * hasher_memory_bytes())))


def _too_many(wait: float, message: str = "too many failed logins; try again later"):
    return HTTPException(429, message, headers={"Retry-After": str(max(1, int(wait + 0.999)))})


class RateLimiter:
    """Failures per key in a sliding window; callers hold the guard's lock."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[object, deque[float]] = {}

    def retry_after(self, key: object, now: float) -> float:
        """Seconds to wait before trying again; 0 when allowed now."""
        q = self._hits.get(key)
        if not q:
            return 0.0
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._hits[key]
            return 0.0
        return 0.0 if len(q) < self.limit else q[0] + self.window_s - now

    def hit(self, key: object, now: float) -> None:
        self._hits.setdefault(key, deque()).append(now)

    def refund(self, key: object, now: float) -> None:
        q = self._hits.get(key)
        if q and now in q:
            q.remove(now)

    def reset(self, key: object) -> None:
        self._hits.pop(key, None)


@dataclass
class _Backoff:
    failures: int = 0
    last: float = 0.0


@dataclass
class Attempt:
    """One login attempt in progress; ``succeeded()`` refunds its counted failure."""

    guard: LoginGuard
    key: str
    ip: str
    at: float
    ok: bool = False

    def succeeded(self) -> None:
        self.ok = True
        self.guard._refund(self, success=True)


class LoginGuard:
    """The login throttle of one server process (in memory, thread-safe).

    ``per_login``: failures per (login, address) and window; ``per_ip``: failures per
    address and window; ``global_login``: failures per login over every address before the
    backoff starts, doubling from 1 s up to ``max_backoff_s``; ``verifiers``: concurrent
    argon2 checks (default from memory).
    """

    def __init__(
        self,
        per_login: int = 5,
        per_ip: int = 20,
        window_s: float = 300.0,
        global_login: int = 20,
        max_backoff_s: float = 900.0,
        verifiers: int | None = None,
    ) -> None:
        self.by_client = RateLimiter(per_login, window_s)
        self.by_ip = RateLimiter(per_ip, window_s)
        self.global_login = global_login
        self.max_backoff_s = max_backoff_s
        self.verifiers = verifiers or verifier_slots()
        self._backoff: dict[str, _Backoff] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.verifiers)

    def _global_wait(self, key: str, now: float) -> float:
        b = self._backoff.get(key)
        if b is None:
            return 0.0
        if now - b.last > max(86400.0, self.max_backoff_s):  # a quiet day forgets
            del self._backoff[key]
            return 0.0
        over = b.failures - self.global_login
        if over < 0:
            return 0.0
        delay = min(self.max_backoff_s, 2.0 ** min(over, 30))
        return max(0.0, b.last + delay - now)

    @contextmanager
    def attempt(self, key: str, ip: str, *, known_device: bool = False) -> Iterator[Attempt]:
        """Count a failed attempt for ``key`` (the normalised login, case-folded) from ``ip``,
        then hold a verification slot while the caller checks the password.

        Raises 429 (with Retry-After) when a limit is reached or no slot is free; the caller
        calls ``Attempt.succeeded()`` when the password was right.
        """
        now = time.monotonic()
        with self._lock:
            wait = max(
                self.by_client.retry_after((key, ip), now),
                self.by_ip.retry_after(ip, now),
                0.0 if known_device else self._global_wait(key, now),
            )
            if wait > 0:
                raise _too_many(wait)
            self.by_client.hit((key, ip), now)
            self.by_ip.hit(ip, now)
            b = self._backoff.setdefault(key, _Backoff())
            b.failures += 1
            b.last = now
        att = Attempt(self, key, ip, now)
        if not self._slots.acquire(blocking=False):
            self._refund(att, success=False)
            raise _too_many(1, "the server is busy checking other logins; try again")
        try:
            yield att
        finally:
            self._slots.release()

    def _refund(self, att: Attempt, *, success: bool) -> None:
        with self._lock:
            self.by_ip.refund(att.ip, att.at)
            if success:
                self.by_client.reset((att.key, att.ip))
                self._backoff.pop(att.key, None)
                return
            self.by_client.refund((att.key, att.ip), att.at)
            b = self._backoff.get(att.key)
            if b is not None:
                b.failures -= 1
