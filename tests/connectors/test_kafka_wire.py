"""The Kafka wire format: decoding of every content type, dead-letter reasons, output headers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.connectors.kafka_rows import dead_headers, encode_rows
from rnnstream.connectors.kafka_wire import AUDIO_F32, AUDIO_S16, WireDecoder, WireMessages
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import END, RESET, OutputBatch


def msgs(*items):
    m = WireMessages()
    for i, (key, value, headers) in enumerate(items):
        m.add("t", i % 2, 100 + i, key, value, headers, 1_700_000_000_000 + i)
    return m


def test_json_events_take_the_key_from_the_message_and_ts_from_the_body_or_timestamp():
    d = WireDecoder("s", KeyTable(), width=2)
    b = d.decode(msgs((b"a", b'{"ts": 5, "value": [1, 2]}', None),
                      (b"b", b'{"value": [3, 4]}', [("seq", b"9")]),
                      (None, b'{"key": "c", "value": [5, 6]}', None)), [0, 1, 0])
    assert d.keys.names(b.key_ids).tolist() == ["a", "b", "c"]
    assert b.ts.tolist() == [5.0, 1_700_000_000.001, 1_700_000_000.002]
    assert b.values.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert b.meta["seq"].tolist() == [-1, 9, -1]
    assert b.meta["source_offset"].tolist() == [100, 101, 102]
    assert b.meta["source_partition"].tolist() == [0, 1, 0]
    assert b.meta["_part"].tolist() == [0, 1, 0]
    assert not b.dead


def test_named_value_fields_and_controls():
    d = WireDecoder("s", KeyTable(), width=2, value_fields=["x", "y"])
    b = d.decode(msgs((b"a", b'{"x": 1, "y": "2.5"}', None), (b"a", b'{"control": "reset"}', None),
                      (b"a", b'{"control": "end"}', None)))
    assert b.values[0].tolist() == [1.0, 2.5] and b.kind.tolist() == [0, RESET, END]


@pytest.mark.parametrize("value,headers,key,reason", [
    (b'{"value": ', None, b"k", "bad_json"),
    (b'"just a string"', None, b"k", "not_object"),
    (b'{"value": false}', None, b"k", "non_numeric"),
    (b'{"value": NaN}', None, b"k", "non_finite"),
    (b'{"value": -1e40}', None, b"k", "non_finite"),
    (b'{"value": [1, 2, 3]}', None, b"k", "wrong_width"),
    (b'{"value": 1}', None, b"\xc3\x28", "non_utf8"),
    (b'\xff{"value": 1}', None, b"k", "non_utf8"),
    (b'{"value": 1}', None, None, "missing_key"),
    (b'{"ts": [1], "value": 1}', None, b"k", "bad_timestamp"),
    (b'{"other": 1}', None, b"k", "missing_value"),
    (None, None, b"k", "missing_value"),
    (b'{"value": 1}', [("seq", b"x")], b"k", "bad_header"),
    (b'{"value": 1}', [("content-type", b"audio/pcm; format=s16le")], b"k", "unsupported_content_type"),
    (b'{"control": "pause"}', None, b"k", "bad_control"),
    (b'{"value": 1, "pad": "' + b"x" * 100 + b'"}', None, b"k", "oversized"),
])
def test_each_kind_of_bad_message_gets_its_reason_and_keeps_its_payload(value, headers, key, reason):
    d = WireDecoder("s", KeyTable(), width=1, max_record_bytes=100)
    b = d.decode(msgs((b"good", b'{"value": 1}', None), (key, value, headers)))
    assert len(b) == 1 and [r.reason for r in b.dead] == [reason]
    dead = b.dead[0]
    assert dead.raw == (value or b"") and dead.position == {"topic": "t", "partition": 1, "offset": 101, "key": key}


def test_audio_chunks_scale_pcm_and_check_width_and_rate():
    d = WireDecoder("mic", KeyTable(), width=4, fmt="audio", sample_rate=16000)
    s16 = np.array([0, 16384, -32768, 32767], "<i2").tobytes()
    f32 = np.array([0.5, -0.5, 0.25, 1.0], "<f4").tobytes()
    b = d.decode(msgs(
        (b"m", s16, [("content-type", AUDIO_S16.encode()), ("sample-rate", b"16000")]),
        (b"m", f32, [("content-type", AUDIO_F32.encode())]),
        (b"m", s16[:6], None),
        (b"m", s16, [("sample-rate", b"8000")]),
        (b"m", np.array([np.nan] * 4, "<f4").tobytes(), [("content-type", AUDIO_F32.encode())]),
    ))
    np.testing.assert_allclose(b.values[0], [0, 0.5, -1, 32767 / 32768])
    np.testing.assert_allclose(b.values[1], [0.5, -0.5, 0.25, 1.0])
    assert [r.reason for r in b.dead] == ["wrong_width", "bad_header", "non_finite"]


def test_text_events_carry_their_text():
    d = WireDecoder("t", KeyTable(), width=1, fmt="text")
    b = d.decode(msgs((b"chat", "héllo".encode(), None), (b"chat", b"\xff", None), (b"chat", b"{}", [
        ("content-type", b"application/json")])))
    assert b.meta["text"].tolist() == ["héllo"]
    assert [r.reason for r in b.dead] == ["non_utf8", "unsupported_content_type"]


def test_output_rows_carry_the_source_triple_for_dedup():
    meta = {"source_topic": np.array(["in", "in"], object), "source_partition": np.array([2, 0], np.int32),
            "source_offset": np.array([41, 7], np.int64), "seq": np.array([5, -1], np.int64)}
    out = OutputBatch(keys=np.array(["a", "b"], object), key_ids=np.array([0, 1]), ts=np.array([1.0, 2.0]),
                      values=np.ones((2, 1), np.float32), ingest=np.zeros(2),
                      fields={"f": {"p50": np.array([[1.0], [2.0]])}}, meta=meta)
    keys, values, headers = encode_rows(out)
    assert keys == [b"a", b"b"]
    assert json.loads(values[0])["f"]["p50"] == [1.0]
    h0, h1 = dict(headers[0]), dict(headers[1])
    assert (h0["rnnstream-source-topic"], h0["rnnstream-source-partition"], h0["rnnstream-source-offset"]) == \
        (b"in", b"2", b"41")
    assert h0["seq"] == b"5" and "seq" not in h1 and h0["content-type"] == b"application/json"


def test_dead_headers_name_reason_and_origin():
    h = dict(dead_headers("bad_json", "x" * 1000, "src", {"topic": "t", "partition": 1, "offset": 9, "key": b"k"}))
    assert h["rnnstream-dead-reason"] == b"bad_json" and len(h["rnnstream-dead-detail"]) == 512
    assert h["rnnstream-source-offset"] == b"9"


@given(st.lists(st.tuples(st.text(min_size=1, max_size=8),
                          st.floats(allow_nan=False, allow_infinity=False, width=32)), min_size=1, max_size=30))
def test_any_valid_json_event_decodes_to_its_value(events):
    d = WireDecoder("s", KeyTable(), width=1)
    b = d.decode(msgs(*[(k.encode(), json.dumps({"value": v}).encode(), None) for k, v in events]))
    good = [(k, v) for k, v in events if "\x00" not in k]
    # A NUL in a key would not survive the key table (numpy strings): such keys are dead letters.
    assert [r.reason for r in b.dead] == ["missing_key"] * (len(events) - len(good))
    assert d.keys.names(b.key_ids).tolist() == [k for k, _ in good]
    np.testing.assert_array_equal(b.values[:, 0], np.array([v for _, v in good], np.float32).reshape(-1))


def test_without_source_headers_rows_carry_the_triple_and_messages_no_headers():
    meta = {"source_topic": np.array(["in"], object), "source_partition": np.array([2], np.int32),
            "source_offset": np.array([41], np.int64), "seq": np.array([-1], np.int64)}
    out = OutputBatch(keys=np.array(["a"], object), key_ids=np.array([0]), ts=np.array([1.0]),
                      values=np.ones((1, 1), np.float32), ingest=np.zeros(1), fields={}, meta=meta)
    keys, values, headers = encode_rows(out, source_headers=False)
    row = json.loads(values[0])
    assert headers is None and keys == [b"a"]
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == ("in", 2, 41)
