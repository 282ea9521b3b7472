"""Connector contracts: every source, sink and dead-letter sink of ``connectors.py`` through
the same checks, each against the real thing (files, a pipe, Tansu, mosquitto, the capture
path of the microphone over a scripted PortAudio stream).

Sources (csv, jsonl, stdin as JSON lines and as CSV, text records from a JSONL or CSV file
and from stdin, Kafka on kafka-python and on confluent-kafka, MQTT, memory, microphone):

- good records arrive in order, each batch's ``position`` is the source's position after
  it (JSON-serialisable, as checkpoints store it), and every bad record (not JSON or CSV,
  no key, a non-numeric value, oversized; for text records blank, too long, not a string or
  not UTF-8 text) comes out as a dead record with its specific reason, a detail and its raw
  payload, while the good records around it still arrive, text records with their text;
- ``close()`` can be called twice;
- the capability protocols of ``rnnstream.connectors.base`` each type implements are
  exactly the ones its entry declares, and each capability is checked where declared:
  ``seek`` to a position resumes right after it (files, which replay); ``Rewindable`` goes
  back to the last commit and hands out exactly what followed it again; ``Pausable`` stops
  under backpressure until a commit; ``Partitioned`` is ready once its partitions are
  restored; ``ReportsLag`` counts what waits upstream and drops to 0 when caught up (Kafka);
  ``Finishable`` ends the stream with an END record before it reports exhausted
  (microphone).

Sinks (stdout, jsonl, Kafka on both clients, MQTT, plot, memory) and dead-letter sinks
(jsonl, stderr, Kafka on both clients, memory): what was written is delivered once
``flush()`` returns (read back by path or by a client of the test's own, never through the
connector), ``close()`` delivers without an explicit flush, and a sink that declares
``FlushesOnSchedule`` raises from ``flush`` when its broker is unreachable. Rows are written
right after a sink is opened, as a pipeline's first outputs may be.
"""

from __future__ import annotations

import contextlib
import json
import time

import numpy as np
import pytest

from rnnstream.connectors import base
from rnnstream.engine.records import DATA, END
from rnnstream.errors import ConnectorError

CAPABILITIES = ("Partitioned", "Rewindable", "ReportsLag", "Pausable", "Finishable", "FlushesOnSchedule")


def stream(impl, n_good: int):
    """``n_good`` good records with each of the type's bad records among them."""
    recs = [impl.good(i) for i in range(n_good)]
    for j, reason in enumerate(impl.bad):
        recs.insert(1 + 3 * j, impl.bad[reason])
    return recs


def goods(batches, keys) -> list[tuple]:
    """(key, ts, values) of every DATA row, in hand-out order."""
    out = []
    for b in batches:
        names = keys.names(b.key_ids).tolist() if len(b) else []
        for i in np.flatnonzero(b.kind == DATA).tolist():
            out.append((names[i], float(b.ts[i]), b.values[i].tolist()))
    return out


def expected(recs) -> list[tuple]:
    """(key, ts, values) of the good records (those with a decoded value), in order."""
    return [(r.key, r.ts, np.atleast_1d(np.asarray(r.value, np.float32)).tolist()) for r in recs
            if r.value is not None]


def texts(batches) -> list[str]:
    """``meta["text"]`` of every DATA row, in hand-out order."""
    return [t for b in batches for t in b.meta["text"][b.kind == DATA].tolist()]


def handed(batches) -> int:
    return sum(len(b) + len(b.dead) for b in batches)


# -- sources ------------------------------------------------------------------------------------------
def test_good_records_arrive_in_order_and_bad_ones_are_dead_with_their_reason(cn, env, source_impl):
    recs = stream(source_impl, 12)
    src = source_impl.open(env, recs, 4)
    batches = []
    deadline = time.monotonic() + source_impl.timeout_s
    while handed(batches) < len(recs) and time.monotonic() < deadline:
        batch = src.poll(0.1)
        if batch is not None:
            batches.append(batch)
            assert batch.position == src.position(), "a batch's position is not the source's position after it"
            json.dumps(batch.position)  # checkpoints store it as JSON
    assert goods(batches, env.keys) == expected(recs)
    if any(r.text is not None for r in recs):
        assert texts(batches) == [r.text for r in recs if r.value is not None]
    dead = [d for b in batches for d in b.dead]
    assert [d.reason for d in dead] == list(source_impl.bad), f"dead records: {dead}"
    for d in dead:
        payload = source_impl.bad[d.reason].payload
        assert d.source == src.name and isinstance(d.detail, str) and d.detail, d
        assert payload.startswith(d.raw) and len(d.raw) >= min(len(payload), cn.MAX_BYTES), d
    if source_impl.finite:
        more = cn.drain(src, 0, 2.0, finite=True)
        assert src.exhausted and handed(more) == 0
        assert src.poll(0.05) is None


def test_close_can_be_called_twice(cn, env, source_impl):
    src = source_impl.open(env, [source_impl.good(i) for i in range(3)], 2)
    cn.drain(src, 1, source_impl.timeout_s, finite=False)
    src.close()
    src.close()
    if source_impl.close_exhausts:
        assert src.exhausted


def test_declared_capabilities_are_the_implemented_ones(env, source_impl):
    src = source_impl.open(env, [], 1)
    assert isinstance(src, base.Source)
    implemented = {c for c in CAPABILITIES if isinstance(src, getattr(base, c))}
    assert implemented == set(source_impl.caps)


@pytest.mark.capability("replays")
def test_seek_resumes_right_after_a_position(cn, env, source_impl):
    recs = stream(source_impl, 20)
    src = source_impl.open(env, recs, 3)
    head = [src.poll(0.1), src.poll(0.1)]
    position = json.loads(json.dumps(src.position()))  # as a checkpoint stores it
    rest = cn.drain(src, len(recs) - handed(head), source_impl.timeout_s, finite=True)
    assert goods(head + rest, env.keys) == expected(recs)
    src.seek(position)
    again = cn.drain(src, len(recs) - handed(head), source_impl.timeout_s, finite=True)
    assert goods(again, env.keys) == goods(rest, env.keys)
    assert [d.reason for b in again for d in b.dead] == [d.reason for b in rest for d in b.dead]
    # A restart: a new source seeks to the checkpointed position.
    fresh = source_impl.open(env, recs, 3)
    fresh.seek(position)
    resumed = cn.drain(fresh, len(recs) - handed(head), source_impl.timeout_s, finite=True)
    assert goods(resumed, env.keys) == goods(rest, env.keys)
    fresh.close()


@pytest.mark.capability("Rewindable")
def test_rewind_hands_out_again_exactly_what_followed_the_last_commit(cn, env, source_impl):
    recs = stream(source_impl, 20)
    src = source_impl.open(env, recs, 4)
    head = []
    deadline = time.monotonic() + source_impl.timeout_s
    while handed(head) < 8 and time.monotonic() < deadline:
        batch = src.poll(0.1)
        head += [batch] if batch is not None else []
    src.commit(src.position())
    rest = cn.drain(src, len(recs) - handed(head), source_impl.timeout_s, finite=False)
    assert goods(head + rest, env.keys) == expected(recs)
    src.rewind()
    again = cn.drain(src, handed(rest), source_impl.timeout_s, finite=False)
    assert goods(again, env.keys) == goods(rest, env.keys)
    assert [d.reason for b in again for d in b.dead] == [d.reason for b in rest for d in b.dead]
    assert src.poll(0.3) is None, "rewind handed out more than what followed the commit"


@pytest.mark.capability("Pausable")
def test_backpressure_pauses_until_a_commit(cn, env, source_impl):
    recs = [source_impl.good(i) for i in range(20)]
    src = source_impl.open(env, recs, 5, max_in_flight=5)
    first = cn.drain(src, 5, source_impl.timeout_s, finite=False)
    assert 5 <= handed(first) < 10 and src.paused and src.commit_due
    assert src.poll(0.5) is None, "a paused source handed out records"
    src.commit(src.position())
    assert not src.commit_due
    more, deadline = [], time.monotonic() + source_impl.timeout_s
    while src.paused and not more and time.monotonic() < deadline:  # lifted once the commit is durable
        batch = src.poll(0.1)  # (Kafka: written in the background; records flow again, up to the next bound)
        more += [batch] if batch is not None else []
    assert more or not src.paused, "backpressure outlived the commit"
    while handed(first + more) < len(recs) and time.monotonic() < deadline:  # as the pipeline: commit when due
        batch = src.poll(0.1)
        more += [batch] if batch is not None else []
        if src.commit_due:
            src.commit(src.position())
    assert goods(first + more, env.keys) == expected(recs)


@pytest.mark.capability("Partitioned")
def test_a_partitioned_source_is_ready_once_its_partitions_are_restored(cn, env, source_impl):
    recs = [source_impl.good(i) for i in range(6)]
    src = source_impl.open(env, recs, 10)
    assert not src.ready, "ready before any partition was assigned and restored"
    batches = cn.drain(src, len(recs), source_impl.timeout_s, finite=False)
    assert src.ready and not src.commit_due
    assert goods(batches, env.keys) == expected(recs)


@pytest.mark.capability("ReportsLag")
def test_lag_counts_the_records_waiting_upstream(cn, env, source_impl):
    recs = [source_impl.good(i) for i in range(30)]
    src = source_impl.open(env, recs, 5)
    first = cn.drain(src, 5, source_impl.timeout_s, finite=False)
    time.sleep(2.1)  # lag is measured at most every 2 s, at a poll
    second = cn.drain(src, 1, source_impl.timeout_s, finite=False)
    assert 0 < src.lag <= len(recs) - handed(first), f"lag {src.lag} with {handed(first)} of 30 handed out"
    cn.drain(src, len(recs) - handed(first + second), source_impl.timeout_s, finite=False)
    time.sleep(2.1)
    assert src.poll(0.1) is None and src.lag == 0


@pytest.mark.capability("Finishable")
def test_finish_ends_the_stream_before_it_reports_exhausted(cn, env, source_impl):
    recs = [source_impl.good(i) for i in range(5)]
    src = source_impl.open(env, recs, 4)
    head = cn.drain(src, 5, source_impl.timeout_s, finite=False)
    assert goods(head, env.keys) == expected(recs) and not src.exhausted
    src.finish()
    tail = cn.drain(src, 1, source_impl.timeout_s, finite=True)
    rows = [(env.keys.name(int(k)), int(kind)) for b in tail for k, kind in zip(b.key_ids, b.kind)]
    assert rows and rows[-1] == (recs[0].key, END), f"no END record at the end: {rows}"
    assert src.exhausted and src.poll(0.05) is None
    src.close()


# -- sinks --------------------------------------------------------------------------------------------
@pytest.mark.capability("flushes")
def test_flush_delivers_what_was_written(cn, env, sink_impl):
    first, second = cn.output_batches(env.keys)
    sink, read = sink_impl.open(env)
    sink.write(first)  # at once: a pipeline's first outputs may come before a broker connection is up
    sink.flush()
    assert read(len(first)) == sink_impl.expect([first])
    sink.write(second)
    sink.flush()
    assert read(len(first) + len(second)) == sink_impl.expect([first, second])
    sink.close()


def test_close_delivers_without_a_flush(cn, env, sink_impl):
    batches = cn.output_batches(env.keys)
    sink, read = sink_impl.open(env)
    for b in batches:
        sink.write(b)
    sink.close()
    assert read(sum(len(b) for b in batches)) == sink_impl.expect(batches)


def test_sink_capabilities_are_the_declared_ones(env, sink_impl):
    sink, _ = sink_impl.open(env)
    assert isinstance(sink, base.Sink)
    implemented = {c for c in CAPABILITIES if isinstance(sink, getattr(base, c))}
    assert implemented == set(sink_impl.caps)
    if "FlushesOnSchedule" in sink_impl.caps:
        assert sink.flushes_on_schedule is True
    sink.close()


@pytest.mark.capability("FlushesOnSchedule")
def test_a_failed_delivery_is_one_connector_error(cn, env, sink_impl):
    sink, revive = sink_impl.unreachable(env)
    t0 = time.monotonic()
    # One clear error by the commit at the latest: a sink may refuse at write already (MQTT
    # publishes only while connected) or find out when it waits for acknowledgements.
    with pytest.raises(ConnectorError):
        sink.write(cn.output_batches(env.keys, 1)[0])
        sink.flush()
    assert time.monotonic() - t0 < 15, "flush waited far longer than its flush timeout"
    if revive is not None:
        revive()
    with contextlib.suppress(ConnectorError):
        sink.close()


# -- dead-letter sinks ---------------------------------------------------------------------------------
def as_written(records) -> list[tuple]:
    return [(r.source, r.reason, r.detail, r.raw) for r in records]


def test_dead_letter_flush_delivers_what_was_written(cn, env, dead_impl):
    sink, read = dead_impl.open(env)
    records = cn.dead_records()
    sink.write_dead(records[:1])
    sink.flush()
    assert read(1) == as_written(records[:1])
    sink.write_dead(records[1:])
    sink.flush()
    assert read(len(records)) == as_written(records)
    sink.close()


def test_dead_letter_close_delivers_without_a_flush(cn, env, dead_impl):
    sink, read = dead_impl.open(env)
    records = cn.dead_records()
    sink.write_dead(records)
    sink.close()
    assert read(len(records)) == as_written(records)


def test_dead_letter_capabilities_are_the_declared_ones(env, dead_impl):
    sink, _ = dead_impl.open(env)
    assert isinstance(sink, base.DeadLetterSink)
    implemented = {c for c in CAPABILITIES if isinstance(sink, getattr(base, c))}
    assert implemented == set(dead_impl.caps)
    sink.close()
