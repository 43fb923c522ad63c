"""Exponential, jittered, capped backoff between retries: live sources reconnecting, alert webhooks posting.

``Backoff().delay(attempt)`` for attempts 1, 2, 3, ... is about 0.5, 1, 2, 4, ... seconds, each spread by
up to ``jitter`` (a fraction) either way so many clients do not reconnect in lockstep, and never above
``cap``. Pass a seeded ``random.Random`` to get the same delays every run (tests).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5  # seconds before the first retry
    factor: float = 2.0  # growth per attempt
    cap: float = 30.0  # no delay is ever longer
    jitter: float = 0.2  # +- this fraction of the delay, uniformly

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ConfigError(f"backoff initial delay must be > 0 s, got {self.initial!r}")
        if not self.factor >= 1:
            raise ConfigError(f"backoff factor must be >= 1, got {self.factor!r}")
        if not self.cap >= self.initial:
            raise ConfigError(
                f"backoff cap ({self.cap!r} s) must be >= the initial delay ({self.initial!r} s)"
            )
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"backoff jitter must be in [0, 1), got {self.jitter!r}")

    def base_delay(self, attempt: int) -> float:
        """The delay before jitter: ``min(cap, initial * factor ** (attempt - 1))``."""
        delay = self.initial
        for _ in range(max(attempt, 1) - 1):
            if delay >= self.cap:
                break
            delay *= self.factor
        return min(delay, self.cap)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based), jittered and capped."""
        delay = self.base_delay(attempt)
        if self.jitter:
            delay *= 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        return min(delay, self.cap)


__all__ = ["Backoff"]
