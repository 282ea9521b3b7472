"""Columnar JSON decoding gives what record-by-record decoding gives: the same good records in
order, and the same dead letters with the same reasons and positions, wherever bad lines fall."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.connectors.decode import RecordDecoder
from rnnstream.connectors.jsonblock import decode_json_block
from rnnstream.engine.keys import KeyTable

BAD = [b'{"key": "a", "ts": 1, "value": 1, "note": "caf\xe9"}', b'{"key": "a", "ts": 1, "value": 1%s}' % (b"0" * 400),
       b'{"key": "a", "ts": 1%s, "value": 1}' % (b"0" * 400), b'{"key": "a", "ts": 1e999, "value": 1}',
       b'{"key": "a", "value": "x"}', b'{"k\xff": 1, "key": "a", "ts": 1, "value": 1}', b'{"value": 1}', b'not json', b'[1, 2]', b'{"key": "", "value": 1}',
       b'{"key": "a", "value": 1e999}', b'{"key": "a", "ts": 3, "control": "reset"}', b'{"key": "b", "control": "nope"}',
       b'{"key": "a", "ts": "2024-01-01T00:00:00", "value": 3}', b'\xff\xfe', b'{"key": true, "value": 1}',
       b'{"key": "a", "value": null}', b'{"key": 7, "ts": 5, "value": 2}', b'{"key": "c", "value": [1, 2]}',
       b'{"key": "a", "ts": 4, "value": "2.5"}']
# (A record without a timestamp is stamped with the time it is decoded, which two decoders
# cannot share; the per-record path's handling of it is test_files_stdio's.)


def good_line(i: int, rng) -> bytes:
    return b'{"key":"k%d","ts":%d,"value":%r}' % (int(rng.integers(0, 9)), i, float(rng.standard_normal()))


def columns(batch, keys: KeyTable):
    return (keys.names(batch.key_ids).tolist(), batch.ts.tolist(), batch.values.tolist(), batch.kind.tolist(),
            [(d.reason, d.raw, d.position) for d in batch.dead])


@given(st.integers(1, 300), st.lists(st.sampled_from(BAD), max_size=12), st.integers(0, 2**32 - 1))
def test_block_decoding_equals_record_by_record(n, bad, seed):
    rng = np.random.default_rng(seed)
    lines = [good_line(i, rng) for i in range(n)]
    for b in bad:  # bad records at random places
        lines.insert(int(rng.integers(0, len(lines) + 1)), b)
    block = b"\n".join(lines) + b"\n"
    positions = np.cumsum([len(x) + 1 for x in lines])
    k1, k2 = KeyTable(), KeyTable()
    slow = RecordDecoder("s", k1, width=1).decode_json(lines, positions.tolist())
    fast = decode_json_block(RecordDecoder("s", k2, width=1), block, positions)
    a, b = columns(slow, k1), columns(fast, k2)
    assert a[:4] == b[:4]
    assert sorted(a[4], key=lambda d: d[2]) == sorted(b[4], key=lambda d: d[2])


def test_clean_blocks_take_the_columnar_path_and_blank_lines_are_skipped(monkeypatch):
    dec = RecordDecoder("s", KeyTable(), width=2, value_fields=["v"])
    calls = []
    monkeypatch.setattr(dec, "decode_json", lambda *a, **k: calls.append(a))
    block = b'{"key":"a","ts":1,"v":[1,2]}\r\n\n   \n{"key":"b","ts":2,"v":[3,4.5]}\n'
    b = decode_json_block(dec, block)
    assert not calls and b.values.tolist() == [[1.0, 2.0], [3.0, 4.5]] and b.ts.tolist() == [1.0, 2.0]


def test_file_blocks_cut_at_whole_lines_whatever_the_line_lengths(tmp_path):
    """Lines far longer and shorter than a block, a blank line, and no newline at the end."""
    from rnnstream.config import FileSourceConfig
    from rnnstream.connectors import files

    rng = np.random.default_rng(0)
    lines = [b'{"key":"k%d","ts":%d,"value":%d,"pad":"%s"}' % (i % 5, i, i, b"x" * int(rng.integers(0, 200_000)))
             for i in range(40)]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines[:20]) + b"\n\n" + b"\n".join(lines[20:]))
    src = files.FileSource(FileSourceConfig(type="jsonl", name="f", path=path, batch_records=7,
                                             max_record_bytes=300_000), KeyTable(), width=1)
    got, offsets = [], []
    while not src.exhausted:
        b = src.poll(0.0)
        if b is not None:
            assert len(b) <= 7 and not b.dead
            got += b.values.ravel().tolist()
            offsets.append(b.position["offset"])
    assert got == list(range(40)) and offsets[-1] == path.stat().st_size and offsets == sorted(offsets)


def test_numbers_beyond_a_float_are_dead_letters_not_crashes():
    dec = RecordDecoder("s", KeyTable(), width=1)
    big = b"1" + b"0" * 400
    b = dec.decode_json([b'{"key":"a","ts":1,"value":%s}' % big, b'{"key":"a","ts":%s,"value":1}' % big,
                         b'{"key":"a","ts":"1e999","value":1}'])
    assert [d.reason for d in b.dead] == ["non_finite", "bad_timestamp", "bad_timestamp"] and len(b) == 0
