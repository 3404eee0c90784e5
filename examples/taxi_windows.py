"""Taxi trips per zone and quarter hour: columnar event-time windows over a Parquet file.

Generates N taxi trips (``pickup_zone`` int, ``pickup_time`` epoch ms, ``fare`` and
``distance`` floats; deterministic for a seed, pickup times up to 2 minutes out of
order) into a Parquet file, reads it with ``BatchFileSource.for_parquet``, takes event
time from ``pickup_time`` (5 minutes out of orderness allowed), keys by ``pickup_zone``
and aggregates tumbling 15-minute windows: the fares' sum, the trip count and the mean
distance, one row per zone and window (``pickup_zone``, ``window_start``,
``window_end``, ``fares``, ``trips``, ``avg_distance``).

Run it::

    python examples/taxi_windows.py --trips 200000 --output /tmp/taxi-windows
    headwater run examples/taxi_windows.py --trips 200000 --input /tmp/trips.parquet
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from headwater.api import Duration, StreamExecutionEnvironment
from headwater.connectors.arrow_files import BatchFileSink, BatchFileSource

ZONES = 40
#: 2026-01-01T00:00:00Z in epoch milliseconds.
START = 1_767_225_600_000
HOURS = 24
WINDOW = Duration.of_minutes(15)
MAX_DISORDER_MS = 120_000


def generate_trips(path: str, trips: int, seed: int = 42, row_group_size: int = 20_000) -> None:
    """Write ``trips`` taxi trips over ``HOURS`` hours to the Parquet file ``path``."""
    rng = np.random.default_rng(seed)
    times = START + np.sort(rng.integers(0, HOURS * 3_600_000, trips)) \
        + rng.integers(0, MAX_DISORDER_MS, trips)
    distance = np.round(rng.exponential(3.0, trips) + 0.1, 2)
    fare = np.round(2.5 + 1.75 * distance + rng.normal(0, 1.0, trips).clip(-2, 5), 2)
    table = pa.table({"pickup_zone": rng.integers(0, ZONES, trips, dtype=np.int32),
                      "pickup_time": times.astype(np.int64),
                      "fare": fare, "distance": distance})
    pq.write_table(table, path, row_group_size=row_group_size)


def build(env: StreamExecutionEnvironment, trips_path: str, output: str | None) -> None:
    """Add the windowed aggregation of the trips in ``trips_path`` to ``env``: into
    Parquet part files under ``output``, or printed when it is None."""
    windows = (env.from_batch_source(BatchFileSource.for_parquet(trips_path), "trips")
               .with_watermarks("pickup_time", max_out_of_orderness=Duration.of_minutes(5))
               .key_by("pickup_zone")
               .tumbling_window(WINDOW, "pickup_time")
               .aggregate({"fares": ("fare", "sum"), "trips": (None, "count"),
                           "avg_distance": ("distance", "mean")})
               .name("quarter hours"))
    if output is None:
        windows.print()
    else:
        windows.sink_to(BatchFileSink.for_parquet(output)).name("windows")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=100_000, help="trips to generate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--input", help="the trips' Parquet file (generated when missing; "
                                        "default: a temporary file)")
    parser.add_argument("--output", help="a directory for the Parquet results "
                                         "(default: print them)")
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args(argv)
    trips_path = args.input or os.path.join(tempfile.mkdtemp(prefix="taxi-"), "trips.parquet")
    if not os.path.exists(trips_path):
        generate_trips(trips_path, args.trips, args.seed)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(args.parallelism)
    build(env, trips_path, args.output)
    result = env.execute("taxi-windows")
    if args.output:
        print(f"wrote the windows of {trips_path} to {args.output} "
              f"(job {result.get_job_id()}, {result.get_net_runtime()} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
