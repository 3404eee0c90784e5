"""The end of a source task's input (issue 11): the final MAX watermark reaches
downstream also when the source announced itself idle before it ended, e.g. a bounded
Kafka source restored with its last few records, which finds no partition left at its
next periodic watermark emission. Downstream valves ignore the watermarks of idle
channels, so without ``WatermarkStatus(idle=False)`` first the event-time windows that
only the end of input fires were never fired and the job still FINISHED."""

from __future__ import annotations

import queue
import threading
import types

from headwater.runtime.network.events import MAX_WATERMARK, Watermark, WatermarkStatus
from headwater.runtime.operators.base import SourceOperator, StreamOperator
from headwater.runtime.taskmanager.input_processor import StatusWatermarkValve
from headwater.runtime.taskmanager.io_counters import TaskMetrics
from headwater.runtime.taskmanager.mailbox import Mailbox
from headwater.runtime.taskmanager.operator_chain import OperatorChain
from headwater.runtime.taskmanager.source_driver import SourceDriver, SourceOutput
from headwater.runtime.taskmanager.timers import ProcessingTimeService


class Writer:
    """Stands in for a RecordWriter: records what the task sends downstream."""

    def __init__(self) -> None:
        self.sent: list = []

    def emit(self, values, timestamps) -> None:
        self.sent.extend(values)

    def take(self, holder, timestamps) -> None:
        self.emit(holder.pop(), timestamps)

    def broadcast_event(self, event) -> None:
        self.sent.append(event)

    def flush(self) -> None:
        pass


class Forward(StreamOperator):
    def process_batch(self, values, timestamps):
        return values, timestamps


class EmitThenIdle(SourceOperator):
    """Emits a record and a watermark, announces idleness, ends."""

    def run(self, output) -> None:
        output.collect_with_timestamp("a", 10)
        output.emit_watermark(10)
        output.mark_idle()


def downstream_watermark(events: list) -> int:
    """The watermark a downstream task reading these events from one channel reaches."""
    valve = StatusWatermarkValve(1)
    for event in events:
        if isinstance(event, Watermark):
            valve.input_watermark(0, event.timestamp)
        elif isinstance(event, WatermarkStatus):
            valve.input_status(0, event.idle)
    return valve.current


def run_source(source: SourceOperator, *chained: StreamOperator) -> list:
    """Run ``source`` in a source task (source thread and mailbox); what it sent."""
    writer = Writer()
    ops = [source, *chained]
    metrics = TaskMetrics(len(ops))
    chain = OperatorChain(ops, [writer], {}, metrics)
    items: queue.SimpleQueue = queue.SimpleQueue()
    output = SourceOutput(chain, metrics, threading.Event(), batch_size=64)
    checkpointer = types.SimpleNamespace(checkpoint=lambda *args, **kwargs: None)
    driver = SourceDriver("test source", source, chain, Mailbox(items), items,
                          ProcessingTimeService(), checkpointer,
                          output, buffer_timeout=0.05)
    driver.run()
    return writer.sent


def test_a_source_that_ends_idle_still_moves_event_time_to_the_end():
    sent = run_source(EmitThenIdle(), Forward())
    statuses = [e for e in sent if isinstance(e, WatermarkStatus)]
    assert statuses == [WatermarkStatus(idle=True), WatermarkStatus(idle=False)]
    assert sent.index(statuses[-1]) < sent.index(Watermark(MAX_WATERMARK))
    assert downstream_watermark(sent) == MAX_WATERMARK


def test_a_watermark_makes_an_idle_source_active_again():
    class IdleThenWatermark(SourceOperator):
        def run(self, output) -> None:
            output.mark_idle()
            output.emit_watermark(20)

    sent = run_source(IdleThenWatermark(), Forward())
    assert sent[:3] == [WatermarkStatus(idle=True), WatermarkStatus(idle=False),
                        Watermark(20)]


def test_the_chain_announces_activity_before_the_final_watermark_only():
    """In an input task (an idle TimestampsAndWatermarksOperator) watermarks from
    upstream pass an idle output unannounced, as in Flink; MAX_WATERMARK makes it
    active (Flink's TimestampsAndWatermarksOperator does so for it)."""
    writer = Writer()
    chain = OperatorChain([Forward()], [writer], {}, TaskMetrics(1))
    chain.emit_watermark_status(True)
    chain.push_watermark(30)
    chain.push_watermark(MAX_WATERMARK)
    chain.push_watermark(MAX_WATERMARK)
    assert writer.sent == [WatermarkStatus(idle=True), Watermark(30),
                           WatermarkStatus(idle=False), Watermark(MAX_WATERMARK)]
    assert not chain.idle
