"""Text events on the Kafka wire (``format: text``, also MQTT's): each bad text gets its reason."""

from __future__ import annotations

import pytest

from rnnstream.connectors.kafka_wire import WIRE_REASONS, WireDecoder, WireMessages
from rnnstream.engine.keys import KeyTable


def msgs(*items):
    m = WireMessages()
    for i, (key, value) in enumerate(items):
        m.add("t", 0, 100 + i, key, value, None, 1_700_000_000_000 + i)
    return m


@pytest.mark.parametrize("key,value,reason", [
    (b"k", b"", "empty_text"),
    (b"k", b" \t\r\n\xe3\x80\x80", "empty_text"),  # ASCII whitespace and an ideographic space
    (b"k", b"x" * 33, "oversized"),
    (b"k", "é".encode() * 17, "oversized"),  # 34 bytes, 17 characters
    (b"k", b"caf\xe9", "non_utf8"),
    (b"\xff", b"hi", "non_utf8"),
    (None, b"hi", "missing_key"),
    (b"", b"hi", "missing_key"),
    (b"k", None, "missing_value"),
])
def test_each_bad_text_event_is_dead_with_its_reason_and_payload(key, value, reason):
    d = WireDecoder("s", KeyTable(), width=1, fmt="text", max_text_bytes=32)
    b = d.decode(msgs((b"good", "ok é".encode()), (key, value), (b"good", b"x" * 32)))
    assert b.meta["text"].tolist() == ["ok é", "x" * 32] and len(b) == 2
    assert [r.reason for r in b.dead] == [reason] and reason in WIRE_REASONS
    assert b.dead[0].raw == (value or b"") and b.dead[0].position["offset"] == 101


def test_text_events_stamp_the_message_time_and_carry_no_values():
    d = WireDecoder("s", KeyTable(), width=3, fmt="text")
    b = d.decode(msgs((b"a", b"first"), (b"b", b"second\nline")))
    assert b.ts.tolist() == [1_700_000_000.0, 1_700_000_000.001] and not b.values.any()
    assert b.values.shape == (2, 3) and b.meta["text"].tolist() == ["first", "second\nline"]


def test_a_control_header_ends_or_resets_a_key_in_any_format():
    from rnnstream.connectors.kafka_wire import CONTROL, WireDecoder, WireMessages
    from rnnstream.engine.keys import KeyTable
    from rnnstream.engine.records import DATA, END, RESET

    d = WireDecoder("logs", KeyTable(), width=1, fmt="text")
    m = WireMessages()
    m.add("in", 0, 1, b"h1", b"a line", None, 0)
    m.add("in", 0, 2, b"h1", b"", [(CONTROL, b"end")], 0)
    m.add("in", 0, 3, b"h2", None, [(CONTROL, b"reset")], 0)
    m.add("in", 0, 4, None, b"", [(CONTROL, b"end")], 0)
    m.add("in", 0, 5, b"h1", b"", [(CONTROL, b"pause")], 0)
    b = d.decode(m)
    assert b.kind.tolist() == [DATA, END, RESET]
    assert b.meta["text"].tolist() == ["a line", "", ""]
    assert [r.reason for r in b.dead] == ["missing_key", "bad_control"]
