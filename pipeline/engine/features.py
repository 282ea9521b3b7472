"""Per-key online normalisation, shared by the trainer and the runtime.

Each key learns its own scale from its own history: an exponentially weighted mean and
variance whose weight starts as a plain running average (``1/n``) and settles at
``alpha_min``. A value is normalised with the statistics from *before* it arrives, so a
spike keeps its full size and nothing looks ahead. The trainer calls
:func:`normalize_sequence`, the operators call :func:`norm_step`; both run the same update.

>>> import numpy as np
>>> z, mean, std = normalize_sequence(np.array([[1.0], [3.0], [5.0]]), alpha_min=0.01)
>>> z[:, 0].round(3).tolist(), mean[-1, 0].item()
([0.0, 0.0, 3.0], 3.0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["NORM_EXTRAS", "norm_step", "normalize_sequence", "denormalize", "Z_CLIP", "EPS"]

Z_CLIP = 10.0
EPS = 1e-6
NORM_EXTRAS = ("norm_count", "norm_mean", "norm_var")


def norm_step(
    x: np.ndarray, count: np.ndarray, mean: np.ndarray, var: np.ndarray, alpha_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise one step for a batch of keys and update their statistics.

    ``x``, ``mean``, ``var``: ``[B, D]``; ``count``: ``[B]``. Returns
    ``(z, count, mean, var)`` with the updated statistics (new arrays).
    """
    x = x.astype(np.float64, copy=False)
    std = np.sqrt(var)
    # Until a key has two points it has no scale; report 0 rather than a huge z.
    ready = (count >= 2)[:, None]
    z = np.where(ready, (x - mean) / np.maximum(std, _floor(mean)), 0.0)
    z = np.clip(z, -Z_CLIP, Z_CLIP)
    new_count = count + 1
    alpha = np.maximum(1.0 / new_count, alpha_min)[:, None]
    delta = x - mean
    new_mean = mean + alpha * delta
    new_var = (1.0 - alpha) * (var + alpha * delta * delta)
    return z, new_count, new_mean, new_var


def _floor(mean: np.ndarray) -> np.ndarray:
    # A flat-lined series has zero variance; scale by a tiny fraction of its level instead
    # so the first change after it is large but finite.
    return np.maximum(np.abs(mean) * 1e-3, EPS)


def denormalize(z: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Map model outputs in z-units back to value units. ``mean``/``var``: ``[B, D]``."""
    std = np.maximum(np.sqrt(var), _floor(mean))
    extra = z.ndim - mean.ndim
    shape = (mean.shape[0],) + (1,) * extra + mean.shape[1:]
    return mean.reshape(shape) + std.reshape(shape) * z


def normalize_sequence(
    x: np.ndarray, alpha_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run :func:`norm_step` over a whole series ``[T, D]``.

    Returns ``z`` (each value normalised with the statistics before it) and the mean and
    standard deviation *after* each step, the ones a forecast made at that step uses.
    """
    x = np.asarray(x, dtype=np.float64)
    t_len, d = x.shape
    z = np.empty((t_len, d))
    means = np.empty((t_len, d))
    stds = np.empty((t_len, d))
    count, mean, var = np.zeros(1), np.zeros((1, d)), np.zeros((1, d))
    for t in range(t_len):
        zt, count, mean, var = norm_step(x[t : t + 1], count, mean, var, alpha_min)
        z[t] = zt[0]
        means[t] = mean[0]
        stds[t] = np.maximum(np.sqrt(var[0]), _floor(mean[0]))
    return z, means, stds
