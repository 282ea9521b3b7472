"""Operators: one contract (:class:`Operator`), one class per kind of model.

An operator holds the shared ONNX session and its settings, never per-key data; every
per-key quantity is declared in its state spec and lives in the scheduler's slab store.
"""

from __future__ import annotations

from rnnstream.operators.anomaly import AnomalyOperator
from rnnstream.operators.asr import AsrOperator
from rnnstream.operators.base import Operator
from rnnstream.operators.forecast import ForecastOperator
from rnnstream.operators.rnn import RnnOperator

__all__ = ["Operator", "RnnOperator", "ForecastOperator", "AnomalyOperator", "AsrOperator"]
