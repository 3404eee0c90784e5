"""PyFlink's word count example, run on headwater: only the imports changed (and the
runtime mode: headwater runs DataStream programs in STREAMING mode, so ``reduce``
emits every running count instead of the final ones).

Run it::

    python examples/pyflink_word_count.py --input words.txt --output out/
    headwater run examples/pyflink_word_count.py --input words.txt --output out/
"""

from __future__ import annotations

import argparse
import sys

from headwater.pyflink.common import Encoder, Types, WatermarkStrategy
from headwater.pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment
from headwater.pyflink.datastream.connectors.file_system import (
    FileSink,
    FileSource,
    OutputFileConfig,
    RollingPolicy,
    StreamFormat,
)

WORDS = ["To be, or not to be,--that is the question:--",
         "Whether 'tis nobler in the mind to suffer",
         "The slings and arrows of outrageous fortune",
         "Or to take arms against a sea of troubles,"]


def word_count(input_path: str | None, output_path: str | None) -> None:
    """Count the words of ``input_path`` (or of a few lines of Hamlet)."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_runtime_mode(RuntimeExecutionMode.STREAMING)
    env.set_parallelism(1)
    if input_path is not None:
        ds = env.from_source(
            source=FileSource.for_record_stream_format(StreamFormat.text_line_format(),
                                                       input_path)
            .process_static_file_set().build(),
            watermark_strategy=WatermarkStrategy.for_monotonous_timestamps(),
            source_name="file_source")
    else:
        ds = env.from_collection(WORDS)

    def split(line):
        yield from line.split()

    ds = (ds.flat_map(split)
          .map(lambda i: (i, 1), output_type=Types.TUPLE([Types.STRING(), Types.INT()]))
          .key_by(lambda i: i[0])
          .reduce(lambda i, j: (i[0], i[1] + j[1])))
    if output_path is not None:
        ds.sink_to(
            sink=FileSink.for_row_format(base_path=output_path,
                                         encoder=Encoder.simple_string_encoder())
            .with_output_file_config(OutputFileConfig.builder().with_part_prefix("prefix")
                                     .with_part_suffix(".ext").build())
            .with_rolling_policy(RollingPolicy.default_rolling_policy())
            .build())
    else:
        ds.print()
    env.execute()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", dest="input", required=False, help="Input file to process.")
    parser.add_argument("--output", dest="output", required=False,
                        help="Output directory for the results.")
    known_args, _ = parser.parse_known_args(sys.argv[1:])
    word_count(known_args.input, known_args.output)
