"""PyFlink's ``pyflink.table`` does not exist in headwater: importing it raises an
ImportError that says so (headwater runs DataStream programs only)."""

raise ImportError(
    "headwater.pyflink.table: headwater has no Table API (TableEnvironment, SQL, Table); "
    "it runs PyFlink DataStream programs only. Express the job with "
    "headwater.pyflink.datastream (map, key_by, window, process...).")
