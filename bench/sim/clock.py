"""Simulated time and the token buckets that AWS rate limits are built from."""

from typing import NewType

# Seconds on the simulator's virtual clock, counted from the start of a repetition.
SimTime = NewType("SimTime", float)


class TokenBucket:
    """A token bucket on the virtual clock, refilled continuously.

    `reserve` models a limit that delays callers (Step Functions state
    transitions): it always takes a token and returns how long the caller must
    wait for it, queueing callers in order. `try_take` models a limit that
    rejects callers (Lambda's scaling budget): it takes a token only when one is
    available now.
    """

    def __init__(self, capacity: float, refill_per_s: float) -> None:
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self._tokens = float(capacity)
        self._updated = 0.0

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.refill_per_s)
            self._updated = now

    def reserve(self, now: float) -> float:
        """Take one token and return the wait in seconds until it is available."""
        self._refill(now)
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        if self.refill_per_s <= 0:
            return float("inf")
        return -self._tokens / self.refill_per_s

    def try_take(self, now: float) -> bool:
        """Take one token if one is available at `now`; return whether it was taken."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
