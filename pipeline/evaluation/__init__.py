"""Quality measurements on data the project did not produce: forecast accuracy (MASE, interval
coverage), NAB anomaly scoring, and ASR word error rates with published peers
(whisper, pocketsphinx) beside them.
Plain functions over data; the ``eval`` command is :mod:`rnnstream.cli`."""

from __future__ import annotations

from rnnstream.evaluation.asr_eval import edit_distance, evaluate_asr
from rnnstream.evaluation.forecast import evaluate_forecaster
from rnnstream.evaluation.nab import score_corpus

__all__ = ["evaluate_asr", "edit_distance", "evaluate_forecaster", "score_corpus"]
