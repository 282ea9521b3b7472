"""The anomaly detector's five evidence channels, streaming and batched across keys.

Each channel turns one event into evidence in nines (``-log10`` of how often this key has
seen something as extreme), using only the key's past, which lives in the slab state:

- ``res``: the recurrent network's one-step residual, in units of its predicted p5-p95
  width. When the residual repeats at a seasonal lag (the network does not count to 288
  to foresee a daily jump), the residual minus its value one season ago is used instead,
  so a missing jump counts as much as an unexpected one. The residual's short average is
  ranked against the key's own recent residuals.
- ``sp``: a value beyond the range the key has ever shown (widened by ``sp_tol``).
- ``disp``: the short-term step size against its own history (noise bursts, a signal gone quiet).
- ``ctx``: novelty of the transition between value levels (previous level, current level),
  from a count table per key, less a share of the key's usual novelty.
- ``nnctx``: the same novelty for (level the network predicted, level that came): how
  often, when the network expected this, did this happen? A recurring misprediction
  becomes familiar; an outcome the network has never been wrong towards stands out.
- ``stuck``: the value has repeated exactly for longer than any earlier run (a stuck sensor).

A key's state is four arrays per value dimension: ``det_state`` (float32 scalars, columns
named in :data:`STATE_COLUMNS`, then one lagged correlation per seasonal lag), ``det_ring``
(float16 residuals of the last seasons), ``det_tails`` (float32 tail counts of res and disp)
and ``det_ctx`` (uint16 transition counts of ctx and nnctx): about 2.2 KB per key with the
default settings. Few, packed, narrow arrays keep both a small
micro-batch and a store of millions of keys cheap: every array operation serves all channels
of the batch (key x value dimension) at once, and no channel reads another's state.

>>> import numpy as np
>>> ch = EvidenceChannels(DetectorSettings(warmup=2), dim=1)
>>> state = {e.name: np.full((1, *e.shape), e.fill, e.dtype) for e in ch.extras}
>>> q = np.array([[1.0]])
>>> parts, new = ch.step(q, q, q, np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(1), state)
>>> parts.shape, CHANNELS
((1, 1, 6), ('res', 'sp', 'disp', 'ctx', 'nnctx', 'stuck'))
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.state import ExtraSpec, State
from rnnstream.operators.anomaly_settings import DetectorSettings
from rnnstream.operators.anomaly_tail import StackedTails

__all__ = ["EvidenceChannels", "CHANNELS", "STATE_COLUMNS", "HOLD_LEFT", "ALERT_LEVEL"]

CHANNELS = ("res", "sp", "disp", "ctx", "nnctx", "stuck")
# det_state columns (float32: a count stops at 2**24 events, which only the young-key rules
# read); the residual's lagged correlations follow them, one per lag.
STATE_COLUMNS = (
    "count", "ring_pos", "pred_mid", "pred_width", "sp_lo", "sp_hi", "disp_prev", "ctx_prev", "ctx_n",
    "tail_n_res", "tail_n_disp", "tail_w_res", "tail_w_disp", "tail_top_res", "tail_top_disp",
    "tail_bottom_res", "tail_bottom_disp",
    "res_short", "disp_level", "ctx_short", "nnctx_short", "ctx_usual", "nnctx_usual",
    "hold_left", "alert_level", "stuck_run", "stuck_max", "stuck_moves", "res_e2",
)
_C = {name: i for i, name in enumerate(STATE_COLUMNS)}
HOLD_LEFT, ALERT_LEVEL = _C["hold_left"], _C["alert_level"]  # the operator's alert hold-off
_AVG = slice(_C["res_short"], _C["nnctx_usual"] + 1)
_TAIL = slice(_C["tail_n_res"], _C["tail_bottom_disp"] + 1)  # StackedTails' meta, [4, signals]
_SATURATED = np.iinfo(np.uint16).max
_LOG_FLOOR = 1e-3  # residuals below a thousandth of the predicted width all look alike
_DISP_FLOOR = 1e-4


class EvidenceChannels:
    """Declares the channels' per-key state and advances it by one event per key."""

    def __init__(self, settings: DetectorSettings, dim: int) -> None:
        s = self.settings = settings
        self.dim = dim
        self.lags = np.asarray(s.res_lags, dtype=np.int64)
        self.tails = StackedTails([(s.res_lo, s.res_hi, s.res_bins, s.res_decay, s.res_extrap, False),
                                   (s.disp_lo, s.disp_hi, s.disp_bins, s.disp_decay, s.disp_extrap, True)])
        self.levels = 2 * s.ctx_levels + 1
        # Rates of the running averages, in _AVG column order.
        self.rates = np.array([s.res_short, s.disp_alpha, s.ctx_short, s.ctx_short, s.ctx_long, s.ctx_long])
        self._xc = slice(len(STATE_COLUMNS), len(STATE_COLUMNS) + len(s.res_lags))
        self.extras = (
            ExtraSpec("det_state", (dim, len(STATE_COLUMNS) + len(s.res_lags)), "float32"),
            # Residuals need three digits, not seven; counts of one transition saturate at 65535.
            ExtraSpec("det_ring", (dim, s.ring), "float16"),
            ExtraSpec("det_tails", (dim, 2, self.tails.size), "float32"),
            ExtraSpec("det_ctx", (dim, 2, self.levels * self.levels), "uint16"),
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
        copying the tables once more per call would cost more than the maths).
        """
        s = self.settings
        b, d = x.shape
        n = b * d
        rows = self.rows(n)
        st = state["det_state"].reshape(n, -1)
        # Events are float32 in the runtime and the state keeps float32: rounding here keeps an
        # exactly repeated reading exactly repeated whatever precision the caller passes.
        xf = x.reshape(n).astype(np.float32).astype(np.float64)
        mean = mean.reshape(n)
        scale = np.sqrt(np.maximum(var.reshape(n), 1e-12) + (1e-3 * mean) ** 2)
        count = st[:, 0].copy()
        first = count == 0
        # Rare cases (a key's first event, a young key, a range broken, a run ended) are
        # tested with one any() and skipped otherwise: small batches pay per array call.
        fresh = bool(first.any())
        ready = count >= s.warmup
        grown = bool(ready.all())
        rate = np.maximum(1.0 / (count + 1.0)[:, None], self.rates[None, :])
        parts = np.zeros((n, len(CHANNELS)))
        avg = st[:, _AVG]

        # res: the network's residual, seasonally corrected where it repeats itself.
        mid = st[:, _C["pred_mid"]]
        e = np.minimum(np.maximum((xf - mid) / np.maximum(st[:, _C["pred_width"]], 1e-9), -s.res_clip), s.res_clip)
        if fresh:
            e[first] = 0.0
        ring = state["det_ring"].reshape(n, -1)
        # The ring has its own write position: float32 counts stop at 2**24 events, positions wrap.
        pos = st[:, _C["ring_pos"]].astype(np.int64)
        past = ring[rows[:, None], (pos[:, None] - self.lags[None, :]) % s.ring]  # unwritten slots hold 0
        # Which lag repeats the residual: its lagged correlation so far, taken before this
        # event and only once two seasons have been seen.
        xc, e2 = st[:, self._xc], st[:, _C["res_e2"]]
        rho = np.where(count[:, None] >= 2 * self.lags[None, :], xc / np.maximum(e2, 1e-9)[:, None], -np.inf)
        best = np.argmax(rho, axis=1)
        r = np.abs(np.where(rho[rows, best] > s.res_rho, e - past[rows, best], e))
        ring[rows, pos] = e
        st[:, _C["ring_pos"]] = (pos + 1) % s.ring
        st[:, self._xc] = xc + s.res_alpha * (e[:, None] * past - xc)
        st[:, _C["res_e2"]] = e2 + s.res_alpha * (e * e - e2)

        # disp: step size against the key's scale; res and disp share the tail counts.
        prev = st[:, _C["disp_prev"]]
        step = np.abs(xf - prev)
        if fresh:
            step[first] = 0.0
        fresh_avg = np.empty((n, 2))
        fresh_avg[:, 0], fresh_avg[:, 1] = np.log(r + _LOG_FLOOR), step
        avg[:, :2] += rate[:, :2] * (fresh_avg - avg[:, :2])
        signals = np.empty((n, 2))
        signals[:, 0], signals[:, 1] = avg[:, 0], np.log(avg[:, 1] / scale + _DISP_FLOOR)
        hist = state["det_tails"].reshape(n, 2, -1)
        nines = self.tails.nines_then_count(hist, st[:, _TAIL].reshape(n, 4, 2), signals)  # views, updated
        parts[:, 0:3:2] = nines if grown else np.where(ready[:, None], nines, 0.0)  # columns res and disp

        self._range(xf, first, fresh, ready, st, parts)
        self._stuck(step == 0.0, first, fresh, ready, count, st, parts)
        st[:, _C["disp_prev"]] = xf

        # ctx and nnctx: novelty of (previous level -> level) and (predicted level -> level).
        z = np.empty((n, 2))
        z[:, 0], z[:, 1] = xf, mid
        if fresh:
            z[first, 1] = mean[first]
        known = norm_count if d == 1 else np.repeat(norm_count, d)
        z = np.where(known[:, None] >= 2, (z - mean[:, None]) / scale[:, None], 0.0)
        # floor(z / width) clipped to +-levels, shifted to 0..2*levels: clip first, then truncate.
        lv = np.minimum(np.maximum(z * (1.0 / s.ctx_width) + s.ctx_levels, 0.0), 2.0 * s.ctx_levels).astype(np.int64)
        level = lv[:, 0].copy()
        lv[:, 0] = st[:, _C["ctx_prev"]]
        slots = lv * self.levels + level[:, None]
        table = state["det_ctx"].reshape(n, 2, -1)
        seen = table[rows[:, None], self._pair, slots]
        cn = st[:, _C["ctx_n"]]
        novel = -np.log10((seen + s.ctx_prior) / (cn + s.ctx_prior)[:, None])
        if not grown:
            novel[cn < s.warmup] = 0.0
        table[rows[:, None], self._pair, slots] = seen + 1
        full = seen >= _SATURATED - 1
        if full.any():
            # A transition seen 65535 times: halve the key's counts (ratios stay, the oldest
            # half of the history weighs half), so uint16 never wraps and nothing saturates.
            c = np.flatnonzero(full.any(axis=1))
            table[c] //= 2
            st[c, _C["ctx_n"]] = st[c, _C["ctx_n"]] / 2.0
        avg[:, 2:4] += rate[:, 2:4] * (novel - avg[:, 2:4])
        # A key whose transitions are often new (noisy, wide-ranging) earns less for one more.
        parts[:, 3:5] = np.maximum(avg[:, 2:4] - s.ctx_sub * avg[:, 4:6], 0.0)
        if not grown:
            parts[~ready, 3:5] = 0.0
        avg[:, 4:6] += rate[:, 4:6] * (avg[:, 2:4] - avg[:, 4:6])
        st[:, _C["ctx_prev"]] = level
        st[:, _C["ctx_n"]] = cn + 1.0

        young = count < s.mature
        if s.mature > s.warmup and young.any():
            # A young key's norms rest on few events: its evidence counts in full only once it
            # has seen ``mature`` events (NAB hides this stretch in its probation period; a
            # live stream does not).
            parts *= np.minimum(np.maximum((count - s.warmup) / (s.mature - s.warmup), 0.0), 1.0)[:, None]
        st[:, 0] = count + 1.0
        st[:, _C["pred_mid"]] = next_mid.reshape(n)
        st[:, _C["pred_width"]] = next_width.reshape(n)
        new = {k: state[k] for k in ("det_state", "det_ring", "det_tails", "det_ctx")}
        return parts.reshape(b, d, len(CHANNELS)), new

    def _range(self, xf, first, fresh, ready, st, parts) -> None:
        """sp: beyond the range seen so far."""
        s = self.settings
        lo, hi = st[:, _C["sp_lo"]], st[:, _C["sp_hi"]]
        if fresh:
            lo[first], hi[first] = xf[first], xf[first]
        span = hi - lo
        beyond = np.maximum(xf - hi, lo - xf) / np.maximum(span, 1e-9) - s.sp_tol
        out = beyond > 0
        if out.any():
            parts[:, 1] = np.where(ready & (span > 0) & out, s.sp_base + s.sp_gain * beyond, 0.0)
        np.minimum(lo, xf, out=lo)
        np.maximum(hi, xf, out=hi)

    def _stuck(self, same, first, fresh, ready, count, st, parts) -> None:
        """stuck: the value has repeated exactly for longer than it ever did before.

        Only finished runs are learnt, so a sensor that stays stuck never teaches itself; a
        key that has hardly ever moved is constant, not stuck; the evidence is capped so that
        one outage raises about one alert.
        """
        s = self.settings
        if fresh:
            same = same & ~first
        ended = st[:, _C["stuck_run"]].copy()
        run = np.where(same, ended + 1.0, 0.0)
        longest = st[:, _C["stuck_max"]]
        over = run > longest
        if over.any():
            ratio = np.minimum(np.maximum((run + 1.0) / (longest + 1.0), 1.0), s.stuck_cap)
            lively = st[:, _C["stuck_moves"]] >= s.stuck_moves
            parts[:, 5] = np.where(ready & lively & over, s.stuck_gain * np.log2(ratio), 0.0)
        st[:, _C["stuck_moves"]] += (~same & ~first) if fresh else ~same
        finished = ~same & (ended > 0)
        if finished.any():
            # A finished run that was an outage (four times the longest, on a grown-up key)
            # teaches at most a doubling, so one outage does not hide the next.
            outage = (ended + 1.0 >= 4.0 * (longest + 1.0)) & (count >= s.mature)
            learnt = np.where(outage, np.minimum(ended, 2.0 * longest + 1.0), ended)
            st[:, _C["stuck_max"]] = np.where(finished, np.maximum(longest, learnt), longest)
        st[:, _C["stuck_run"]] = run
