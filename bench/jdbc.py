"""Benchmark: writing to PostgreSQL through the JDBC sinks.

Against a private PostgreSQL server started here (Debian's binaries, see
``headwater.testing.postgres``), in one run:

1. baseline: one process generating ``(i % 1000, i)`` rows and writing them with psycopg's
   ``executemany`` in batches of 1000, one commit per batch;
2. DataGeneratorSource -> ``JdbcSink.sink`` (batches of 1000) at P=1 and P=2 on a mini
   cluster with 2 TaskManagers;
3. the same with ``JdbcSink.exactly_once_sink`` at P=2, checkpointing every second.

Rates are records/s from the job's own duration; ratios are against the baseline.

    python bench/jdbc.py           # 200,000 rows per run
    python bench/jdbc.py --quick   # 20,000 rows (CI)
"""

from __future__ import annotations

import argparse
import time

from _common import wait_finished

from headwater.api import StreamExecutionEnvironment, WatermarkStrategy
from headwater.cluster.minicluster import MiniCluster
from headwater.config import Configuration
from headwater.connectors.datagen import DataGeneratorSource
from headwater.connectors.jdbc import (
    JdbcConnectionOptions,
    JdbcExactlyOnceOptions,
    JdbcExecutionOptions,
    JdbcSink,
)
from headwater.testing.postgres import PostgresServer

BATCH = 1000


def row(i: int) -> tuple[int, int]:
    """The generated row of index ``i``."""
    return (i % 1000, i)


def baseline(pg: PostgresServer, table: str, rows: int) -> float:
    """Records/s of a plain psycopg loop: generate, ``executemany``, commit per batch."""
    start = time.perf_counter()
    with pg.connect(autocommit=False) as conn:
        for lo in range(0, rows, BATCH):
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} (k, v) VALUES (%s, %s)",
                                [row(i) for i in range(lo, min(rows, lo + BATCH))])
            conn.commit()
    return rows / (time.perf_counter() - start)


def job_rate(cluster: MiniCluster, pg: PostgresServer, table: str, rows: int,
             parallelism: int, exactly_once: bool) -> float:
    """Records/s of DataGeneratorSource -> JDBC sink on the mini cluster."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    connection = JdbcConnectionOptions.builder().with_url(pg.jdbc_url).build()
    execution = JdbcExecutionOptions.builder().with_batch_size(BATCH).build()
    sql = f"INSERT INTO {table} (k, v) VALUES (%s, %s)"
    sink = (JdbcSink.exactly_once_sink(sql, None, execution, JdbcExactlyOnceOptions.defaults(),
                                       connection)
            if exactly_once else JdbcSink.sink(sql, None, connection, execution))
    env.from_source(DataGeneratorSource(row, rows), WatermarkStrategy.no_watermarks(),
                    "gen").add_sink(sink)
    job_graph = env.get_job_graph(table)
    if exactly_once:
        job_graph.configuration["execution.checkpointing.interval"] = 1000
    graph = wait_finished(cluster, cluster.submit(job_graph))
    written = pg.query(f"SELECT count(*) FROM {table}")[0][0]
    assert written == rows, (written, rows)
    return rows / (graph.duration() / 1000)


def main() -> None:
    """Run every configuration once against one server and print the ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    rows = 20_000 if parser.parse_args().quick else 200_000
    with PostgresServer() as pg, \
            MiniCluster(Configuration({"rest.port": 0}), taskmanagers=2) as cluster:
        runs = [("baseline", None, False), ("at-least-once P=1", 1, False),
                ("at-least-once P=2", 2, False), ("exactly-once P=2", 2, True)]
        base = None
        print(f"PostgreSQL writes, {rows} rows per run (records/s, ratio to the baseline)")
        for n, (label, parallelism, exactly_once) in enumerate(runs):
            table = f"bench_{n}"
            pg.query(f"CREATE TABLE {table} (k int, v bigint)")
            if parallelism is None:
                rate = baseline(pg, table, rows)
                base = rate
            else:
                rate = job_rate(cluster, pg, table, rows, parallelism, exactly_once)
            assert base is not None
            print(f"  {label:<20} {rate:>10,.0f}  {rate / base:.2f}x")


if __name__ == "__main__":
    main()
