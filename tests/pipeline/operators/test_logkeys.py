"""The logkeys operator on raw log lines: templates, expectations, anomalies, END, and mined
templates that survive a restart through the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.connectors.memory import MemoryDeadLetters, MemorySink, MemorySource
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END, RecordBatch
from rnnstream.engine.session import load_session
from rnnstream.operators.logkeys import END_TEXT, LogkeysOperator
from rnnstream.runtime.loop import Pipeline

LINES = [
    "Receiving block blk_1 src: /10.0.0.1:5 dest: /10.0.0.2:50010",
    "PacketResponder 1 for block blk_1 terminating",
    "Weird new message 42 from host-7",
    "Weird new message 43 from host-9",
]


def _pipeline(path, keys, source, sink, ckpt):
    op = LogkeysOperator(load_session(path, provider="cpu"))
    return Pipeline(sources=[source], operators=[op], sinks=[sink], keys=keys, dead_letters=MemoryDeadLetters(),
                    checkpoint_path=str(ckpt)), op


def _batch(keys: KeyTable, names, lines, kind=None):
    b = RecordBatch.data(keys.intern_many(names), np.arange(len(names), dtype=float), np.zeros((len(names), 1)),
                         kind=kind)
    b.meta["text"] = np.array(lines, dtype=object)
    return b


def test_lines_become_known_and_mined_templates_with_scores(logkeys_model, tmp_path):
    keys, src, sink = KeyTable(), MemorySource(), MemorySink()
    pipe, op = _pipeline(logkeys_model[1], keys, src, sink, tmp_path / "ck")
    src.push(_batch(keys, ["h1", "h1", "h2", "h2"], LINES))
    pipe.step()
    out = sink.take()[0].fields["logkeys"]
    assert out["template"][:2].tolist() == [1, 3]
    mined = out["template"][2:]
    assert mined[0] == mined[1] >= 8, "two lines differing in numbers share one mined template"
    assert out["template_text"][2] == "Weird new message <*> from <*>"
    assert out["anomaly"][2:].all() and (out["p"][2:] == 0).all(), "a template the model never saw is an anomaly"
    assert out["expected"].shape == (4, 4) and ((0 <= out["expected"]) & (out["expected"] < 8)).all()
    assert (out["rank"][:2] < 8).all()


def test_end_asks_whether_the_session_was_expected_to_end(logkeys_model, tmp_path):
    keys, src, sink = KeyTable(), MemorySource(), MemorySink()
    pipe, op = _pipeline(logkeys_model[1], keys, src, sink, tmp_path / "ck")
    src.push(_batch(keys, ["b1", "b1"], [LINES[0], None], kind=[DATA, END]))
    pipe.step()
    out = sink.take()[0]
    assert out.kind.tolist() == [DATA, END]
    f = out.fields["logkeys"]
    assert f["template"][1] == 7 and f["template_text"][1] == END_TEXT
    assert f["anomaly"][1] == (f["rank"][1] >= op.top_g)


def test_mined_templates_keep_their_ids_across_a_restart(logkeys_model, tmp_path):
    ck = tmp_path / "state.ckpt"
    keys, src, sink = KeyTable(), MemorySource(), MemorySink()
    pipe, _ = _pipeline(logkeys_model[1], keys, src, sink, ck)
    src.push(_batch(keys, ["h1", "h1"], ["Alpha 1 beta", "Gamma delta 7 epsilon"]))
    pipe.step()
    pipe.commit()
    first = sink.take()[0].fields["logkeys"]["template"].tolist()

    keys2, src2, sink2 = KeyTable(), MemorySource(), MemorySink()
    pipe2, op2 = _pipeline(logkeys_model[1], keys2, src2, sink2, ck)
    pipe2.restore()
    assert op2.book.mined == 2
    # In the other order, a fresh miner would number them the other way round.
    src2.push(_batch(keys2, ["h1", "h1"], ["Gamma delta 9 epsilon", "Alpha 3 beta"]))
    pipe2.step()
    assert sink2.take()[0].fields["logkeys"]["template"].tolist() == first[::-1]


def test_a_source_without_text_is_refused_at_build():
    from rnnstream.config import parse_config
    from rnnstream.errors import ConfigError
    from rnnstream.runtime.build import build_pipeline

    cfg = parse_config({"sources": [{"type": "stdin"}], "operators": [{"type": "logkeys", "name": "lk"}]})
    with pytest.raises(ConfigError, match=r"sources\[stdin\]: operator lk reads text"):
        build_pipeline(cfg)
