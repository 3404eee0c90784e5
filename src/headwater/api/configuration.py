"""PyFlink's ``Configuration``, ``ConfigOption`` and ``ConfigOptions``: string keys and
values a program passes to ``StreamExecutionEnvironment.get_execution_environment(conf)``
or ``env.configure(conf)``; they go into the job's configuration (Flink's keys, e.g.
``pipeline.name``, ``execution.checkpointing.interval``).
"""

from __future__ import annotations

import builtins
from typing import Any


class ConfigOption:
    """A typed key with a default (``ConfigOptions.key("k").int_type().default_value(1)``)."""

    def __init__(self, key: str, value_type: type | None = None, default: Any = None,
                 description: str = "") -> None:
        self._key = key
        self._type = value_type
        self._default = default
        self._description = description

    def key(self) -> str:
        """The option's key."""
        return self._key

    def default_value(self) -> Any:
        """The default value."""
        return self._default

    def has_default_value(self) -> bool:
        """Whether there is a default."""
        return self._default is not None

    def with_description(self, description: str) -> ConfigOption:
        """The option with a description."""
        return ConfigOption(self._key, self._type, self._default, description)


class ConfigOptions:
    """Builds ConfigOptions: ``ConfigOptions.key("k").string_type().default_value("v")``."""

    class OptionBuilder:
        """Chooses the option's type."""

        def __init__(self, key: str) -> None:
            self._key = key

        def _typed(self, value_type: type) -> ConfigOptions.TypedConfigOptionBuilder:
            return ConfigOptions.TypedConfigOptionBuilder(self._key, value_type)

        def boolean_type(self) -> ConfigOptions.TypedConfigOptionBuilder:
            """A bool option."""
            return self._typed(bool)

        def int_type(self) -> ConfigOptions.TypedConfigOptionBuilder:
            """An int option."""
            return self._typed(int)

        def long_type(self) -> ConfigOptions.TypedConfigOptionBuilder:
            """An int option (Java long)."""
            return self._typed(int)

        def float_type(self) -> ConfigOptions.TypedConfigOptionBuilder:
            """A float option."""
            return self._typed(float)

        def double_type(self) -> ConfigOptions.TypedConfigOptionBuilder:
            """A float option (Java double)."""
            return self._typed(float)

        def string_type(self) -> ConfigOptions.TypedConfigOptionBuilder:
            """A str option."""
            return self._typed(str)

    class TypedConfigOptionBuilder:
        """Sets the option's default."""

        def __init__(self, key: str, value_type: type) -> None:
            self._key = key
            self._type = value_type

        def default_value(self, value: Any) -> ConfigOption:
            """The option with a default."""
            return ConfigOption(self._key, self._type, value)

        def no_default_value(self) -> ConfigOption:
            """The option without a default."""
            return ConfigOption(self._key, self._type, None)

    @staticmethod
    def key(key: str) -> ConfigOptions.OptionBuilder:
        """Start building the option ``key``."""
        return ConfigOptions.OptionBuilder(key)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Configuration:
    """String keys and values (PyFlink's ``Configuration``)."""

    def __init__(self, other: Configuration | None = None) -> None:
        self._data: dict[str, str] = dict(other._data) if other is not None else {}

    def get_string(self, key: str, default_value: str | None = None) -> str | None:
        """The value of ``key`` as a str."""
        return self._data.get(key, default_value)

    def set_string(self, key: str, value: str) -> Configuration:
        """Set ``key``."""
        self._data[key] = _text(value)
        return self

    def get_integer(self, key: str, default_value: int = 0) -> int:
        """The value of ``key`` as an int."""
        value = self._data.get(key)
        return default_value if value is None else int(value)

    def set_integer(self, key: str, value: int) -> Configuration:
        """Set ``key`` to an int."""
        self._data[key] = str(int(value))
        return self

    get_long = get_integer
    set_long = set_integer

    def get_boolean(self, key: str, default_value: bool = False) -> bool:
        """The value of ``key`` as a bool."""
        value = self._data.get(key)
        return default_value if value is None else value.strip().lower() == "true"

    def set_boolean(self, key: str, value: bool) -> Configuration:
        """Set ``key`` to a bool."""
        self._data[key] = _text(bool(value))
        return self

    def get_float(self, key: str, default_value: float = 0.0) -> float:
        """The value of ``key`` as a float."""
        value = self._data.get(key)
        return default_value if value is None else float(value)

    def set_float(self, key: str, value: float) -> Configuration:
        """Set ``key`` to a float."""
        self._data[key] = str(float(value))
        return self

    get_double = get_float
    set_double = set_float

    def get_bytearray(self, key: str, default_value: bytes = b"") -> bytes:
        """The value of ``key`` as bytes."""
        value = self._data.get(key)
        return default_value if value is None else value.encode()

    def set_bytearray(self, key: str, value: bytes) -> Configuration:
        """Set ``key`` to bytes (decoded as UTF-8)."""
        self._data[key] = bytes(value).decode()
        return self

    def get(self, option: ConfigOption) -> Any:
        """The value of a ConfigOption (its default when unset)."""
        value = self._data.get(option.key())
        if value is None:
            return option.default_value()
        value_type = option._type
        if value_type is bool:
            return value.strip().lower() == "true"
        return value_type(value) if value_type is not None else value

    def set(self, option: ConfigOption, value: Any) -> Configuration:
        """Set a ConfigOption."""
        self._data[option.key()] = _text(value)
        return self

    def key_set(self) -> builtins.set[str]:
        """The keys."""
        return set(self._data)

    keys = key_set

    def contains_key(self, key: str) -> bool:
        """Whether ``key`` is set."""
        return key in self._data

    def remove_config(self, key: ConfigOption | str) -> bool:
        """Unset a key or ConfigOption; whether it was set."""
        name = key.key() if isinstance(key, ConfigOption) else str(key)
        return self._data.pop(name, None) is not None

    def add_all(self, other: Configuration, prefix: str | None = None) -> Configuration:
        """Copy all keys of ``other`` (with ``prefix`` in front)."""
        for k, v in other._data.items():
            self._data[f"{prefix}{k}" if prefix else k] = v
        return self

    def add_all_to_dict(self, target_dict: dict) -> None:
        """Copy all keys into ``target_dict``."""
        target_dict.update(self._data)

    def to_dict(self) -> dict[str, str]:
        """The keys and values."""
        return dict(self._data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Configuration) and other._data == self._data

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items())))

    def __repr__(self) -> str:
        return f"Configuration({self._data})"
