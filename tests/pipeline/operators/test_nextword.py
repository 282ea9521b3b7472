"""The nextword operator on text: a chunk of words is several steps of its key, in order; the
row gets the chunk's summed surprisal and the words expected after it."""

from __future__ import annotations

import numpy as np

from rnnstream.connectors.memory import MemoryDeadLetters, MemorySink, MemorySource
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END, RecordBatch
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.session import load_session
from rnnstream.operators.nextword import NextwordOperator
from rnnstream.runtime.loop import Pipeline


def _run(path, names, texts, kind=None):
    keys, src, sink = KeyTable(), MemorySource(), MemorySink()
    pipe = Pipeline(sources=[src], operators=[NextwordOperator(load_session(path, provider="cpu"))], sinks=[sink],
                    keys=keys, dead_letters=MemoryDeadLetters())
    b = RecordBatch.data(keys.intern_many(names), np.arange(len(names), dtype=float), np.zeros((len(names), 1)),
                         kind=kind)
    b.meta["text"] = np.array(texts, dtype=object)
    src.push(b)
    pipe.step()
    return sink.take()[0]


def test_a_chunk_equals_its_words_one_event_each(nextword_model):
    path = nextword_model[1]
    chunk = _run(path, ["a", "b"], ["The cat sat on the mat.", "the dog ran"]).fields["nextword"]
    words = _run(path, ["a"] * 6 + ["b"] * 3, "the cat sat on the mat. the dog ran".split()).fields["nextword"]
    assert chunk["words"].tolist() == [7, 3]  # "." is the word </s>
    assert words["words"].tolist() == [1, 1, 1, 1, 1, 2, 1, 1, 1]
    np.testing.assert_allclose(chunk["surprisal"][0], words["surprisal"][:6].sum(), rtol=1e-5)
    np.testing.assert_allclose(chunk["surprisal"][1], words["surprisal"][6:].sum(), rtol=1e-5)
    assert chunk["next"].tolist() == [words["next"][5].tolist(), words["next"][8].tolist()]
    assert chunk["next"].shape == (2, 3) and "<unk>" not in chunk["next"].ravel().tolist()
    np.testing.assert_allclose(chunk["next_p"], words["next_p"][[5, 8]], rtol=1e-5)


def test_unknown_and_wordless_text_still_answers(nextword_model):
    out = _run(nextword_model[1], ["a", "a", "b"], ["zebra", "!!!", "the"], kind=[DATA, DATA, END])
    f = out.fields["nextword"]
    assert out.kind.tolist() == [DATA, DATA] and f["words"].tolist() == [1, 1]
    assert np.isfinite(f["surprisal"]).all() and (f["surprisal"] > 0).all()


def test_the_operator_batches_keys_into_one_call_per_round(nextword_model):
    op = NextwordOperator(load_session(nextword_model[1], provider="cpu"))
    steps = op.text_steps(np.array(["the cat", "a dog ran", "it"], object), np.zeros(3, np.int8))
    assert steps.owner.tolist() == [0, 0, 1, 1, 1, 2] and steps.last.tolist() == [1, 4, 5]
    sched = Scheduler(op, max_batch=64)
    sched.process(np.array([0, 0, 1, 1, 1, 2]), np.zeros(6), steps.values, np.zeros(6, np.int8))
    assert sched.calls == 3  # rounds: the longest chunk has three words
