"""PostgreSQL through Flink's JDBC connector names: :class:`JdbcSink` (at-least-once
with upserts, or exactly-once by two-phase commit) and the bounded :class:`JdbcSource`.

Needs ``pip install 'headwater[postgres]'`` (psycopg 3) where jobs run; importing this
package does not.
"""

from headwater.connectors.jdbc.connection import (
    JdbcConnectionOptions,
    JdbcConnectionOptionsBuilder,
    JdbcError,
)
from headwater.connectors.jdbc.options import (
    JdbcExactlyOnceOptions,
    JdbcExecutionOptions,
)
from headwater.connectors.jdbc.parameters import (
    JdbcNumericBetweenParametersProvider,
    JdbcParameterValuesProvider,
)
from headwater.connectors.jdbc.sink import JdbcSink
from headwater.connectors.jdbc.source import JdbcSource, JdbcSourceBuilder

__all__ = [
    "JdbcConnectionOptions",
    "JdbcConnectionOptionsBuilder",
    "JdbcError",
    "JdbcExactlyOnceOptions",
    "JdbcExecutionOptions",
    "JdbcNumericBetweenParametersProvider",
    "JdbcParameterValuesProvider",
    "JdbcSink",
    "JdbcSource",
    "JdbcSourceBuilder",
]
