"""Sources and sinks: one module per external system, all behind one ``Source`` and one ``Sink``
protocol (:mod:`.base`). Connector modules import their client libraries (kafka, paho,
sounddevice) themselves, so this package needs none of them."""

from __future__ import annotations

from rnnstream.connectors.base import (DeadLetterSink, Finishable, FlushesOnSchedule, Partitioned, Pausable,
                                       ReportsLag, Rewindable, Sink, Source)
from rnnstream.connectors.memory import MemoryDeadLetters, MemorySink, MemorySource

__all__ = ["Source", "Sink", "DeadLetterSink", "Partitioned", "Rewindable", "ReportsLag", "Pausable", "Finishable",
           "FlushesOnSchedule", "MemorySource", "MemorySink", "MemoryDeadLetters"]
