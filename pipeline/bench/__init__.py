"""Benchmarks: figures measured side by side in one run, never pass/fail tests.

``engine`` (the scheduler against one call per event), ``asr`` (concurrent real-time
streams), ``kafka`` (Kafka to Kafka through the daemon) and ``mic`` (live latency through
PortAudio). The ``bench`` command is :mod:`rnnstream.cli`.
"""

from __future__ import annotations

from rnnstream.bench.asr import run_asr_bench
from rnnstream.bench.engine import run_engine_bench

__all__ = ["run_engine_bench", "run_asr_bench"]
