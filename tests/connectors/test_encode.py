"""Columnar JSON lines: what ``encode_jsonl`` writes reads back to what ``OutputBatch.rows`` holds."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnstream.connectors.encode import encode_jsonl
from rnnstream.engine.records import OutputBatch

floats32 = hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 3)),
                      elements=st.floats(width=32, allow_nan=True, allow_infinity=True))
keys = st.lists(st.text(min_size=1, max_size=6), min_size=6, max_size=6)


def same(a, b) -> bool:
    """JSON value ``a`` (read back) stands for ``b`` (a row value): equal numbers at the column's
    precision, null for NaN and infinities."""
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
    if isinstance(b, float) and not np.isfinite(b):
        return a is None
    return a == b


@given(floats32, keys, st.integers(0, 2**40))
def test_jsonl_reads_back_as_the_rows(values, names, seed):
    n = values.shape[0]
    rng = np.random.default_rng(seed % 2**32)
    ts = rng.uniform(0, 2e9, n)
    fields = {"f": {"p": rng.standard_normal((n, 2, 3)).astype(np.float32), "n": rng.integers(-5, 5, n),
                    "alert": rng.random(n) > 0.5, "score": rng.standard_normal(n)},
              "asr": {"text": np.array([f"t{i}" for i in range(n)], object)}}
    b = OutputBatch(keys=np.array(names[:n], object), key_ids=np.arange(n), ts=ts, values=values,
                    ingest=np.zeros(n), fields=fields, meta={"source_topic": np.array(["in"] * n, object)})
    lines = encode_jsonl(b).decode().split("\n")[:-1]  # JSON lines end at "\n" only (not at U+2028)
    assert len(lines) == n
    rows = b.rows()
    for line, row in zip(lines, rows):
        got = json.loads(line)
        # float32 columns compare as float32 (the text is the shortest for float32).
        # (a float32 such as 36715448 is written "36715450", which JSON reads back as an int)
        got["value"] = (np.float32(got["value"]).item() if isinstance(got["value"], (int, float))
                        and not isinstance(got["value"], bool) else got["value"])
        if isinstance(got["value"], list):
            got["value"] = [None if v is None else np.float32(v).item() for v in got["value"]]
        got["f"]["p"] = np.float32(got["f"]["p"]).tolist()
        want = {**row, "value": row["value"]}
        assert list(got) == list(want) and same(got, want), (line, row)


def test_float_precision_rounds_and_empty_operator_fields_stay_objects():
    b = OutputBatch(keys=np.array(["k"], object), key_ids=np.array([0]), ts=np.array([1.23456789]),
                    values=np.array([[2.0 / 3.0]], np.float32), ingest=np.zeros(1), fields={"op": {}})
    assert json.loads(encode_jsonl(b, float_precision=3)) == {"key": "k", "ts": 1.235, "value": 0.667, "op": {}}
    assert encode_jsonl(b).decode() == '{"key":"k","ts":1.23456789,"value":0.6666667,"op":{}}\n'
