"""PyFlink's module paths, re-exporting headwater's classes: a PyFlink DataStream program
runs on headwater after ``pyflink`` becomes ``headwater.pyflink`` in its imports::

    from headwater.pyflink.common import Types, WatermarkStrategy
    from headwater.pyflink.datastream import StreamExecutionEnvironment

Every name here is also importable from ``headwater.api``. What PyFlink has and headwater
does not (Java connectors, the Table API, JVM wrappers) is listed with its reason in
``headwater.pyflink._scope``; see the README, "Coming from PyFlink".
"""
