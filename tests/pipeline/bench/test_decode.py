"""``rnnstream.bench.decode``: every method gives today's columns, the product's block decoder
gives today's rows and dead records around bad lines, and ``rnnstream bench decode`` runs."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from rnnstream.bench.decode import format_decode_table, make_block, run_decode_bench
from rnnstream.cli import main
from rnnstream.connectors.decode import REASONS, RecordDecoder
from rnnstream.connectors.jsonblock import decode_json_block
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import RESET

HAVE_MSGSPEC = importlib.util.find_spec("msgspec") is not None  # not a dependency of rnnstream
BAD = "json, 1.0% bad"


def test_every_method_gives_todays_columns_on_a_small_block():
    rows = run_decode_bench(n_records=600, n_keys=40, budget_s=0.0, bad_fraction=0.01)
    expected_failures = {(BAD, "pyarrow.json"), (BAD, "msgspec decode_lines")}
    assert {r["format"] for r in rows} == {"json", "csv", BAD}
    assert [r["format"] for r in rows if r["method"] == "product"] == ["json", BAD]
    for r in rows:
        if not HAVE_MSGSPEC and "msgspec" in r["method"]:
            assert "ModuleNotFoundError" in r["mismatch"], r
        elif (r["format"], r["method"]) in expected_failures:  # the raw readers fail the whole block
            assert r["mismatch"].startswith("fails the block") and r["records_per_s"] is None, r
        else:
            assert r["mismatch"] == "" and r["records_per_s"] > 0, r
    bad = [r for r in rows if r["format"] == BAD and r["records_per_s"]]
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


def test_product_block_decoder_gives_todays_rows_and_dead_records_around_bad_lines():
    """A few bad lines of different kinds (and a control record) at random places in clean ones."""
    rng = np.random.default_rng(7)
    lines = [json.dumps({"key": f"k{i % 7}", "ts": 1e9 + i, "value": i / 4}).encode() for i in range(200)]
    odd = [b'{"key": "t", "ts": 1, "val', b"not json", b'{"ts": 1, "value": 1}', b'{"key": "", "ts": 1, "value": 1}',
           b'{"key": "a", "ts": 1, "value": "x"}', b'{"key": "a", "ts": 1, "value": NaN}',
           b'{"key": "a", "ts": 1, "value": 1e39}', b'{"key": "a", "ts": 1, "control": "pause"}',
           b'{"key": "\xff", "ts": 1, "value": 1}', b'{"key": "a", "ts": 2, "control": "reset"}']
    for line in odd:
        lines.insert(int(rng.integers(0, len(lines) + 1)), line)
    block = b"\n".join(lines) + b"\n"
    got_keys, want_keys = KeyTable(), KeyTable()
    got = decode_json_block(RecordDecoder("t", got_keys, width=1), block, np.arange(len(lines)))
    want = RecordDecoder("t", want_keys, width=1).decode_json(lines, list(range(len(lines))))
    assert got_keys.names(got.key_ids).tolist() == want_keys.names(want.key_ids).tolist()
    assert np.array_equal(got.ts, want.ts) and np.array_equal(got.values, want.values)
    assert got.values.dtype == np.float32 and got.values.shape == (len(want), 1)
    assert np.array_equal(got.kind, want.kind) and (got.kind == RESET).sum() == 1
    dead = sorted((d.position, d.reason) for d in got.dead)
    assert dead == sorted((d.position, d.reason) for d in want.dead)
    assert len(dead) == 9 and all(reason in REASONS for _, reason in dead)


def test_cli_bench_decode_prints_the_table_and_writes_rows(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert main(["bench", "decode", "--records", "300", "--keys", "10", "--seconds", "0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert format_decode_table(rows) in text and "| json, 0.1% bad | product | " in text
    assert {r["records"] for r in rows} == {300}
