"""The operators stage of the loop: every operator over a micro-batch, outputs per row.

Each operator sees every record (outputs nest under the operator's name); END rows carry
output from operators that finish a stream (ASR finals, a session's end). An operator that declares :class:`~rnnstream.operators.base.ReadsText` turns the batch's
``text`` column into model steps (a chunk of words is several steps of its key, kept in
order); the scheduler batches those steps across keys like every other operator's, and
the operator folds each row's steps back into the row's outputs.
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.records import DATA, RecordBatch
from rnnstream.engine.scheduler import Scheduler
from rnnstream.metrics import Metrics
from rnnstream.operators.base import ReadsText

__all__ = ["process_text", "run_operators"]


def run_operators(schedulers: dict[str, Scheduler], batch: RecordBatch,
                  metrics: Metrics) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """``({operator: {field: column}}, rows that emitted)``; alerts are counted as they are raised."""
    fields: dict[str, dict[str, np.ndarray]] = {}
    emitted = batch.kind == DATA
    for name, sched in schedulers.items():
        if isinstance(sched.operator, ReadsText):
            outputs, op_emitted = process_text(sched, sched.operator, batch)
        else:
            outputs, op_emitted = sched.process(batch.key_ids, batch.ts, batch.values, batch.kind)
        fields[name] = outputs
        emitted |= op_emitted
        for field_name in sched.operator.alert_outputs:
            if field_name in outputs:
                alerts = int(outputs[field_name][op_emitted].sum())
                if alerts:
                    metrics.anomaly_alerts.labels(name).inc(alerts)
    return fields, emitted


def process_text(sched: Scheduler, op: ReadsText, batch: RecordBatch) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Like ``Scheduler.process`` for a text operator: (outputs per row, rows that emitted)."""
    text = batch.meta.get("text")
    if text is None:  # a source without text (the build refuses such a config; a library caller may not)
        text = np.full(len(batch), "", dtype=object)
    steps = op.text_steps(text, batch.kind)
    o = steps.owner
    outputs, emitted = sched.process(batch.key_ids[o], batch.ts[o], steps.values, batch.kind[o])
    return op.text_outputs(outputs, steps), emitted[steps.last]
