"""Clicks from a Kafka topic, counted per user in one-minute event-time windows, upserted
into PostgreSQL exactly once.

Each Kafka record is a JSON click ``{"user": "u7", "ts": 1700000000000}`` (event time in
ms); the source assigns watermarks per partition. Window counts go through
JdbcSink.exactly_once_sink: PostgreSQL two-phase commit, a row appears only once the
checkpoint covering it completes, so the table is exact also after failures. Against a
local broker and database (see the README's Kafka and PostgreSQL sections)::

    headwater run -d examples/kafka_to_postgres.py --bootstrap 127.0.0.1:9092 \\
        --topic clicks --url jdbc:postgresql://127.0.0.1:5432/shop?user=app
    psql shop -c "SELECT * FROM clicks_per_minute ORDER BY minute, user_id LIMIT 5"

``--bounded`` stops at the topic's end offsets at start (a batch over what is there);
``--pace-ms`` sleeps per click (demos and tests that act while the job runs). The table
``clicks_per_minute (user_id, minute, clicks)`` is created if missing.
"""

from __future__ import annotations

import argparse
import json
import time

from headwater.api import (
    Duration,
    JdbcConnectionOptions,
    JdbcExactlyOnceOptions,
    JdbcExecutionOptions,
    JdbcSink,
    ProcessWindowFunction,
    RestartStrategies,
    StreamExecutionEnvironment,
    Time,
    TumblingEventTimeWindows,
    WatermarkStrategy,
)
from headwater.connectors.kafka import (
    KafkaOffsetsInitializer,
    KafkaSource,
    SimpleStringSchema,
)

TABLE = """CREATE TABLE IF NOT EXISTS clicks_per_minute (
    user_id text NOT NULL, minute timestamptz NOT NULL, clicks bigint NOT NULL,
    PRIMARY KEY (user_id, minute))"""

UPSERT = ("INSERT INTO clicks_per_minute (user_id, minute, clicks) "
          "VALUES (%s, to_timestamp(%s / 1000.0), %s) "
          "ON CONFLICT (user_id, minute) DO UPDATE SET clicks = EXCLUDED.clicks")


class ParseClick:
    """JSON text -> ``(user, event time ms)``, sleeping ``pace_ms`` per click."""

    def __init__(self, pace_ms: float) -> None:
        self.pace = pace_ms / 1000

    def __call__(self, text: str) -> tuple[str, int]:
        if self.pace:
            time.sleep(self.pace)
        click = json.loads(text)
        return str(click["user"]), int(click["ts"])


class CountPerWindow(ProcessWindowFunction):
    """``(user, window start ms, clicks)`` of a fired window."""

    def process(self, key, context, elements):
        """One row per fired window."""
        yield key, context.window().start, sum(1 for _ in elements)


def build(env: StreamExecutionEnvironment, bootstrap: str, topic: str, url: str,
          bounded: bool = False, pace_ms: float = 0.0) -> None:
    """The job graph: Kafka clicks -> per-user minute counts -> PostgreSQL."""
    source = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics(topic)
              .set_group_id("kafka-to-postgres")
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_value_only_deserializer(SimpleStringSchema()))
    if bounded:
        source = source.set_bounded(KafkaOffsetsInitializer.latest())
    watermarks = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(5)) \
        .with_timestamp_assigner(lambda text, _: json.loads(text)["ts"])
    connection = JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(url).build()
    execution = JdbcExecutionOptions.builder().with_batch_size(500).build()
    (env.from_source(source.build(), watermarks, "clicks").uid("clicks")
        .map(ParseClick(pace_ms)).name("parse").uid("parse")
        .key_by(lambda click: click[0])
        .window(TumblingEventTimeWindows.of(Time.minutes(1)))
        .process(CountPerWindow()).name("count per minute").uid("count")
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
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic", default="clicks")
    parser.add_argument("--url", required=True, help="jdbc:postgresql://host:port/db?user=...")
    parser.add_argument("--bounded", action="store_true",
                        help="stop at the topic's end offsets at start")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="sleep per click")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--checkpoint-interval", type=int, default=1000, help="ms")
    args = parser.parse_args(argv)
    create_table(args.url)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(args.parallelism)
    env.enable_checkpointing(args.checkpoint_interval)
    env.set_restart_strategy(RestartStrategies.fixed_delay_restart(10, 500))
    build(env, args.bootstrap, args.topic, args.url, args.bounded, args.pace_ms)
    env.execute("kafka to postgres")


if __name__ == "__main__":
    main()
