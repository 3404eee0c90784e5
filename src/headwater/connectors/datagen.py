"""Data generation: Flink 1.17's ``DataGeneratorSource``, a rate-limited, resumable source
of ``generator_function(i)`` for the indexes ``i`` in ``[0, count)``::

    from headwater.connectors.datagen import DataGeneratorSource, RateLimiterStrategy

    source = DataGeneratorSource(lambda i: {"user": i % 100, "clicks": 1}, 1_000_000,
                                 RateLimiterStrategy.per_second(5_000))
    stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "clicks")

The indexes are split into one contiguous range per subtask. Each subtask checkpoints its
remaining ranges as "split" operator state, so a job restored from a checkpoint or a
savepoint, also at another parallelism, generates every index exactly once overall.
``count=None`` (or ``sys.maxsize``) generates until the job is cancelled.

The rate of ``RateLimiterStrategy.per_second(n)`` is the source's total: each of ``p``
subtasks emits ``n / p`` records a second, and sleeps outside the checkpoint lock, so a
slow rate never holds up checkpoints. ``RateLimiterStrategy.per_checkpoint(n)`` lets
``n / p`` records per subtask through between two completed checkpoints.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from headwater.runtime.operators.base import SourceOutput
from headwater.runtime.operators.sources import CHUNK, ChunkSizer, _checkpoint_lock, _RangeSource

#: Longest single sleep of a rate-limited source, so that cancelling it is prompt.
SLEEP_SLICE = 0.05


class RateLimiter:
    """Paces one subtask (Flink's ``RateLimiter``): ``batch_size()`` says how many records
    may go next, ``acquire(n)`` how long to wait before emitting ``n`` of them. This one
    never waits."""

    def acquire(self, permits: int) -> float:
        """Take ``permits`` records; the seconds the caller must wait before emitting."""
        return 0.0

    def batch_size(self) -> int | None:
        """Most records to emit next (None: no limit, 0: none for now)."""
        return None

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """A checkpoint completed."""


class PerSecondRateLimiter(RateLimiter):
    """At most ``rate`` records a second, in smooth steps (a leaky bucket)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"a rate must be positive, got {rate}")
        self.rate = float(rate)
        self._next = time.monotonic()

    def acquire(self, permits: int) -> float:
        """Reserve the time slot of ``permits`` records; how long until it starts."""
        now = time.monotonic()
        start = max(self._next, now)
        self._next = start + permits / self.rate
        return start - now

    def batch_size(self) -> int:
        """About 50 ms worth of records."""
        return max(1, int(self.rate / 20))


class GatedRateLimiter(RateLimiter):
    """At most ``capacity`` records per completed checkpoint (Flink's
    ``GatedRateLimiter``): the first ``capacity`` go at once, the next after the next
    checkpoint completes."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"records per checkpoint must be positive, got {capacity}")
        self.capacity = capacity
        self.left = capacity

    def acquire(self, permits: int) -> float:
        """Take ``permits`` of this checkpoint's capacity (never more than left)."""
        self.left -= permits
        return 0.0

    def batch_size(self) -> int:
        """What is left of this checkpoint's capacity."""
        return max(0, self.left)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Open the gate for the next ``capacity`` records."""
        self.left = self.capacity


class RateLimiterStrategy:
    """Makes the rate limiter of each subtask (Flink's ``RateLimiterStrategy``)."""

    def __init__(self, records_per_second: float | None = None,
                 records_per_checkpoint: int | None = None) -> None:
        if records_per_second is not None and records_per_second <= 0:
            raise ValueError(f"records per second must be positive, got {records_per_second}")
        if records_per_checkpoint is not None and records_per_checkpoint <= 0:
            raise ValueError("records per checkpoint must be positive, got "
                             f"{records_per_checkpoint}")
        self.records_per_second = records_per_second
        self.records_per_checkpoint = records_per_checkpoint

    @staticmethod
    def per_second(records_per_second: float) -> RateLimiterStrategy:
        """``records_per_second`` in total, divided among the subtasks."""
        return RateLimiterStrategy(float(records_per_second))

    @staticmethod
    def per_checkpoint(records_per_checkpoint: int) -> RateLimiterStrategy:
        """``records_per_checkpoint`` in total between two completed checkpoints, divided
        among the subtasks (at least the parallelism)."""
        return RateLimiterStrategy(records_per_checkpoint=int(records_per_checkpoint))

    @staticmethod
    def no_op() -> RateLimiterStrategy:
        """No limit."""
        return RateLimiterStrategy(None)

    def create_rate_limiter(self, parallelism: int) -> RateLimiter:
        """The limiter of one of ``parallelism`` subtasks."""
        if self.records_per_checkpoint is not None:
            share = self.records_per_checkpoint // max(1, parallelism)
            if share <= 0:
                raise ValueError(f"records per checkpoint ({self.records_per_checkpoint}) "
                                 f"must be at least the parallelism ({parallelism})")
            return GatedRateLimiter(share)
        if self.records_per_second is None:
            return RateLimiter()
        return PerSecondRateLimiter(self.records_per_second / max(1, parallelism))


class GeneratorFunction:
    """Base class of generator functions with a life cycle (Flink's
    ``GeneratorFunction``): ``map(index)`` makes the record of an index. A plain callable
    ``index -> record`` works as well."""

    def open(self, runtime_context: Any) -> None:
        """Called once per subtask before the first ``map``."""

    def map(self, index: int) -> Any:
        """The record of ``index``."""
        raise NotImplementedError

    def close(self) -> None:
        """Called once per subtask at the end."""


class DataGeneratorSource:
    """A source of ``generator_function(i)`` for ``i`` in ``[0, count)``, optionally
    rate limited (see the module doc).

    ``rate_limiter_strategy`` is a :class:`RateLimiterStrategy`, a number of records per
    second, or None; ``rows_per_second`` is the keyword form of the number. As in Flink,
    the third positional argument may also be the type information (kept, not needed).
    """

    def __init__(self, generator_function: Callable[[int], Any] | GeneratorFunction,
                 count: int | None, rate_limiter_strategy: Any = None,
                 type_info: Any = None, *, rows_per_second: float | None = None) -> None:
        if not (callable(generator_function) or callable(getattr(generator_function, "map",
                                                                  None))):
            raise TypeError("generator_function must be a callable index -> record or a "
                            "GeneratorFunction")
        if isinstance(rate_limiter_strategy, bool):
            raise TypeError("rate_limiter_strategy must be a RateLimiterStrategy or a number")
        if isinstance(rate_limiter_strategy, int | float):
            rows_per_second = rate_limiter_strategy
            rate_limiter_strategy = None
        elif rate_limiter_strategy is not None and \
                not isinstance(rate_limiter_strategy, RateLimiterStrategy):
            if type_info is not None:
                raise TypeError("rate_limiter_strategy must be a RateLimiterStrategy or a "
                                "number")
            type_info, rate_limiter_strategy = rate_limiter_strategy, None  # Flink's 3 args
        if rows_per_second is not None:
            if rate_limiter_strategy is not None:
                raise ValueError("give either a rate_limiter_strategy or rows_per_second")
            rate_limiter_strategy = RateLimiterStrategy.per_second(rows_per_second)
        count = sys.maxsize if count is None else int(count)
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        self.generator_function = generator_function
        self.count = count
        self.rate_limiter_strategy = rate_limiter_strategy or RateLimiterStrategy.no_op()
        self.type_info = type_info

    def get_produced_type(self) -> Any:
        """The type information given at construction (or None)."""
        return self.type_info

    def create_operator(self) -> DataGeneratorSourceOperator:
        """The source operator the environment adds to the job."""
        return DataGeneratorSourceOperator(self.generator_function, self.count,
                                           self.rate_limiter_strategy)


class DataGeneratorSourceOperator(_RangeSource):
    """Generates the records of its remaining index ranges (checkpointed, see
    :class:`~headwater.runtime.operators.sources._RangeSource`), paced by its rate
    limiter."""

    state_name = "datagen-source-ranges"

    def __init__(self, generator_function: Any, count: int,
                 rate_limiter_strategy: RateLimiterStrategy) -> None:
        super().__init__()
        self.generator_function = generator_function
        self.count = count
        self.rate_limiter_strategy = rate_limiter_strategy
        self._limiter: RateLimiter = RateLimiter()
        fn = generator_function
        self._map: Callable[[int], Any] = fn if not callable(getattr(fn, "map", None)) \
            else fn.map

    def initial_ranges(self) -> list[list[int]]:
        """This subtask's contiguous share of ``[0, count)`` (sizes differ by at most
        one)."""
        i, p = self.ctx.subtask_index, self.ctx.parallelism
        return [[self.count * i // p, self.count * (i + 1) // p, 1]]

    def values(self, start: int, stop: int, step: int) -> list:
        """The generated records of the indexes ``range(start, stop, step)``."""
        return list(map(self._map, range(start, stop, step)))

    def open(self) -> None:
        """Open the generator function and make this subtask's rate limiter."""
        self._cancelled = False
        self._limiter = self.rate_limiter_strategy.create_rate_limiter(self.ctx.parallelism)
        opener = getattr(self.generator_function, "open", None)
        if callable(opener) and callable(getattr(self.generator_function, "map", None)):
            from headwater.api.functions import RuntimeContext

            opener(RuntimeContext(self.ctx))

    def close(self) -> None:
        """Close the generator function."""
        closer = getattr(self.generator_function, "close", None)
        if callable(closer) and callable(getattr(self.generator_function, "map", None)):
            closer()

    def run(self, output: SourceOutput) -> None:
        """Emit the remaining ranges in chunks; wait for the rate limiter between chunks,
        outside the checkpoint lock."""
        limit = self._limiter.batch_size()
        if limit is None:
            super().run(output)
            return
        lock = _checkpoint_lock(output)
        ranges = self._positions()
        sizer = ChunkSizer(maximum=max(1, min(limit, CHUNK)))
        clock = time.perf_counter
        while ranges:
            start, stop, step = ranges[0]
            if start >= stop:
                with lock:
                    ranges.pop(0)
                continue
            allowed = self._limiter.batch_size()
            if not allowed:  # a closed gate: wait for a checkpoint
                if not self._sleep(SLEEP_SLICE, output):
                    return
                continue
            n = min(sizer.size, allowed, -(-(stop - start) // step))
            if not self._sleep(self._limiter.acquire(n), output):
                return
            t0 = clock()
            with lock:
                r = ranges[0]
                end = min(r[1], r[0] + n * r[2])
                output.collect_batch(self.values(r[0], end, r[2]))
                r[0] = end
            sizer.observe(n, clock() - t0)
            sizer.pause()

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Tell the rate limiter (a per-checkpoint limit opens its gate)."""
        self._limiter.notify_checkpoint_complete(checkpoint_id)

    def _sleep(self, seconds: float, output: SourceOutput) -> bool:
        """Sleep ``seconds`` in short slices; False if cancelled meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            if self._cancelled or output.cancelled:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, SLEEP_SLICE))

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_limiter"] = RateLimiter()
        return state
