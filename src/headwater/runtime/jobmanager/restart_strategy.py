"""Restart strategies, configured as Flink configures them (``restart-strategy`` keys).

A job's own setting (in its JobGraph configuration) overrides the cluster's. With no
setting, Flink's default applies: no restarts, or fixed-delay with unlimited attempts
and 1 s delay when checkpointing is enabled.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from typing import Any

from headwater.clock import monotonic_ms
from headwater.runtime.checkpoint.config import _duration

_INT_MAX = 2**31 - 1


class RestartStrategy:
    """Decides whether a failed job restarts, and after how long."""

    description = "Restart deactivated."

    def can_restart(self) -> bool:
        """Whether another restart is allowed (called once per failure)."""
        return False

    def backoff_ms(self) -> int:
        """Delay before the restart."""
        return 0


class NoRestart(RestartStrategy):
    """Never restart."""


class FixedDelayRestart(RestartStrategy):
    """Up to ``attempts`` restarts, ``delay`` ms apart."""

    def __init__(self, attempts: int, delay: int) -> None:
        self.attempts = attempts
        self.delay = delay
        self.used = 0
        self.description = (f"Restart with fixed delay ({delay} ms). #{attempts} restart "
                            f"attempts.")

    def can_restart(self) -> bool:
        self.used += 1
        return self.used <= self.attempts

    def backoff_ms(self) -> int:
        return self.delay


class FailureRateRestart(RestartStrategy):
    """Restart unless more than ``max_failures`` happened within ``interval`` ms."""

    def __init__(self, max_failures: int, interval: int, delay: int) -> None:
        self.max_failures = max_failures
        self.interval = interval
        self.delay = delay
        self.failures: deque[float] = deque()
        self.description = (f"Failure rate restart with maximum of {max_failures} failures "
                            f"within interval {interval} ms and fixed delay {delay} ms.")

    def can_restart(self) -> bool:
        now = monotonic_ms()
        self.failures.append(now)
        while self.failures and self.failures[0] < now - self.interval:
            self.failures.popleft()
        return len(self.failures) <= self.max_failures

    def backoff_ms(self) -> int:
        return self.delay


class ExponentialDelayRestart(RestartStrategy):
    """Unlimited restarts with growing delays, reset after a quiet period."""

    def __init__(self, initial: int, maximum: int, multiplier: float, reset_threshold: int,
                 jitter: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.reset_threshold = reset_threshold
        self.jitter = jitter
        self.current = initial
        self.last_failure = 0.0
        self.description = (f"Restart with exponential delay: starting at {initial} ms, "
                            f"increasing by {multiplier}, with maximum {maximum} ms.")

    def can_restart(self) -> bool:
        now = monotonic_ms()
        if self.last_failure and now - self.last_failure >= self.reset_threshold:
            self.current = self.initial
        elif self.last_failure:
            self.current = min(int(self.current * self.multiplier), self.maximum)
        self.last_failure = now
        return True

    def backoff_ms(self) -> int:
        spread = int(self.current * self.jitter)
        return max(0, self.current + (random.randint(-spread, spread) if spread else 0))


def restart_strategy_from(config: Mapping[str, Any], checkpointing: bool) -> RestartStrategy:
    """Build the strategy the configuration names."""

    def get(key: str, default: Any) -> Any:
        value = config.get(key)
        return default if value is None else value

    name = str(get("restart-strategy", "") or "").strip().lower()
    if not name:
        if checkpointing:
            return FixedDelayRestart(_INT_MAX, 1000)
        return NoRestart()
    if name in ("none", "off", "disable"):
        return NoRestart()
    if name in ("fixed-delay", "fixeddelay"):
        return FixedDelayRestart(int(get("restart-strategy.fixed-delay.attempts", 1)),
                                 _duration(get("restart-strategy.fixed-delay.delay", 1000)))
    if name in ("failure-rate", "failurerate"):
        return FailureRateRestart(
            int(get("restart-strategy.failure-rate.max-failures-per-interval", 1)),
            _duration(get("restart-strategy.failure-rate.failure-rate-interval", 60_000)),
            _duration(get("restart-strategy.failure-rate.delay", 1000)))
    if name in ("exponential-delay", "exponentialdelay"):
        return ExponentialDelayRestart(
            _duration(get("restart-strategy.exponential-delay.initial-backoff", 1000)),
            _duration(get("restart-strategy.exponential-delay.max-backoff", 300_000)),
            float(get("restart-strategy.exponential-delay.backoff-multiplier", 2.0)),
            _duration(get("restart-strategy.exponential-delay.reset-backoff-threshold",
                          3_600_000)),
            float(get("restart-strategy.exponential-delay.jitter-factor", 0.1)))
    raise ValueError(f"unknown restart-strategy {name!r}")
