"""A streaming job that runs until cancelled: sensor readings, keyed running averages.

Each source subtask emits readings of ten sensors at a fixed rate; the job keys them by
sensor, keeps a running (count, sum) in keyed ValueState and prints every 100th average
to the TaskManager's stdout. This is the job the README's quick start runs.

    headwater run -d examples/streaming.py --rate 200 --parallelism 2
"""

from __future__ import annotations

import argparse
import random
import time

from headwater.api import (
    KeyedProcessFunction,
    SourceFunction,
    StreamExecutionEnvironment,
    ValueStateDescriptor,
)


class SensorReadings(SourceFunction):
    """(sensor id, temperature) pairs at ``rate`` records per second, forever."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.running = True

    def run(self, ctx) -> None:
        rng = random.Random()
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        n = 0
        while self.running:
            ctx.collect((f"sensor-{n % 10}", round(20 + rng.gauss(0, 3), 2)))
            n += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def cancel(self) -> None:
        self.running = False


class RunningAverage(KeyedProcessFunction):
    """Emits (sensor, readings so far, average) for every reading."""

    def open(self, runtime_context) -> None:
        self.stats = runtime_context.get_state(ValueStateDescriptor("count-and-sum"))

    def process_element(self, value, ctx):
        count, total = self.stats.value() or (0, 0.0)
        count, total = count + 1, total + value[1]
        self.stats.update((count, total))
        yield (value[0], count, round(total / count, 3))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="records/s per source subtask")
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args(argv)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(args.parallelism)
    (env.add_source(SensorReadings(args.rate), "sensor readings")
        .key_by(lambda r: r[0])
        .process(RunningAverage()).name("running average")
        .filter(lambda r: r[1] % 100 == 0).name("every 100th")
        .print())
    env.execute("sensor averages")


if __name__ == "__main__":
    main()
