"""Applications built on the runtime: file and live transcription, the terminal view, dashboards.

Each app builds a :class:`~rnnstream.runtime.Pipeline` and drives it; none has a step path
of its own. The terminal view (rich) and the dashboard PNG (matplotlib) are imported from
their modules, so this package needs neither extra.
"""

from __future__ import annotations

from rnnstream.apps.live import ChunkResult, LiveTranscription
from rnnstream.apps.transcribe import Transcriber, load_asr

__all__ = ["Transcriber", "load_asr", "LiveTranscription", "ChunkResult"]
