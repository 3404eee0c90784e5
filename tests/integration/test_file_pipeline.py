"""Bounded jobs on a real mini cluster: file source -> keyed state (both backends) -> file
sink; the committed parts hold every record once."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from headwater.api import (
    EmbeddedRocksDBStateBackend,
    FileSink,
    HashMapStateBackend,
    KeyedProcessFunction,
    StreamExecutionEnvironment,
    ValueStateDescriptor,
)


class Count(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, value, ctx):
        n = (self.count.value() or 0) + 1
        self.count.update(n)
        yield f"{ctx.get_current_key()} {n}"


@pytest.mark.parametrize("backend", [HashMapStateBackend, EmbeddedRocksDBStateBackend])
def test_files_in_keyed_state_files_out(mini_cluster, tmp_path, backend):
    if backend is EmbeddedRocksDBStateBackend:
        pytest.importorskip("rocksdict")
    src = tmp_path / "in"
    src.mkdir()
    words = ["a", "b", "c", "d"]
    for i in range(3):
        (src / f"f{i}.txt").write_text("".join(f"{words[j % 4]}\n" for j in range(i, 400)))
    out = tmp_path / "out"
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_state_backend(backend())
    (env.read_text_file(str(src))
        .key_by(lambda w: w)
        .process(Count())
        .sink_to(FileSink.for_row_format(str(out))))
    env.execute("files")
    names = os.listdir(out)
    assert names and not [n for n in names if n.startswith(".")]
    lines = [line for n in names for line in (out / n).read_text().splitlines()]
    totals = Counter(words[j % 4] for i in range(3) for j in range(i, 400))
    assert len(lines) == sum(totals.values())
    finals: dict[str, int] = {}
    for line in lines:
        word, n = line.split()
        finals[word] = max(finals.get(word, 0), int(n))
    assert finals == dict(totals)
