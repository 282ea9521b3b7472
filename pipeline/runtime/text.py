"""Text operators in the loop: texts become token steps, steps run as any operator's, rows get
their outputs back.

An operator that declares :class:`~rnnstream.operators.base.ReadsText` turns the batch's
``text`` column into model steps (a chunk of words is several steps of its key, kept in
order); the scheduler batches those steps across keys like every other operator's, and
the operator folds each row's steps back into the row's outputs.
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.records import RecordBatch
from rnnstream.engine.scheduler import Scheduler
from rnnstream.operators.base import ReadsText

__all__ = ["process_text"]


def process_text(sched: Scheduler, op: ReadsText, batch: RecordBatch) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Like ``Scheduler.process`` for a text operator: (outputs per row, rows that emitted)."""
    text = batch.meta.get("text")
    if text is None:  # a source without text (the build refuses such a config; a library caller may not)
        text = np.full(len(batch), "", dtype=object)
    steps = op.text_steps(text, batch.kind)
    o = steps.owner
    outputs, emitted = sched.process(batch.key_ids[o], batch.ts[o], steps.values, batch.kind[o])
    return op.text_outputs(outputs, steps), emitted[steps.last]
