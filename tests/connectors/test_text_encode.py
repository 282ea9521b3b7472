"""Input text on output rows: ``encode_jsonl`` writes a string column as JSON strings escaped in
bulk, and every line reads back (``json.loads``) to exactly the text that came in."""

from __future__ import annotations

import json

import numpy as np
import orjson
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.connectors.encode import encode_jsonl, encode_values, json_column, json_strings
from rnnstream.engine.records import OutputBatch

NASTY = ['say "hi"', "back\\slash \\n not a newline", "two\nlines\r\n", "tab\there",
         "\x00nul \x01\x08\x0b\x0c\x1f\x7f", "café ünïcödé", "emoji 😀🎉 and 𝄞", "\u2028line sep\u2029", '\\"',
         "", " ", '{"json": "inside"}', "ß" * 300, "</script>", "\ufeffbom"]


def batch(texts: list, **fields) -> OutputBatch:
    n = len(texts)
    col = np.empty(n, object)
    col[:] = texts
    return OutputBatch(keys=np.array([f"k{i % 3}" for i in range(n)], object), key_ids=np.arange(n),
                       ts=np.arange(n, dtype=np.float64), values=np.zeros((n, 1), np.float32), ingest=np.zeros(n),
                       fields=fields, meta={"text": col})


def test_nasty_texts_round_trip_through_json_lines():
    lines = encode_jsonl(batch(NASTY)).decode().split("\n")[:-1]  # JSON lines end at "\n" only
    assert [json.loads(line)["text"] for line in lines] == NASTY
    assert [orjson.loads(v)["text"] for v in encode_values(batch(NASTY))] == NASTY


@given(st.lists(st.text(st.characters(codec="utf-8")), min_size=1, max_size=20))
def test_any_text_is_escaped_exactly_as_orjson_escapes_it(texts):
    col = np.empty(len(texts), object)
    col[:] = texts
    assert json_strings(col).to_pylist() == [orjson.dumps(t).decode() for t in texts]
    assert [json.loads(line)["text"] for line in encode_jsonl(batch(texts)).decode().split("\n")[:-1]] == texts


def test_none_and_numpy_strings_and_word_lists():
    assert json_column(np.array(["a", None], object)).to_pylist() == ['"a"', "null"]
    assert json_column(np.array(["x\ty", "z"])).to_pylist() == ['"x\\ty"', '"z"']
    words = np.empty(2, object)
    words[:] = [[{"w": "a", "s": 0.5}], []]
    assert json_column(words).to_pylist() == ['[{"w":"a","s":0.5}]', "[]"]


def test_rows_without_values_encode_empty_lists():
    b = OutputBatch(keys=np.array(["h"] * 2, object), key_ids=np.zeros(2, np.int64), ts=np.array([1.0, 2.0]),
                    values=np.zeros((2, 0), np.float32), ingest=np.zeros(2), fields={},
                    meta={"text": np.array(["a", "b"], object)})
    assert [json.loads(x) for x in encode_jsonl(b).splitlines()] == [
        {"key": "h", "ts": 1, "value": [], "text": "a"}, {"key": "h", "ts": 2, "value": [], "text": "b"}]
