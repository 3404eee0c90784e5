"""The JDBC connector's pure parts: options and their builders, URLs and their masking,
records as statement parameters, and the API importing without psycopg."""

from __future__ import annotations

import subprocess
import sys

import pytest

from headwater.connectors.jdbc import (
    JdbcConnectionOptions,
    JdbcExactlyOnceOptions,
    JdbcExecutionOptions,
    JdbcSink,
    JdbcSource,
)
from headwater.connectors.jdbc.connection import mask_password
from headwater.connectors.jdbc.statements import record_params, statement_builder_of

URL = "jdbc:postgresql://db.example:5432/shop"


def connection(url=URL):
    return (JdbcConnectionOptions.JdbcConnectionOptionsBuilder().with_url(url)
            .with_user_name("app").with_password("pw").with_driver_name("org.postgresql.Driver")
            .with_connection_check_timeout_seconds(5).build())


def test_connection_options_speak_libpq():
    options = connection()
    assert options.conninfo() == "postgresql://db.example:5432/shop"
    assert options.connect_kwargs() == {"user": "app", "password": "pw", "connect_timeout": 5}
    assert JdbcConnectionOptions.builder().with_url("postgres://h/db").build().conninfo() \
        == "postgres://h/db"
    with pytest.raises(ValueError):
        JdbcConnectionOptions.builder().build()


def test_passwords_never_show_in_messages():
    assert mask_password("postgresql://app:s3cret@h:5432/db") == "postgresql://app:***@h:5432/db"
    assert mask_password("jdbc:postgresql://h/db?user=a&password=s3cret&ssl=1") == \
        "jdbc:postgresql://h/db?user=a&password=***&ssl=1"
    assert mask_password("host=h password=s3cret dbname=x") == "host=h password=*** dbname=x"


def test_execution_options_defaults_and_builder():
    default = JdbcExecutionOptions.defaults()
    assert (default.batch_size, default.batch_interval_ms, default.max_retries) == (5000, 0, 3)
    built = JdbcExecutionOptions.builder().with_batch_size(10).with_batch_interval_ms(50) \
        .with_max_retries(0).build()
    assert (built.batch_size, built.batch_interval_ms, built.max_retries) == (10, 50, 0)
    with pytest.raises(ValueError):
        JdbcExecutionOptions.builder().with_batch_size(0).build()


def test_exactly_once_options():
    options = JdbcExactlyOnceOptions.builder().with_max_commit_attempts(5) \
        .with_transaction_id_prefix("shop").with_recovered_and_rollback(False) \
        .with_allow_out_of_order_commits(True).with_timeout_sec(9) \
        .with_transaction_per_connection(True).build()
    assert (options.max_commit_attempts, options.transaction_id_prefix,
            options.recovered_and_rollback) == (5, "shop", False)
    for bad in ("", "a:b", "it's"):
        with pytest.raises(ValueError):
            JdbcExactlyOnceOptions(transaction_id_prefix=bad)


def test_sink_options_in_pyflink_or_java_order():
    execution = JdbcExecutionOptions.builder().with_batch_size(7).build()
    for args in ((connection(), execution), (execution, connection())):
        sink = JdbcSink.sink("INSERT INTO t VALUES (%s)", None, *args)
        assert sink.execution_options.batch_size == 7 and not sink.exactly_once
    sink = JdbcSink.sink("INSERT INTO t VALUES (%s)", None, connection())
    assert sink.execution_options.batch_size == 5000
    eo = JdbcSink.exactly_once_sink("INSERT INTO t VALUES (%s)", None, execution,
                                    JdbcExactlyOnceOptions.defaults(), connection())
    assert eo.exactly_once
    with pytest.raises(TypeError, match="needs JdbcConnectionOptions"):
        JdbcSink.sink("INSERT INTO t VALUES (%s)", None, execution)
    with pytest.raises(TypeError, match="exactly_once_sink"):
        JdbcSink.sink("x", None, connection(), JdbcExactlyOnceOptions.defaults())
    with pytest.raises(ValueError):
        JdbcSink.sink("  ", None, connection())


def test_records_become_parameters():
    assert record_params((1, "a")) == (1, "a")
    assert record_params([1, 2]) == [1, 2]
    assert record_params({"k": 1}) == {"k": 1}
    assert record_params("word") == ("word",)
    assert statement_builder_of(None) is record_params
    assert statement_builder_of("RowTypeInfo") is record_params  # type info: positional
    assert statement_builder_of(len)("abc") == 3


def test_source_builder_checks():
    with pytest.raises(ValueError, match="needs a query"):
        JdbcSource.builder().set_db_url(URL).build()
    with pytest.raises(ValueError, match="bounds"):
        JdbcSource.builder().set_db_url(URL).set_query("SELECT 1").set_partition_column("id") \
            .build()
    whole = JdbcSource.builder().set_db_url(URL).set_sql("SELECT * FROM t").build()
    assert whole.splits() == [None]


def test_api_imports_without_psycopg():
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "import headwater.api as api\n"
            "assert api.JdbcSink and api.JdbcSource and api.DataGeneratorSource\n"
            "api.JdbcSink.sink('INSERT INTO t VALUES (%s)', None, api.JdbcConnectionOptions("
            "'postgresql://h/db')).create_operator()\n"
            "try:\n"
            "    api.JdbcConnectionOptions('postgresql://h/db').connect()\n"
            "except ImportError as e:\n"
            "    assert \"pip install 'headwater[postgres]'\" in str(e)\n"
            "else:\n"
            "    raise AssertionError('no ImportError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
