"""Shared helpers for the ASR operator tests: test audio, and many streams through one Transcriber."""

from __future__ import annotations

import numpy as np
import pytest


def chirp(seed: int, seconds: float) -> np.ndarray:
    """Tones with changing pitch and bursts of noise: they make a random model emit labels."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * (200 + 300 * rng.random()) * t * (1 + t))
            + 0.1 * rng.standard_normal(t.size) * (np.sin(3 * t) > 0)).astype(np.float32)


def _interleave(tr, signals: list[np.ndarray]) -> list[list[dict]]:
    """Push one chunk of every unfinished signal per call (key = index); events per signal."""
    n = tr.chunk
    got: list[list[dict]] = [[] for _ in signals]
    for c in range(max(-(-len(x) // n) for x in signals)):
        keys = [k for k, x in enumerate(signals) if c * n < len(x)]
        chunks = np.zeros((len(keys), n), np.float32)
        for row, k in enumerate(keys):
            seg = signals[k][c * n : (c + 1) * n]
            chunks[row, : seg.size] = seg
        ends = np.array([(c + 1) * n >= len(signals[k]) for k in keys])
        for k, ev in tr.push(np.array(keys), chunks, end=ends):
            got[k].append(ev)
    return got


@pytest.fixture(scope="session")
def interleave():
    return _interleave


@pytest.fixture(scope="session")
def signal():
    return chirp
