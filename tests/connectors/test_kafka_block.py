"""Kafka JSON polls read by Arrow a block at a time give exactly what message by message gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.connectors.kafka_block import PlainRun, json_columns, plain_messages
from rnnstream.connectors.kafka_wire import WireDecoder, WireMessages
from rnnstream.engine.keys import KeyTable

GOOD = [
    b'{"ts": %d, "value": 1.25}',
    b'{"value": -3, "note": "ignored", "nested": {"a": [1, 2]}}',
    b'{"ts": %d.5, "value": 1e-7}',
    b'{"value": 12345678901234567890}',
]
BAD = [
    b'{"value": ',                      # broken JSON
    b'"just a string"',                 # not an object
    b'{"value": false}',                # not a number
    b'{"value": NaN}',                  # NaN literal
    b'{"value": -1e40}',                # beyond float32
    b'{"value": 1e400}',                # beyond float64
    b'{"value": [1, 2, 3]}',            # wrong width
    b'\xff{"value": 1}',                # not UTF-8
    b'{"ts": [1], "value": 1}',         # bad timestamp
    b'{"ts": 1e400, "value": 1}',       # infinite timestamp
    b'{"other": 1}',                    # no value
    b'{"value": "2.5"}',                # a numeric string: good, but only message by message
    b'{"ts": "2024-01-01T00:00:00Z", "value": 2}',  # an ISO timestamp: good, message by message
    b'{"value": 1, "control": "reset"}',  # a control record
    b'{"value": 1, "control": "explode"}',
    b'{\n"value": 4}',                  # a raw newline: legal JSON whitespace
    b'{"value": 1} {"value": 2}',       # two objects
    b'{}',
    b'',
    None,                               # a tombstone
]
KEYS = [b"a", b"b", b"c", None, b"\xc3\x28", b"k\x00"]

message = st.tuples(
    st.sampled_from(KEYS),
    st.one_of(st.sampled_from(GOOD), st.sampled_from(BAD)),
    st.sampled_from([None, None, None, [("seq", b"4")], [("rnnstream-control", b"end")]]),
    st.booleans(),  # the key also in the body
)


def build(items, extra_header: bool) -> WireMessages:
    m = WireMessages()
    for i, (key, value, headers, body_key) in enumerate(items):
        if value is not None and b"%d" in value:
            value = value % i
        if body_key and value and value.startswith(b"{") and len(value) > 2:
            value = b'{"key": "body%d", ' % (i % 3) + value[1:]
        if extra_header:  # an unknown header changes nothing but sends the message down the per-message path
            headers = (headers or []) + [("x-trace", b"1")]
        m.add("in", i % 3, 1000 + i, key, value, headers, 1_700_000_000_000 + i)
    return m


def summary(batch, keys: KeyTable) -> dict:
    return {
        "keys": keys.names(batch.key_ids).tolist(),
        "ts": batch.ts.tolist(),
        "values": batch.values.tolist(),
        "kind": batch.kind.tolist(),
        "meta": {k: v.tolist() for k, v in batch.meta.items()},
        "dead": [(d.reason, d.position["offset"], d.raw) for d in batch.dead],
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(message, min_size=0, max_size=120), st.sampled_from([1, 2]))
def test_a_poll_decodes_as_message_by_message(items, width):
    if width == 2:
        items = [(k, v.replace(b'"value": 1.25', b'"value": [1.25, 2]') if v else v, h, b) for k, v, h, b in items]
    fast_keys, ref_keys = KeyTable(), KeyTable()
    fast = WireDecoder("s", fast_keys, width=width).decode(build(items, False), list(range(len(items))))
    ref = WireDecoder("s", ref_keys, width=width).decode(build(items, True), list(range(len(items))))
    assert summary(fast, fast_keys) == summary(ref, ref_keys)


def test_a_clean_poll_is_read_by_arrow_in_one_parse():
    values = [b'{"ts": %d, "value": %d}' % (i, i) for i in range(500)]
    runs = plain_messages([b"k%d" % (i % 7) for i in range(500)], values, [None] * 500, 65536)
    assert len(runs) == 1 and runs[0].rows.tolist() == list(range(500))
    cols, slow = json_columns(runs[0], key_field="key", ts_field="ts", value_fields=["value"], width=1)
    assert len(cols) == 1 and slow.size == 0
    assert cols[0].values.ravel().tolist() == list(range(500))
    assert cols[0].keys.to_pylist()[:3] == ["k0", "k1", "k2"]


def test_bad_messages_cost_a_split_each_and_leave_only_themselves():
    values = [b'{"value": %d}' % i for i in range(1000)]
    for i in (10, 500, 999):
        values[i] = b'{"value": true}'
    run = PlainRun([b"k"] * 1000, values, np.arange(1000))
    cols, slow = json_columns(run, key_field="key", ts_field="ts", value_fields=["value"], width=1)
    assert slow.tolist() == [10, 500, 999]
    assert sum(c.rows.size for c in cols) == 997


def test_messages_with_headers_keys_or_not_go_to_separate_runs():
    runs = plain_messages([b"a", None, b"b", b"c"], [b"{}", b"{}", b"{}", b"{}"], [None, None, [("seq", b"1")], None],
                          100)
    assert [r.rows.tolist() for r in runs] == [[0, 3], [1]]
