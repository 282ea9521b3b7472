"""The engine: columnar records, key ids, slab state, the cross-key scheduler and the ONNX session.

Nothing here knows about sources, sinks or config files; the runtime wires it together.
"""

from __future__ import annotations

from rnnstream.engine.keys import KeyTable
from rnnstream.engine.manifest import Manifest
from rnnstream.engine.records import DATA, END, RESET, DeadRecord, OutputBatch, RecordBatch
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.session import Session, load_session
from rnnstream.engine.state import ExtraSpec, StateSpec
from rnnstream.engine.store import StateStore

__all__ = ["KeyTable", "Manifest", "DATA", "END", "RESET", "DeadRecord", "OutputBatch", "RecordBatch",
           "Scheduler", "Session", "load_session", "ExtraSpec", "StateSpec", "StateStore"]
