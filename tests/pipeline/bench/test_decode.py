"""``rnnstream.bench.decode``: every method gives today's columns, and the block decoder with its
fallback gives today's rows and dead records wherever bad lines fall."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.bench.decode import decode_json_block, format_decode_table, make_block, run_decode_bench
from rnnstream.connectors.decode import REASONS, RecordDecoder
from rnnstream.engine.keys import KeyTable

HAVE_MSGSPEC = importlib.util.find_spec("msgspec") is not None  # not a dependency of rnnstream
ENGINES = [pytest.param("msgspec", marks=pytest.mark.skipif(not HAVE_MSGSPEC, reason="msgspec is not installed")),
           "pyarrow"]
MAX_BYTES = 300  # small, so a padded line is oversized


def today(block: bytes):
    """Today's decoder on the lines the file source would hand it (blank lines skipped)."""
    lines = [(i, line.rstrip(b"\r\n")) for i, line in enumerate(block.split(b"\n"))]
    lines = [(i, raw) for i, raw in lines if raw.strip()]
    table = KeyTable()
    b = RecordDecoder("t", table, width=1, max_record_bytes=MAX_BYTES).decode_json(
        [raw for _, raw in lines], [i for i, _ in lines])
    return table.names(b.key_ids).tolist(), b.ts, b.values, sorted((d.position, d.reason) for d in b.dead), b.kind


def test_every_method_gives_todays_columns_on_a_small_block():
    rows = run_decode_bench(n_records=600, n_keys=40, budget_s=0.0, bad_fraction=0.01)
    expected_failures = {("json, 1.0% bad", "pyarrow.json"), ("json, 1.0% bad", "msgspec decode_lines")}
    assert {r["format"] for r in rows} == {"json", "csv", "json, 1.0% bad"}
    for r in rows:
        if not HAVE_MSGSPEC and "msgspec" in r["method"]:
            assert "ModuleNotFoundError" in r["mismatch"], r
        elif (r["format"], r["method"]) in expected_failures:  # the plain readers fail the whole block
            assert r["mismatch"].startswith("fails the block") and r["records_per_s"] is None, r
        else:
            assert r["mismatch"] == "" and r["records_per_s"] > 0, r
    bad = [r for r in rows if r["format"] == "json, 1.0% bad" and r["records_per_s"]]
    assert {r["dead"] for r in bad} == {6} and len(bad) == (3 if HAVE_MSGSPEC else 2)
    table = format_decode_table(rows)
    assert len(table.splitlines()) == len(rows) + 2 and "| csv | pyarrow.csv | " in table


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_make_block_puts_bad_lines_at_random_places_with_todays_reasons(fmt):
    block = make_block(300, 10, fmt, seed=3, bad_fraction=0.02)
    assert block == make_block(300, 10, fmt, seed=3, bad_fraction=0.02) and block.endswith(b"\n")
    lines = block.split(b"\n")[:-1]
    dec = RecordDecoder("t", KeyTable(), width=1)
    if fmt == "json":
        b = dec.decode_json(lines, list(range(len(lines))))
    else:
        assert lines[0] == b"key,ts,value"
        b = dec.decode_csv(lines[1:], ["key", "ts", "value"], list(range(1, len(lines))))
    assert len(b.dead) == 6 and len(b) == 294
    want = {"bad_json", "non_numeric", "missing_key"} if fmt == "json" else {"bad_csv", "non_numeric", "missing_key"}
    assert {d.reason for d in b.dead} == want
    assert sorted(d.position for d in b.dead) != list(range(6))  # not bunched at the start


def good(key: str, ts: float, value: float, ascii: bool = True) -> bytes:
    return json.dumps({"key": key, "ts": ts, "value": value}, ensure_ascii=ascii).encode()


keys = st.text(alphabet="abkz09_é€\x00\"\\", min_size=1, max_size=4)
finite = st.floats(allow_nan=False, allow_infinity=False)
good_lines = st.builds(good, keys, st.floats(0, 4e9), finite, st.booleans())
# Lines today accepts that the fast pass does not take as they are, and lines today rejects.
odd_lines = st.sampled_from([
    b'{"key": 5, "ts": 1.5, "value": 2}', b'{"key": "s", "ts": 2, "value": "2.5"}', b'{"key": "l", "ts": 3, "value": [4.5]}',
    b'{"key": "i", "ts": "2014-04-01 00:00:00", "value": 1}', b'{"key": "r", "ts": 1, "value": 1}\r', b'   {"key": "p", "ts": 1, "value": 1}  ',
    b'{"key": "x", "ts": 1, "value": 1, "extra": {"a": [1, {"b": null}]}}', b'{"key": "c", "ts": 1, "value": 1, "control": null}',
    b'{"key": "e", "ts": 1, "control": "end"}', b'{"key": "e", "ts": 1, "control": "reset"}', b'{"key": "d", "ts": 1, "value": 1, "value": 2}',
    b"", b"   ", b"\t\r", b"\x0b",
])
bad_lines = st.sampled_from([
    b'{"key": "t", "ts": 1, "val', b"not json", b'{"ts": 1, "value": 1}', b'{"key": "", "ts": 1, "value": 1}',
    b'{"key": null, "ts": 1, "value": 1}', b'{"key": true, "ts": 1, "value": 1}', b'{"key": "a", "ts": 1, "value": "x"}',
    b'{"key": "a", "ts": 1, "value": NaN}', b'{"key": "a", "ts": 1, "value": -Infinity}', b'{"key": "a", "ts": 1, "value": null}',
    b'{"key": "a", "ts": 1}', b'{"key": "a", "ts": 1, "value": 1e400}', b'{"key": "a", "ts": 1, "value": 1e39}',
    b'{"key": "a", "ts": 1, "value": true}', b'{"key": "a", "ts": true, "value": 1}', b'{"key": "a", "ts": NaN, "value": 1}',
    b'{"key": "a", "ts": "soon", "value": 1}', b'{"key": "a", "ts": 1, "value": [1, 2]}', b'{"key": "a", "ts": 1, "control": "pause"}',
    b'{"key": "a", "ts": 1, "control": 3}', b"[1, 2]", b'"text"', b"{}", b'{"key": "\xff", "ts": 1, "value": 1}',
    b'{"key": "a", "ts": 1, "value": 1}{"key": "b", "ts": 1, "value": 2}', b'{"key": "a",\n "ts": 1, "value": 1}',
    b'{"key": "o", "ts": 1, "value": 1, "pad": "' + b"x" * MAX_BYTES + b'"}', b'{"key": "\\ud800", "ts": 1, "value": 1}',
])


@pytest.mark.parametrize("engine", ENGINES)
@given(lines=st.lists(st.one_of(good_lines, good_lines, odd_lines, bad_lines), max_size=60),
       n_clean=st.integers(0, 80), trailing_newline=st.booleans())
def test_block_decoder_matches_today_and_drops_only_the_bad_lines(engine, lines, n_clean, trailing_newline):
    # A run of clean lines first, so the fast pass has runs longer than the per-line cut-off.
    lines = [good(f"k{i % 7}", 1e9 + i, i / 4) for i in range(n_clean)] + lines
    block = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    got_keys, got_ts, got_values, dead = out = decode_json_block(block, engine=engine, max_record_bytes=MAX_BYTES)
    keys_today, ts_today, values_today, dead_today, kind_today = today(block)
    assert dead == dead_today and all(reason in REASONS for _, reason in dead)
    assert got_keys.tolist() == keys_today
    assert np.array_equal(got_ts, ts_today) and got_ts.dtype == np.float64
    assert np.array_equal(got_values, values_today) and got_values.dtype == np.float32 and got_values.shape[1:] == (1,)
    assert np.array_equal(out.kind, kind_today)
    # The good lines alone, without the bad ones, decode to the same columns.
    dead_lines = {i for i, _ in dead}
    clean = b"\n".join(line for i, line in enumerate(block.split(b"\n")) if i not in dead_lines)
    again = decode_json_block(clean, engine=engine, max_record_bytes=MAX_BYTES)
    assert again[3] == []
    assert again[0].tolist() == got_keys.tolist() and np.array_equal(again[1], got_ts)
    assert np.array_equal(again[2], got_values)


@pytest.mark.parametrize("engine", ENGINES)
def test_block_decoder_interns_keys_and_survives_integers_beyond_float(engine):
    big = b"1" + b"0" * 400
    block = b"\n".join([good("a", 1.0, 2.0), b'{"key": "b", "ts": 1, "value": ' + big + b"}",
                        b'{"key": "c", "ts": ' + big + b', "value": 1}', good("b", 2.0, 3.0)])
    table = KeyTable()
    table.intern("z")
    ids, ts, values, dead = decode_json_block(block, table, engine=engine)
    assert table.names(ids).tolist() == ["a", "b"] and ts.tolist() == [1.0, 2.0] and values.tolist() == [[2.0], [3.0]]
    assert dead == [(1, "non_finite"), (2, "bad_timestamp")]


@pytest.mark.parametrize("engine", ENGINES)
def test_block_decoder_on_an_empty_block_and_a_missing_timestamp(engine):
    keys, ts, values, dead = decode_json_block(b"\n\n", engine=engine)
    assert keys.tolist() == [] and ts.shape == (0,) and values.shape == (0, 1) and dead == []
    keys, ts, values, dead = decode_json_block(b'{"key": "a", "value": 1}', engine=engine, now=123.0)
    assert keys.tolist() == ["a"] and ts.tolist() == [123.0] and dead == []
    with pytest.raises(ValueError, match="engine"):
        decode_json_block(b"", engine="simdjson")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bad", [b'{"key": "a", "ts": 1, "value": "x"}', b'{"key": "a", "ts": 1, "val', b"\x0b",
                                 b'{"key": "a", "ts": 1, "value": 1}{"key": "b", "ts": 1, "value": 2}'])
def test_one_bad_line_sends_few_lines_to_todays_decoder(engine, bad, monkeypatch):
    """The fast pass keeps the clean lines around a bad one, with or without the parser's position."""
    judged = []
    decode_json = RecordDecoder.decode_json
    monkeypatch.setattr(RecordDecoder, "decode_json", lambda self, raws, pos=None: judged.append(len(raws))
                        or decode_json(self, raws, pos))
    lines = [good(f"k{i % 7}", 1e9 + i, i / 4) for i in range(1000)]
    lines[617] = bad
    out = decode_json_block(b"\n".join(lines), engine=engine)
    assert len(out[0]) == 999 and sum(judged) <= 16, judged
