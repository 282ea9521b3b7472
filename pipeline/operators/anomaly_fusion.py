"""From evidence to one score per event, and from scores to alerts a person can act on.

The channels' evidence (nines) is weighted and the strongest channel of the strongest value
dimension wins: an incident usually shows in one way (a new level, a broken rhythm, a
burst), and adding up channels that echo each other would only inflate noise. The fused
evidence ``f`` maps to a score in [0, 1) that is 0.5 at ``scale`` nines and falls off
steeply below, so quiet stretches plot near 0.

An alert is a score at or above ``threshold``. After it the key is on hold for ``hold``
events: its scores are reported as 0 unless the evidence beats ``over`` times the evidence
that raised the alert (then that is a new alert). One incident, one alert, as NAB and an
on-call engineer both count them.

>>> import numpy as np
>>> s = DetectorSettings(hold=3)
>>> f = np.array([0.0, 8.0, 8.0, 20.0, 8.0, 0.0, 8.0, 8.0])
>>> left, level, out = np.zeros(1), np.zeros(1), []
>>> for v in f:
...     score, alert, left, level = refractory(np.array([v]), left, level, s)
...     out.append(int(alert[0]))
>>> out
[0, 1, 0, 1, 0, 0, 0, 1]
"""

from __future__ import annotations

import numpy as np

from rnnstream.operators.anomaly_settings import DetectorSettings

__all__ = ["fuse", "weights", "to_score", "refractory"]


def weights(settings: DetectorSettings) -> np.ndarray:
    """Channel weights in :data:`~rnnstream.operators.anomaly_detectors.CHANNELS` order."""
    s = settings
    return np.array([s.w_res, s.w_sp, s.w_disp, s.w_ctx, s.w_nnctx, s.w_stuck])


def fuse(parts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted maximum over channels and value dimensions: ``[B, D, channels]`` -> ``[B]``."""
    return (parts * w).max(axis=(1, 2))


def to_score(f: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """``f^k / (f^k + scale^k)``: 0 for no evidence, 0.5 at ``scale`` nines, towards 1 beyond."""
    # Clipped so that a value far beyond anything (say 1e300 nines) still maps to 1, not NaN.
    ratio = np.clip(f / settings.scale, 0.0, 1e6)
    powered = ratio ** settings.sharpness
    return powered / (1.0 + powered)


def refractory(
    f: np.ndarray, hold_left: np.ndarray, level: np.ndarray, settings: DetectorSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, alert, hold_left, level) after one event per key.

    ``hold_left``: events the key is still on hold for; ``level``: the evidence of its last
    alert. On hold, scores are 0 unless a new alert beats ``over * level``.
    """
    s = settings
    score = to_score(f, s)
    holding = hold_left > 0
    alert = (score >= s.threshold) & (~holding | (f > s.over * level))
    score = np.where(holding & ~alert, 0.0, score)
    left = np.where(alert, float(s.hold), np.maximum(hold_left - 1.0, 0.0))
    return score, alert, left, np.where(alert, f, level)
