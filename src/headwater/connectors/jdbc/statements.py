"""How a record becomes the parameters of the sink's SQL statement.

PyFlink's ``JdbcSink.sink(sql, type_info, ...)`` binds the fields of a row positionally;
here a record that is a tuple or list binds positionally (``%s`` placeholders), a dict by
name (``%(name)s``), anything else as the single parameter. A callable statement builder
``record -> tuple | dict`` replaces that mapping (Flink's ``JdbcStatementBuilder``)::

    JdbcSink.sink("INSERT INTO clicks (user_id, n) VALUES (%s, %s)",
                  lambda click: (click.user, click.count), connection_options)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Turns a record into statement parameters.
StatementBuilder = Callable[[Any], Any]


def record_params(record: Any) -> Any:
    """A tuple/list/dict record as it is; anything else as a one-parameter tuple."""
    if isinstance(record, tuple | list | dict):
        return record
    return (record,)


def statement_builder_of(statement_builder_or_type_info: Any) -> StatementBuilder:
    """The record -> parameters function: the callable given, else :func:`record_params`
    (None or a type information object: bind the record's fields positionally)."""
    if callable(statement_builder_or_type_info):
        return statement_builder_or_type_info
    return record_params
