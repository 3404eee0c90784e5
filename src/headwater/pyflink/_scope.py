"""Which of PyFlink 1.20's public names headwater has, and why the others are missing.

``OUT_OF_SCOPE`` lists the names headwater deliberately does not offer, each with its
reason. Every other public name of the mirrored PyFlink modules is re-exported from
``headwater.api``
(``tests/unit/test_pyflink_names.py`` checks this against PyFlink's ``__all__`` lists).
"""

from __future__ import annotations

_JVM_WRAPPER = "wraps a Java object; headwater has no JVM"
_JAVA_SCHEMA = ("a Java (de)serialization schema for Java connectors such as Kafka; "
                "headwater has no Java connectors")
_SERIALIZER = ("a PyFlink serializer class for windows; headwater pickles windows, so no "
               "serializer is needed")

#: PyFlink name -> why headwater does not offer it (the same name in every module).
OUT_OF_SCOPE: dict[str, str] = {
    "AssignerWithPeriodicWatermarksWrapper": _JVM_WRAPPER + " (legacy Java assigner)",
    "SerializationSchema": _JAVA_SCHEMA,
    "DeserializationSchema": _JAVA_SCHEMA,
    "SimpleStringSchema": _JAVA_SCHEMA,
    "BulkWriterFactory": "a Java bulk writer (Parquet, ORC...) for Java file formats",
    "CustomStateBackend": _JVM_WRAPPER + " (a state backend written in Java)",
    "CustomCheckpointStorage": _JVM_WRAPPER + " (a checkpoint storage written in Java)",
    "TimeWindowSerializer": _SERIALIZER,
    "CountWindowSerializer": _SERIALIZER,
    "GlobalWindowSerializer": _SERIALIZER,
    "BulkFormat": "Java file formats (Parquet, Avro, ORC) read by Java code",
    "FileEnumeratorProvider": _JVM_WRAPPER + " (a Java file enumerator)",
    "FileSplitAssignerProvider": _JVM_WRAPPER + " (a Java split assigner)",
    "FileCompactor": "file compaction runs Java compactors; headwater's FileSink does not "
                     "compact",
    "FileCompactStrategy": "file compaction runs Java compactors; headwater's FileSink does "
                           "not compact",
}
