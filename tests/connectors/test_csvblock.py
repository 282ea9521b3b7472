"""Columnar CSV decoding gives what line-by-line decoding gives, wherever odd lines fall."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.connectors.csvblock import decode_csv_block
from rnnstream.connectors.decode import RecordDecoder
from rnnstream.engine.keys import KeyTable

HEADER = ["timestamp", "key", "value"]
ODD = [b"2024-01-01 00:00:00,k1", b"2024-01-01 00:00:00,k1,abc", b"2024-01-01 00:00:00,k1,", b"2024-01-01 00:00:00,,1",
       b"2024-01-01T00:00:00Z,k2,1", b"yesterday,k1,1", b"2024-01-01 00:00:00,k1,nan", b'2024-01-01 00:00:00,"a,b",2',
       b"2024-01-01 00:00:00,k\xff,1", b"2024-01-01 00:00:00,k1,1" + b"0" * 400, b"17,k3,4", b"1e999,k3,4",
       b"2024-01-01 00:00:00+02:00,k4,5", b"2024-01-01,k5,6", b"2024-01-01 00:00:00,k1, 7 ", b"2024-01-01 00:00:00,k1,8,9"]


def good_line(i: int, rng) -> bytes:
    return b"2024-01-%02d %02d:%02d:00,s%d,%r" % (1 + i // 1440 % 28, i // 60 % 24, i % 60, int(rng.integers(0, 5)),
                                               float(rng.standard_normal()))


def columns(batch, keys: KeyTable):
    return (keys.names(batch.key_ids).tolist(), batch.ts.tolist(), batch.values.tolist(), batch.kind.tolist(),
            sorted((d.reason, d.raw, d.position) for d in batch.dead))


@given(st.integers(1, 200), st.lists(st.sampled_from(ODD), max_size=10), st.integers(0, 2**32 - 1))
def test_csv_block_decoding_equals_line_by_line(n, odd, seed):
    rng = np.random.default_rng(seed)
    lines = [good_line(i, rng) for i in range(n)]
    for b in odd:
        lines.insert(int(rng.integers(0, len(lines) + 1)), b)
    positions = np.cumsum([len(x) + 1 for x in lines])
    k1, k2 = KeyTable(), KeyTable()
    slow = RecordDecoder("s", k1, width=1, ts_field="timestamp").decode_csv(lines, HEADER, positions.tolist())
    fast = decode_csv_block(RecordDecoder("s", k2, width=1, ts_field="timestamp"), b"\n".join(lines) + b"\n",
                            HEADER, positions)
    assert columns(slow, k1) == columns(fast, k2)


def test_a_clean_csv_block_takes_the_columnar_path(monkeypatch):
    dec = RecordDecoder("s", KeyTable(), width=2, ts_field="ts", value_fields=["a", "b"])
    monkeypatch.setattr(dec, "_decode", lambda *a, **k: (_ for _ in ()).throw(AssertionError("per-record path")))
    b = decode_csv_block(dec, b"x,1,2,3\ny,2,4.5,-1\n", ["key", "ts", "a", "b"])
    assert b.values.tolist() == [[2.0, 3.0], [4.5, -1.0]] and b.ts.tolist() == [1.0, 2.0]
