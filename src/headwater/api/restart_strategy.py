"""Restart strategies of a job (PyFlink's ``RestartStrategies``).

    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(3, 1000))

A strategy becomes the Flink configuration keys of the job (``restart-strategy`` and its
``restart-strategy.<name>.*`` options; durations in ms) and a description that
/jobs/:jobid/config shows under ``restart-strategy``, worded as Flink's.
"""

from __future__ import annotations

from typing import Any


def _ms(value: Any, what: str) -> int:
    if hasattr(value, "total_seconds"):  # datetime.timedelta
        return int(value.total_seconds() * 1000)
    from headwater.api.time import to_millis

    return to_millis(value, what)


class RestartStrategyConfiguration:
    """A restart strategy: its configuration keys and its description."""

    def to_configuration(self) -> dict[str, Any]:
        """Flink configuration keys (empty: the cluster's default)."""
        raise NotImplementedError

    def get_description(self) -> str:
        """What the web interface shows."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.get_description()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and \
            other.to_configuration() == self.to_configuration()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_configuration().items())))


class NoRestartStrategyConfiguration(RestartStrategyConfiguration):
    """A failure fails the job."""

    def to_configuration(self) -> dict[str, Any]:
        return {"restart-strategy": "none"}

    def get_description(self) -> str:
        return "Restart deactivated."


class FallbackRestartStrategyConfiguration(RestartStrategyConfiguration):
    """The cluster's restart strategy."""

    def to_configuration(self) -> dict[str, Any]:
        return {}

    def get_description(self) -> str:
        return "Cluster level default restart strategy"


class FixedDelayRestartStrategyConfiguration(RestartStrategyConfiguration):
    """Restart up to ``restart_attempts`` times, waiting ``delay`` ms before each."""

    def __init__(self, restart_attempts: int, delay_between_attempts: int) -> None:
        if int(restart_attempts) < 0:
            raise ValueError("restart attempts must not be negative")
        if delay_between_attempts < 0:
            raise ValueError("delay must not be negative")
        self.restart_attempts = int(restart_attempts)
        self.delay_between_attempts = delay_between_attempts

    def to_configuration(self) -> dict[str, Any]:
        return {"restart-strategy": "fixed-delay",
                "restart-strategy.fixed-delay.attempts": self.restart_attempts,
                "restart-strategy.fixed-delay.delay": self.delay_between_attempts}

    def get_description(self) -> str:
        return (f"Restart with fixed delay ({self.delay_between_attempts} ms). "
                f"#{self.restart_attempts} restart attempts.")


class FailureRateRestartStrategyConfiguration(RestartStrategyConfiguration):
    """Restart unless more than ``max_failure_rate`` failures happen within
    ``failure_interval`` ms; wait ``delay`` ms before each restart."""

    def __init__(self, max_failure_rate: int, failure_interval: int, delay_interval: int
                 ) -> None:
        if int(max_failure_rate) < 1:
            raise ValueError("the failure rate must be at least 1")
        if failure_interval <= 0 or delay_interval < 0:
            raise ValueError("the failure interval must be positive, the delay not negative")
        self.max_failure_rate = int(max_failure_rate)
        self.failure_interval = failure_interval
        self.delay_interval = delay_interval

    def to_configuration(self) -> dict[str, Any]:
        return {"restart-strategy": "failure-rate",
                "restart-strategy.failure-rate.max-failures-per-interval":
                    self.max_failure_rate,
                "restart-strategy.failure-rate.failure-rate-interval": self.failure_interval,
                "restart-strategy.failure-rate.delay": self.delay_interval}

    def get_description(self) -> str:
        return (f"Failure rate restart with maximum of {self.max_failure_rate} failures "
                f"within interval {self.failure_interval} ms and fixed delay "
                f"{self.delay_interval} ms.")


class ExponentialDelayRestartStrategyConfiguration(RestartStrategyConfiguration):
    """Restart forever, the delay growing by ``backoff_multiplier`` from
    ``initial_backoff`` to ``max_backoff`` ms; it resets after ``reset_backoff_threshold``
    ms without failure; ``jitter_factor`` randomizes each delay."""

    def __init__(self, initial_backoff: int, max_backoff: int, backoff_multiplier: float,
                 reset_backoff_threshold: int, jitter_factor: float) -> None:
        if initial_backoff < 1 or max_backoff < 1 or reset_backoff_threshold < 1:
            raise ValueError("backoff durations must be positive")
        if float(backoff_multiplier) < 1.0:
            raise ValueError("the backoff multiplier must be at least 1.0")
        if not 0.0 <= float(jitter_factor) <= 1.0:
            raise ValueError("the jitter factor must be between 0.0 and 1.0")
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.backoff_multiplier = float(backoff_multiplier)
        self.reset_backoff_threshold = reset_backoff_threshold
        self.jitter_factor = float(jitter_factor)

    def to_configuration(self) -> dict[str, Any]:
        p = "restart-strategy.exponential-delay."
        return {"restart-strategy": "exponential-delay",
                p + "initial-backoff": self.initial_backoff,
                p + "max-backoff": self.max_backoff,
                p + "backoff-multiplier": self.backoff_multiplier,
                p + "reset-backoff-threshold": self.reset_backoff_threshold,
                p + "jitter-factor": self.jitter_factor}

    def get_description(self) -> str:
        return (f"Restart with exponential delay: starting at {self.initial_backoff} ms, "
                f"increasing by {self.backoff_multiplier:f}, with maximum "
                f"{self.max_backoff} ms. Delay resets after {self.reset_backoff_threshold} "
                f"ms with jitter {self.jitter_factor:f}")


class RestartStrategies:
    """Factories of restart strategies (durations: ms, or a Time/Duration/timedelta)."""

    @staticmethod
    def no_restart() -> NoRestartStrategyConfiguration:
        """Never restart."""
        return NoRestartStrategyConfiguration()

    @staticmethod
    def fall_back_restart() -> FallbackRestartStrategyConfiguration:
        """Use the cluster's restart strategy."""
        return FallbackRestartStrategyConfiguration()

    @staticmethod
    def fixed_delay_restart(restart_attempts: int, delay_between_attempts: Any
                            ) -> FixedDelayRestartStrategyConfiguration:
        """Restart ``restart_attempts`` times with a fixed delay."""
        return FixedDelayRestartStrategyConfiguration(
            restart_attempts, _ms(delay_between_attempts, "delay"))

    @staticmethod
    def failure_rate_restart(failure_rate: int, failure_interval: Any, delay_interval: Any
                             ) -> FailureRateRestartStrategyConfiguration:
        """Restart while failures stay below ``failure_rate`` per ``failure_interval``."""
        return FailureRateRestartStrategyConfiguration(
            failure_rate, _ms(failure_interval, "failure interval"),
            _ms(delay_interval, "delay"))

    @staticmethod
    def exponential_delay_restart(initial_backoff: Any, max_backoff: Any,
                                  backoff_multiplier: float, reset_backoff_threshold: Any,
                                  jitter_factor: float
                                  ) -> ExponentialDelayRestartStrategyConfiguration:
        """Restart with exponentially growing delays."""
        return ExponentialDelayRestartStrategyConfiguration(
            _ms(initial_backoff, "initial backoff"), _ms(max_backoff, "max backoff"),
            backoff_multiplier, _ms(reset_backoff_threshold, "reset threshold"),
            jitter_factor)
