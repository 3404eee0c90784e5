"""Clicks per user and minute, upserted into PostgreSQL exactly once.

A rate-limited DataGeneratorSource plays a click stream: click ``i`` is by user
``user-<i % users>`` at event time ``i * 1000 / clicks_per_second`` ms. The job counts
clicks per user in one-minute event-time tumbling windows and writes each window's count
through JdbcSink.exactly_once_sink (two-phase commit: a row appears only once the
checkpoint covering it completes) as an upsert, so the table is exact also after
failures::

    createdb shop   # a PostgreSQL server with max_prepared_transactions > 0
    headwater run -d examples/clicks_to_postgres.py \\
        --url jdbc:postgresql://localhost:5432/shop?user=app --clicks 600000 --rate 2000
    psql shop -c "SELECT * FROM clicks_per_minute ORDER BY minute, user_id LIMIT 5"

The table ``clicks_per_minute (user_id, minute, clicks)`` is created if missing.
"""

from __future__ import annotations

import argparse

from headwater.api import (
    DataGeneratorSource,
    Duration,
    JdbcConnectionOptions,
    JdbcExactlyOnceOptions,
    JdbcExecutionOptions,
    JdbcSink,
    ProcessWindowFunction,
    RateLimiterStrategy,
    RestartStrategies,
    StreamExecutionEnvironment,
    Time,
    TumblingEventTimeWindows,
    WatermarkStrategy,
)

TABLE = """CREATE TABLE IF NOT EXISTS clicks_per_minute (
    user_id text NOT NULL, minute timestamptz NOT NULL, clicks bigint NOT NULL,
    PRIMARY KEY (user_id, minute))"""

UPSERT = ("INSERT INTO clicks_per_minute (user_id, minute, clicks) "
          "VALUES (%s, to_timestamp(%s / 1000.0), %s) "
          "ON CONFLICT (user_id, minute) DO UPDATE SET clicks = EXCLUDED.clicks")


class Click:
    """Click ``i`` of the generated stream: ``(user, event time ms)``."""

    def __init__(self, users: int, clicks_per_second: float) -> None:
        self.users = users
        self.step = 1000.0 / clicks_per_second

    def __call__(self, i: int) -> tuple[str, int]:
        return f"user-{i % self.users}", int(i * self.step)


class CountPerWindow(ProcessWindowFunction):
    """``(user, window start ms, clicks)`` of a fired window."""

    def process(self, key, context, elements):
        """One row per fired window."""
        yield key, context.window().start, sum(1 for _ in elements)


def build(env: StreamExecutionEnvironment, url: str, clicks: int, rate: float,
          users: int, clicks_per_second: float) -> None:
    """The job graph: generated clicks -> per-user minute counts -> PostgreSQL."""
    source = DataGeneratorSource(Click(users, clicks_per_second), clicks,
                                 RateLimiterStrategy.per_second(rate))
    watermarks = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1)) \
        .with_timestamp_assigner(lambda click, _: click[1])
    connection = JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(url).build()
    execution = JdbcExecutionOptions.builder().with_batch_size(500).build()
    (env.from_source(source, watermarks, "clicks").uid("clicks")
        .key_by(lambda click: click[0])
        .window(TumblingEventTimeWindows.of(Time.minutes(1)))
        .process(CountPerWindow()).uid("count")
        .add_sink(JdbcSink.exactly_once_sink(UPSERT, None, execution,
                                             JdbcExactlyOnceOptions.defaults(), connection))
        .name("postgres").uid("postgres"))


def create_table(url: str) -> None:
    """Create the result table if it is missing."""
    with JdbcConnectionOptions(url).connect(autocommit=True) as conn:
        conn.execute(TABLE)


def main(argv: list[str] | None = None) -> None:
    """Parse the options, create the table and run the job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="jdbc:postgresql://host:port/db?user=...")
    parser.add_argument("--clicks", type=int, default=600_000, help="clicks in total")
    parser.add_argument("--rate", type=float, default=2000, help="clicks per second (total)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--event-clicks-per-second", type=float, default=1000,
                        help="clicks per second of event time")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--checkpoint-interval", type=int, default=1000, help="ms")
    args = parser.parse_args(argv)
    create_table(args.url)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(args.parallelism)
    env.enable_checkpointing(args.checkpoint_interval)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 500))
    build(env, args.url, args.clicks, args.rate, args.users, args.event_clicks_per_second)
    env.execute("clicks to postgres")


if __name__ == "__main__":
    main()
