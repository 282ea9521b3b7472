"""The anomaly detector's five evidence channels, streaming and batched across keys.

Each channel turns one event into evidence in nines (``-log10`` of how often this key has
seen something as extreme), using only the key's past, which lives in the slab state:

- ``res``: the recurrent network's one-step residual, in units of its predicted p5-p95
  width. When the residual repeats at a seasonal lag (the network does not count to 288
  to foresee a daily jump), the residual minus its value one season ago is used instead,
  so a missing jump counts as much as an unexpected one. The residual's short average is
  ranked against the key's own recent residuals.
- ``sp``: a value beyond the range the key has ever shown (widened by ``sp_tol``).
- ``disp``: the short-term step size against its own history (noise bursts, stuck sensors).
- ``ctx``: novelty of the transition between value levels (previous level, current level),
  from a count table per key, less a share of the key's usual novelty.
- ``nnctx``: the same novelty for (level the network predicted, level that came): how
  often, when the network expected this, did this happen? A recurring misprediction
  becomes familiar; an outcome the network has never been wrong towards stands out.

A key's state is two arrays per value dimension: ``det_state`` (float64 scalars, columns
named in :data:`STATE_COLUMNS`) and ``det_tables`` (float32: residual ring, two histograms,
two transition tables). Few, packed arrays keep the cost of a small micro-batch low: every
array operation serves all channels of the batch (key x value dimension) at once, and no
channel reads another's state.

>>> import numpy as np
>>> ch = EvidenceChannels(DetectorSettings(warmup=2), dim=1)
>>> state = {e.name: np.full((1, *e.shape), e.fill, e.dtype) for e in ch.extras}
>>> q = np.array([[1.0]])
>>> parts, new = ch.step(q, q, q, np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(1), state)
>>> parts.shape, CHANNELS
((1, 1, 5), ('res', 'sp', 'disp', 'ctx', 'nnctx'))
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.state import ExtraSpec, State
from rnnstream.operators.anomaly_settings import DetectorSettings
from rnnstream.operators.anomaly_tail import StackedTails

__all__ = ["EvidenceChannels", "CHANNELS", "STATE_COLUMNS", "HOLD_LEFT", "ALERT_LEVEL"]

CHANNELS = ("res", "sp", "disp", "ctx", "nnctx")
# det_state columns; the residual's lagged correlations follow them, one per lag.
STATE_COLUMNS = (
    "count", "pred_mid", "pred_width", "sp_lo", "sp_hi", "disp_prev", "ctx_prev", "ctx_n",
    "tail_n_res", "tail_n_disp",
    "res_short", "disp_level", "ctx_short", "nnctx_short", "ctx_usual", "nnctx_usual",
    "hold_left", "alert_level", "res_e2",
)
_C = {name: i for i, name in enumerate(STATE_COLUMNS)}
HOLD_LEFT, ALERT_LEVEL = _C["hold_left"], _C["alert_level"]  # the operator's alert hold-off
_AVG = slice(_C["res_short"], _C["nnctx_usual"] + 1)
_LOG_FLOOR = 1e-3  # residuals below a thousandth of the predicted width all look alike
_DISP_FLOOR = 1e-4


class EvidenceChannels:
    """Declares the channels' per-key state and advances it by one event per key."""

    def __init__(self, settings: DetectorSettings, dim: int) -> None:
        s = self.settings = settings
        self.dim = dim
        self.lags = np.asarray(s.res_lags, dtype=np.int64)
        self.tails = StackedTails([(s.res_lo, s.res_hi, s.res_bins, s.res_decay, s.res_extrap),
                                   (s.disp_lo, s.disp_hi, s.disp_bins, s.disp_decay, s.disp_extrap)])
        self.levels = 2 * s.ctx_levels + 1
        # Rates of the running averages, in _AVG column order.
        self.rates = np.array([s.res_short, s.disp_alpha, s.ctx_short, s.ctx_short, s.ctx_long, s.ctx_long])
        self.ctx_keep = 1.0 - s.ctx_decay
        ring, hist, table = s.ring, 2 * self.tails.size, 2 * self.levels * self.levels
        self._ring = slice(0, ring)
        self._hist = slice(ring, ring + hist)
        self._table = slice(ring + hist, ring + hist + table)
        self._xc = slice(len(STATE_COLUMNS), len(STATE_COLUMNS) + len(s.res_lags))
        self.extras = (
            ExtraSpec("det_state", (dim, len(STATE_COLUMNS) + len(s.res_lags)), "float64"),
            ExtraSpec("det_tables", (dim, ring + hist + table), "float32"),
        )
        self._pair = np.array([[0, 1]])
        self._rows: dict[int, np.ndarray] = {}

    def rows(self, n: int) -> np.ndarray:
        """``arange(n)``, cached: micro-batches come in a handful of sizes."""
        r = self._rows.get(n)
        if r is None:
            r = self._rows[n] = np.arange(n)
        return r

    def step(
        self,
        x: np.ndarray,
        next_mid: np.ndarray,
        next_width: np.ndarray,
        mean: np.ndarray,
        var: np.ndarray,
        norm_count: np.ndarray,
        state: State,
    ) -> tuple[np.ndarray, State]:
        """Evidence ``[B, D, channel]`` in nines and the new ``det_*`` state, one event per key.

        ``next_mid``/``next_width``: the network's median and p5-p95 width for the *next*
        event (kept for it); ``mean``/``var``/``norm_count``: the key's normalisation
        statistics *before* this event. The ``det_*`` arrays of ``state`` are updated in
        place and returned (the scheduler gathers a fresh copy of them for every call;
        copying megabytes of tables once more per call would cost more than the maths).
        """
        s = self.settings
        b, d = x.shape
        n = b * d
        rows = self.rows(n)
        st = state["det_state"].reshape(n, -1)
        tables = state["det_tables"].reshape(n, -1)
        xf = x.reshape(n).astype(np.float64)
        mean = mean.reshape(n)
        scale = np.sqrt(np.maximum(var.reshape(n), 1e-12) + (1e-3 * mean) ** 2)
        count = st[:, 0].copy()
        first = count == 0
        ready = count >= s.warmup
        rate = np.maximum(1.0 / (count + 1.0)[:, None], self.rates[None, :])
        parts = np.zeros((n, len(CHANNELS)))

        # res: the network's residual, seasonally corrected where it repeats itself.
        mid = st[:, _C["pred_mid"]]
        e = np.clip((xf - mid) / np.maximum(st[:, _C["pred_width"]], 1e-9), -s.res_clip, s.res_clip)
        e[first] = 0.0
        ring = tables[:, self._ring]
        c = count.astype(np.int64)
        lagged = c[:, None] - self.lags[None, :]
        past = np.where(lagged >= 0, ring[rows[:, None], lagged % s.ring], 0.0)
        # Which lag repeats the residual: its lagged correlation so far, taken before this
        # event and only once two seasons have been seen.
        xc, e2 = st[:, self._xc], st[:, _C["res_e2"]]
        rho = np.where(lagged >= self.lags[None, :], xc / np.maximum(e2, 1e-9)[:, None], -np.inf)
        best = np.argmax(rho, axis=1)
        r = np.abs(np.where(rho[rows, best] > s.res_rho, e - past[rows, best], e))
        ring[rows, c % s.ring] = e
        st[:, self._xc] = xc + s.res_alpha * (e[:, None] * past - xc)
        st[:, _C["res_e2"]] = e2 + s.res_alpha * (e * e - e2)

        # disp: step size against the key's scale; res and disp share the tail histograms.
        avg = st[:, _AVG]
        step = np.where(first, 0.0, np.abs(xf - st[:, _C["disp_prev"]]))
        avg[:, 0] += rate[:, 0] * (np.log(r + _LOG_FLOOR) - avg[:, 0])
        avg[:, 1] += rate[:, 1] * (step - avg[:, 1])
        signals = np.empty((n, 2))
        signals[:, 0] = avg[:, 0]
        signals[:, 1] = np.log(avg[:, 1] / scale + _DISP_FLOOR)
        hist = tables[:, self._hist].reshape(n, 2, self.tails.size)
        tn = st[:, _C["tail_n_res"] : _C["tail_n_disp"] + 1]
        up, two = self.tails.nines(hist, tn, signals)
        counted = ready[:, None] & (tn > 0)
        parts[:, 0] = np.where(counted[:, 0], up[:, 0], 0.0)
        parts[:, 2] = np.where(counted[:, 1], two[:, 1], 0.0)
        st[:, _C["tail_n_res"] : _C["tail_n_disp"] + 1] = self.tails.update(hist, tn, signals)  # hist: a view

        # sp: beyond the range seen so far.
        lo = np.where(first, xf, st[:, _C["sp_lo"]])
        hi = np.where(first, xf, st[:, _C["sp_hi"]])
        span = hi - lo
        beyond = np.maximum(xf - hi, lo - xf) / np.maximum(span, 1e-9) - s.sp_tol
        parts[:, 1] = np.where(ready & (span > 0) & (beyond > 0), s.sp_base + s.sp_gain * beyond, 0.0)
        st[:, _C["sp_lo"]] = np.minimum(lo, xf)
        st[:, _C["sp_hi"]] = np.maximum(hi, xf)
        st[:, _C["disp_prev"]] = xf

        # ctx and nnctx: novelty of (previous level -> level) and (predicted level -> level).
        z = np.empty((n, 2))
        z[:, 0], z[:, 1] = xf, np.where(first, mean, mid)
        z = np.where((norm_count.reshape(-1, 1) >= 2) if d == 1 else np.repeat(norm_count, d)[:, None] >= 2,
                     (z - mean[:, None]) / scale[:, None], 0.0)
        lv = np.clip(np.floor(z / s.ctx_width), -s.ctx_levels, s.ctx_levels).astype(np.int64) + s.ctx_levels
        level = lv[:, 0].copy()
        lv[:, 0] = st[:, _C["ctx_prev"]]
        slots = lv * self.levels + level[:, None]
        table = tables[:, self._table].reshape(n, 2, -1)
        if s.ctx_decay > 0:
            table *= np.float32(self.ctx_keep)
        seen = table[rows[:, None], self._pair, slots]
        cn = st[:, _C["ctx_n"]]
        novel = np.where((cn >= s.warmup)[:, None], -np.log10((seen + s.ctx_prior) / (cn + s.ctx_prior)[:, None]), 0.0)
        table[rows[:, None], self._pair, slots] = seen + 1.0  # table: a view into tables
        avg[:, 2:4] += rate[:, 2:4] * (novel - avg[:, 2:4])
        # A key whose transitions are often new (noisy, wide-ranging) earns less for one more.
        parts[:, 3:5] = np.where(ready[:, None], np.maximum(avg[:, 2:4] - s.ctx_sub * avg[:, 4:6], 0.0), 0.0)
        avg[:, 4:6] += rate[:, 4:6] * (avg[:, 2:4] - avg[:, 4:6])
        st[:, _AVG] = avg
        st[:, _C["ctx_prev"]] = level
        st[:, _C["ctx_n"]] = cn * self.ctx_keep + 1.0

        st[:, 0] = count + 1.0
        st[:, _C["pred_mid"]] = next_mid.reshape(n)
        st[:, _C["pred_width"]] = next_width.reshape(n)
        new = {"det_state": state["det_state"], "det_tables": state["det_tables"]}
        return parts.reshape(b, d, len(CHANNELS)), new
