"""headwater: a stream and batch dataflow engine for Python that speaks Flink's REST API."""

__version__ = "0.1.0"

#: The Flink REST API level headwater implements.
FLINK_API_VERSION = "1.12.5"
