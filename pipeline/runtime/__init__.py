"""The runtime: the pipeline loop, building it from a config, checkpoints, the changelog, the HTTP server.

>>> from rnnstream.runtime import Pipeline, build_pipeline
>>> callable(build_pipeline), Pipeline.__name__
(True, 'Pipeline')
"""

from __future__ import annotations

from rnnstream.runtime.build import build_operator, build_pipeline, resolve_model
from rnnstream.runtime.loop import OperatorSettings, Pipeline, RunStats

__all__ = ["Pipeline", "OperatorSettings", "RunStats", "build_pipeline", "build_operator", "resolve_model"]
