"""Training corpora built from the project's synthetic generator (:mod:`rnnstream.models.synthetic`).

``basic`` is the generator as it is: level, trend, daily and weekly seasons, AR(1) noise and
injected anomalies, every 5 minutes. ``mixed`` spreads the keys over several families so a
model meets the shapes real sensors have and the generator alone lacks: hourly data,
series without seasons, on/off square waves, bursty heavy-tailed load, integer counts and
random-walk levels. Every family starts from :func:`rnnstream.models.synthetic.generate_series`
and is deterministic for (seed, key index); no real data set is involved.

>>> s = synthetic_series(seed=1, keys=6, steps=500)
>>> len(s), s[0].values.shape, sorted({x.key.split("_")[0] for x in s})[:3]
(6, (500, 1), ['aperiodic', 'basic', 'bursty'])
"""

from __future__ import annotations

import math

import numpy as np

from rnnstream.errors import ConfigError
from rnnstream.models.data import Series
from rnnstream.models.synthetic import ANOMALY_KINDS, generate_series

__all__ = ["FAMILIES", "synthetic_series", "synthetic_labelled"]

_DAY, _WEEK = 86_400.0, 604_800.0
FAMILIES = ("basic", "hourly", "aperiodic", "square", "bursty", "counts", "walk")


def _family_series(family: str, seq: np.random.SeedSequence, key: str, steps: int, step_s: float, rate: float):
    gen_seq, own_seq = seq.spawn(2)
    rng = np.random.default_rng(own_seq)
    kinds = ANOMALY_KINDS
    periods = (_DAY, _WEEK)
    step = step_s
    if family == "hourly":
        step = 3600.0
    elif family in ("aperiodic", "walk"):
        periods = ()
        kinds = tuple(k for k in ANOMALY_KINDS if k != "pattern_change")
    s = generate_series(
        steps, seed=gen_seq, key=key, step_s=step, periods_s=periods, anomaly_rate=rate, kinds=kinds
    )
    x = s.values.astype(np.float64).reshape(steps)
    level = float(np.median(np.abs(x))) or 1.0
    t = s.ts - s.ts[0]
    if family == "square":
        # An on/off daily duty cycle, like a scheduled job or a thermostat.
        duty = rng.uniform(0.2, 0.6)
        phase = rng.uniform(0, 1)
        on = ((t / _DAY + phase) % 1.0) < duty
        x = x + on * level * rng.uniform(0.5, 2.0)
    elif family == "bursty":
        # Heavy-tailed load: sparse bursts with exponential sizes and decay, floored at 0.
        n_bursts = rng.poisson(steps / rng.uniform(30, 200))
        burst = np.zeros(steps)
        at = rng.integers(0, steps, n_bursts)
        np.add.at(burst, at, rng.exponential(level * rng.uniform(0.2, 1.0), n_bursts))
        decay = rng.uniform(0.2, 0.8)
        taps = max(1, int(math.ceil(math.log(1e-3) / math.log(decay))))
        burst = np.convolve(burst, decay ** np.arange(taps))[:steps]
        x = np.maximum(x - level * rng.uniform(0.3, 0.9), 0.0) + burst
    elif family == "counts":
        # Small integer counts: quantisation makes many repeated values.
        x = np.round(np.maximum(x / level * rng.uniform(2.0, 15.0), 0.0))
    elif family == "walk":
        x = x + np.cumsum(rng.normal(0.0, level * rng.uniform(0.002, 0.01), steps))
    return Series(key, s.ts.copy(), x[:, None]), s.windows


def synthetic_labelled(
    *, seed: int, keys: int, steps: int, step_s: float = 300.0, anomaly_rate: float = 0.001, recipe: str = "mixed"
) -> list[tuple[Series, list]]:
    """Like :func:`synthetic_series`, each series with its labelled anomaly windows
    (inclusive datetime64 pairs, the NAB scorer's form)."""
    if recipe not in ("basic", "mixed"):
        raise ConfigError(f"synthetic.recipe: must be basic or mixed, got {recipe!r}")
    families = FAMILIES if recipe == "mixed" else ("basic",)
    out = []
    for k, child in enumerate(np.random.SeedSequence(seed).spawn(keys)):
        family = families[k % len(families)]
        out.append(_family_series(family, child, f"{family}_{k:04d}", steps, step_s, anomaly_rate))
    return out


def synthetic_series(
    *, seed: int, keys: int, steps: int, step_s: float = 300.0, anomaly_rate: float = 0.001, recipe: str = "mixed"
) -> list[Series]:
    """``keys`` univariate series of ``steps`` steps; key ``k`` depends only on (seed, k)."""
    return [s for s, _ in synthetic_labelled(seed=seed, keys=keys, steps=steps, step_s=step_s,
                                             anomaly_rate=anomaly_rate, recipe=recipe)]
