"""A PyFlink program file (PyFlink's word count example with its imports changed),
submitted with ``headwater run`` to a cluster started with ``headwater cluster start``."""

from __future__ import annotations

import pytest

from tests.integration.conftest import EXAMPLES, start_cluster, stop_cluster


@pytest.fixture
def cluster(tmp_path):
    c = start_cluster(tmp_path, taskmanagers=1, slots=1)
    try:
        yield c
    finally:
        stop_cluster(c)


def test_pyflink_word_count_example(cluster, tmp_path):
    text = tmp_path / "words.txt"
    text.write_text("to be or\nnot to be\n")
    out = tmp_path / "out"
    cluster.run(str(EXAMPLES / "pyflink_word_count.py"), "--input", str(text),
                "--output", str(out))
    parts = sorted(p.name for p in out.iterdir())
    assert parts == ["prefix-0-0.ext"]
    # the stream is typed Types.TUPLE([STRING, INT]): written with Flink's Tuple2.toString
    assert (out / parts[0]).read_text().splitlines() == [
        "(to,1)", "(be,1)", "(or,1)", "(not,1)", "(to,2)", "(be,2)"]
