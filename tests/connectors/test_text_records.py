"""Text records from files and standard input (``text_field``): the text column comes out of
the block decoders as the per-record path gives it, and every bad text is a dead letter with
its own reason while the good records around it are untouched."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.config import FileSourceConfig, StdinSourceConfig
from rnnstream.connectors.csvblock import decode_csv_block
from rnnstream.connectors.decode import WHITESPACE, RecordDecoder
from rnnstream.connectors.files import FileSource
from rnnstream.connectors.jsonblock import decode_json_block
from rnnstream.connectors.stdio import StdinSource
from rnnstream.engine.keys import KeyTable
from rnnstream.errors import ConnectorError

MAX_TEXT = 64
BAD_TEXT = [  # (line, reason)
    (b'{"key":"a","ts":1,"line":""}', "empty_text"),
    (b'{"key":"a","ts":1,"line":" \\t\\n\\u3000\\u2028"}', "empty_text"),
    (b'{"key":"a","ts":1,"line":"' + b"x" * (MAX_TEXT + 1) + b'"}', "oversized"),
    (b'{"key":"a","ts":1,"line":"' + "é".encode() * (MAX_TEXT // 2 + 1) + b'"}', "oversized"),  # bytes, not chars
    (b'{"key":"a","ts":1,"line":"caf\xe9"}', "non_utf8"),
    (b'{"key":"a","ts":1,"line":5}', "bad_text"),
    (b'{"key":"a","ts":1,"line":null}', "bad_text"),
    (b'{"key":"a","ts":1,"line":["hi"]}', "bad_text"),
    (b'{"key":"a","ts":1,"line":{"t":"hi"}}', "bad_text"),
    (b'{"key":"a","ts":1,"line":true}', "bad_text"),
    (b'{"key":"a","ts":1}', "bad_text"),
    (b'{"key":"a","ts":1,"line":"\\ud800"}', "bad_text"),
    (b'{"ts":1,"line":"hi"}', "missing_key"),
    (b'{"key":"","ts":1,"line":"hi"}', "missing_key"),
    (b'{"key":"a","ts":1,"line":', "bad_json"),
]

# Good texts: anything non-blank that fits, written with and without \u escapes.
texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(lambda t: t.strip())
good_records = st.lists(st.tuples(st.sampled_from(["h1", "h2", "wéb", 'q"k']), texts, st.booleans()),
                        min_size=1, max_size=60)


def decoder(keys: KeyTable, **kw) -> RecordDecoder:
    return RecordDecoder("t", keys, width=2, value_fields=[], text_field="line", max_text_bytes=MAX_TEXT, **kw)


def rows(batch, keys: KeyTable) -> tuple[list, list, list]:
    return keys.names(batch.key_ids).tolist(), batch.meta["text"].tolist(), batch.ts.tolist()


def good_line(i: int, key: str, text: str, ascii_only: bool) -> bytes:
    return json.dumps({"key": key, "ts": i, "line": text}, ensure_ascii=ascii_only).encode()


@settings(max_examples=60, deadline=None)
@given(good_records, st.lists(st.sampled_from(BAD_TEXT), max_size=12), st.integers(0, 2**32 - 1))
def test_bad_text_anywhere_is_dead_with_its_reason_and_the_good_rows_are_as_in_a_clean_run(good, bad, seed):
    lines = [good_line(i, k, t, a) for i, (k, t, a) in enumerate(good)]
    clean_keys = KeyTable()
    clean = decode_json_block(decoder(clean_keys), b"\n".join(lines) + b"\n")
    assert not clean.dead and rows(clean, clean_keys)[1] == [t for _, t, _ in good]

    rng = np.random.default_rng(seed)
    mixed = list(lines)
    for line, _ in bad:
        mixed.insert(int(rng.integers(0, len(mixed) + 1)), line)
    positions = np.cumsum([len(x) + 1 for x in mixed])
    reasons = dict(BAD_TEXT)
    want_dead = sorted((reasons[line], int(p)) for line, p in zip(mixed, positions) if line in reasons)
    keys = KeyTable()
    fast = decode_json_block(decoder(keys), b"\n".join(mixed) + b"\n", positions)
    assert rows(fast, keys) == rows(clean, clean_keys)
    assert fast.values.shape == (len(good), 2) and not fast.values.any()  # text only: zero values
    assert sorted((d.reason, d.position) for d in fast.dead) == want_dead
    assert all(d.raw == mixed[int(np.searchsorted(positions, d.position))] for d in fast.dead)
    # The record-by-record reference agrees.
    slow_keys = KeyTable()
    slow = decoder(slow_keys).decode_json(mixed, positions.tolist())
    assert rows(slow, slow_keys) == rows(fast, keys)
    assert sorted((d.reason, d.position) for d in slow.dead) == want_dead


def test_a_clean_text_block_takes_the_columnar_path(monkeypatch):
    dec = RecordDecoder("t", KeyTable(), width=1, value_fields=["v"], text_field="msg")
    monkeypatch.setattr(dec, "decode_json", lambda *a, **k: pytest.fail("per-record path"))
    b = decode_json_block(dec, b'{"key":"a","ts":1,"v":2,"msg":"x \\"y\\""}\n{"key":"b","ts":2,"v":3,"msg":"z\\n"}\n')
    assert b.meta["text"].dtype == object and b.meta["text"].tolist() == ['x "y"', "z\n"]
    assert b.values.ravel().tolist() == [2.0, 3.0]


def test_text_rows_with_values_lose_their_text_with_them_when_a_value_is_bad():
    dec = RecordDecoder("t", KeyTable(), width=1, value_fields=["v"], text_field="msg")
    b = decode_json_block(dec, b'{"key":"a","ts":1,"v":1e999,"msg":"gone"}\n{"key":"b","ts":2,"v":3,"msg":"kept"}\n')
    assert b.meta["text"].tolist() == ["kept"] and [d.reason for d in b.dead] == ["non_finite"]


def test_controls_pass_with_empty_text_and_an_all_bad_block_keeps_its_text_column():
    dec = decoder(KeyTable())
    b = decode_json_block(dec, b'{"key":"a","control":"end"}\n{"key":"a","ts":1,"line":"hi"}\n')
    assert b.meta["text"].tolist() == ["", "hi"] and b.kind.tolist() == [2, 0]
    b = decode_json_block(dec, b"".join(line + b"\n" for line, _ in BAD_TEXT))
    assert len(b) == 0 and b.meta["text"].tolist() == [] and [d.reason for d in b.dead] == [r for _, r in BAD_TEXT]


def test_the_blank_set_is_what_str_strip_removes():
    assert WHITESPACE == "".join(c for c in map(chr, range(0x110000)) if c.isspace())


CSV_BAD = [(b"a,1,", "empty_text"), (b'a,1,"  \t "', "empty_text"), (b"a,1," + b"y" * (MAX_TEXT + 1), "oversized"),
           (b"a,1,caf\xe9", "non_utf8"), (b",1,hi", "missing_key"), (b"a,1", "bad_csv")]


def csv_line(i: int, key: str, text: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([key, i, text])
    return out.getvalue().encode()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["h1", "h2"]), texts.filter(lambda t: "\n" not in t and "\r" not in t)),
                min_size=1, max_size=40), st.lists(st.sampled_from(CSV_BAD), max_size=8), st.integers(0, 2**32 - 1))
def test_csv_text_blocks_equal_line_by_line_and_bad_text_is_dead(good, bad, seed):
    rng = np.random.default_rng(seed)
    lines = [csv_line(i, k, t) for i, (k, t) in enumerate(good)]
    for line, _ in bad:
        lines.insert(int(rng.integers(0, len(lines) + 1)), line)
    positions = np.cumsum([len(x) + 1 for x in lines])
    header = ["key", "ts", "line"]
    k1, k2 = KeyTable(), KeyTable()
    fast = decode_csv_block(decoder(k1), b"\n".join(lines) + b"\n", header, positions)
    slow = decoder(k2).decode_csv(lines, header, positions.tolist())
    assert rows(fast, k1) == rows(slow, k2) and rows(fast, k1)[1] == [t for _, t in good]
    reasons = dict(CSV_BAD)
    want = sorted((reasons[x], int(p)) for x, p in zip(lines, positions) if x in reasons)
    assert sorted((d.reason, d.position) for d in fast.dead) == want


def test_a_csv_file_with_a_text_column_replays_it(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b'host,ts,message\nweb1,1,"GET /a ""quoted"", ok"\nweb2,2,   \nweb1,3,caf\xc3\xa9\n')
    cfg = FileSourceConfig(type="csv", name="logs", path=path, key_field="host", text_field="message")
    assert cfg.value_fields == []
    src = FileSource(cfg, KeyTable(), width=3)
    b = src.poll(0.0)
    assert b.meta["text"].tolist() == ['GET /a "quoted", ok', "café"] and b.values.shape == (2, 3)
    assert [(d.reason, d.raw) for d in b.dead] == [("empty_text", b"web2,2,   ")]
    bad = tmp_path / "other.csv"
    bad.write_text("host,ts,msg\n")
    with pytest.raises(ConnectorError, match="no column 'message'"):
        FileSource(cfg.model_copy(update={"path": bad}), KeyTable(), width=1)


def test_paced_replay_keeps_each_text_with_its_row(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"key": "k", "ts": i * 0.01, "line": f"l{i}"}) + "\n" for i in range(30)))
    src = FileSource(FileSourceConfig(type="jsonl", name="f", path=path, text_field="line", speed=1.0),
                     KeyTable(), width=1)
    got = []
    while not src.exhausted:
        b = src.poll(0.02)
        if b is not None:
            assert len(b.meta["text"]) == len(b)
            got += b.meta["text"].tolist()
    assert got == [f"l{i}" for i in range(30)]


@pytest.mark.parametrize("fmt,data", [
    ("jsonl", b'{"key":"h1","line":"hello \\u00e9"}\n{"key":"h1","line":""}\n{"key":"h2","line":"x\\ty"}\n'
              b'{"line":"no key"}\n{"key":"h2","line":42}\n'),
    ("csv", b"key,line\nh1,hello \xc3\xa9\nh1,\nh2,x\ty\n,no key\nh2\n"),
])
def test_stdin_reads_text_records(fmt, data):
    cfg = StdinSourceConfig(type="stdin", format=fmt, text_field="line", batch_records=2)
    src = StdinSource(cfg, KeyTable(), width=1, stream=io.BufferedReader(io.BytesIO(data)))
    batches = []
    while not src.exhausted:
        b = src.poll(0.2)
        batches += [b] if b is not None else []
    assert [t for b in batches for t in b.meta["text"].tolist()] == ["hello é", "x\ty"]
    assert [src.decoder.keys.name(int(k)) for b in batches for k in b.key_ids] == ["h1", "h2"]
    last = "bad_text" if fmt == "jsonl" else "bad_csv"
    assert [d.reason for b in batches for d in b.dead] == ["empty_text", "missing_key", last]
