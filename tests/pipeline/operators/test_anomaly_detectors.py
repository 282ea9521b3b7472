"""The anomaly detector's parts: settings, tail ranks, each evidence channel, the hold-off, and
the operator around them (all per-key state in the spec, any value width)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.engine.features import norm_step
from rnnstream.errors import ModelError
from rnnstream.operators.anomaly_detectors import CHANNELS, EvidenceChannels
from rnnstream.operators.anomaly_fusion import refractory, to_score
from rnnstream.operators.anomaly_settings import DetectorSettings
from rnnstream.operators.anomaly_tail import StackedTails

RES, SP, DISP, CTX, NNCTX, STUCK = range(len(CHANNELS))


def run_channels(x: np.ndarray, settings: DetectorSettings, pred: np.ndarray | None = None) -> np.ndarray:
    """Evidence ``[T, K, channel]`` for series ``x`` ``[T, K]`` (one key per column).

    ``pred[t]`` is the prediction made at event t for event t+1 (default: the value itself,
    a naive forecaster), with a width of 1.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    pred = x if pred is None else np.asarray(pred, dtype=np.float64).reshape(x.shape)
    t_len, k = x.shape
    ch = EvidenceChannels(settings, dim=1)
    state = {e.name: np.full((k, *e.shape), e.fill, e.dtype) for e in ch.extras}
    count, mean, var = np.zeros(k), np.zeros((k, 1)), np.zeros((k, 1))
    out = np.zeros((t_len, k, len(CHANNELS)))
    for t in range(t_len):
        xt = x[t][:, None]
        parts, state = ch.step(xt, pred[t][:, None], np.ones((k, 1)), mean, var, count, state)
        _, count, mean, var = norm_step(xt, count, mean, var, 0.01)
        out[t] = parts[:, 0, :]
    return out


def noise(t_len: int, seed: int = 0, keys: int = 1) -> np.ndarray:
    return 10.0 + np.random.default_rng(seed).normal(0.0, 1.0, (t_len, keys))


def test_settings_round_trip_validate_and_honour_a_legacy_section():
    s = DetectorSettings(hold=7, res_lags=(3, 9))
    assert DetectorSettings.from_mapping(s.to_dict()) == s
    assert DetectorSettings.from_features({"likelihood": {"warmup": 9, "threshold": 0.9997}}).warmup == 9
    assert DetectorSettings.from_features({"likelihood": {"warmup": 9}, "detector": {"warmup": 4}}).warmup == 4
    for bad in ({"w_ctx": -1}, {"threshold": 1.5}, {"res_lags": []}, {"nope": 1}, {"hold": "x"}, {"res_lo": 9}):
        with pytest.raises(ModelError):
            DetectorSettings.from_mapping(bad)


def test_tails_rank_rarer_values_higher_and_forget_with_decay():
    tails = StackedTails([(-5.0, 5.0, 20, 0.0, 1.0, False), (-5.0, 5.0, 20, 0.0, 1.0, True),
                          (-5.0, 5.0, 20, 0.05, 1.0, True)])
    surv, meta = np.zeros((1, 3, tails.size), np.float32), np.zeros((1, 4, 3))

    def rank(v: float) -> np.ndarray:  # nines of v for (upper, two-sided, two-sided decaying)
        return tails.nines_then_count(surv.copy(), meta.copy(), np.full((1, 3), v))[0]

    def count(v: float) -> None:
        tails.nines_then_count(surv, meta, np.full((1, 3), v))

    for v in np.random.default_rng(1).normal(0.0, 1.0, 400):
        count(v)
    up = [rank(v)[0] for v in (0.0, 1.0, 2.0, 4.0, 8.0)]
    assert np.all(np.diff(up) > 0) and up[0] < 0.5 and up[-1] > up[-2] + 1.0
    two = [rank(v)[1] for v in (-3.0, 0.0, 3.0)]
    assert two[1] < 0.1 and min(two[0], two[2]) > 1.5
    for _ in range(200):  # the decaying counts move to a new normal; the lasting ones remember
        count(3.2)
    assert rank(0.2)[2] > 1.0 > 0.5 > rank(3.2)[2] and rank(0.2)[1] < 0.5
    for _ in range(3000):  # long enough to scale the decaying counts' weights back more than once
        count(0.2)
    assert meta[0, 1, 2] < 1e10 and rank(0.2)[2] < 0.5 and rank(3.2)[2] > 1.0


def test_a_new_range_is_evidence_only_after_warmup_and_only_once_learnt():
    x = noise(600)
    x[50] = 40.0  # during warmup: learnt, never reported
    x[400] = x[500] = 80.0
    sp = run_channels(x, DetectorSettings(warmup=100))[:, 0, SP]
    assert sp[50] == 0.0 and sp[400] > 4.0
    assert sp[500] == 0.0  # the same height again: now inside the known range
    assert np.count_nonzero(sp[100:]) <= 3  # noise alone rarely leaves a settled range


def test_a_daily_jump_the_network_misses_becomes_familiar_and_its_absence_does_not():
    t = np.arange(48 * 30)
    x = np.where(t % 48 < 24, 10.0, 30.0) + np.random.default_rng(2).normal(0.0, 0.3, t.size)
    x[48 * 26 : 48 * 26 + 24] = 30.0  # one day the low half never comes
    settings = DetectorSettings(warmup=50, res_lags=(24, 48))
    res = run_channels(x, settings)[:, 0, RES]
    plain = run_channels(x, settings.replace(res_rho=2.0))[:, 0, RES]  # no lag ever qualifies
    jumps = np.flatnonzero(np.diff(t % 48 < 24)) + 1
    late = jumps[(jumps > 48 * 20) & (jumps < 48 * 26)]
    assert res[late].mean() < plain[late].mean() - 0.3  # the recurring jump is explained
    missing = slice(48 * 26, 48 * 26 + 4)
    assert res[missing].max() > res[late].max() + 1.0 and res[missing].max() > plain[missing].max() + 1.0


def test_transitions_and_predictions_never_seen_are_novel():
    rng = np.random.default_rng(3)
    x = np.where(rng.random(800) < 0.5, 0.0, 3.0) + rng.normal(0.0, 0.05, 800)
    x[700:706] = -9.0  # a level never visited, reached from a familiar one
    parts = run_channels(x, DetectorSettings(warmup=50))[:, 0, :]
    assert parts[700:706, CTX].max() > parts[300:700, CTX].max() + 0.5
    # The network keeps expecting the last value; an outcome it was never wrong towards stands out.
    assert parts[700:706, NNCTX].max() > parts[300:700, NNCTX].max() + 0.5


def test_a_noise_burst_moves_the_step_size_and_a_stuck_sensor_the_stuck_channel():
    x = noise(1200, seed=4, keys=3)
    x[900:1000, 0] = x[899, 0]  # stuck
    x[900:960, 1] += np.random.default_rng(5).normal(0.0, 6.0, 60)  # burst
    x[:, 2] = 7.0  # constant from the start: nothing to be stuck against
    parts = run_channels(x, DetectorSettings(warmup=100, mature=100))
    quiet = parts[200:900].max(axis=0)
    assert parts[900:960, 1, DISP].max() > quiet[1, DISP] + 0.3
    stuck = parts[:, 0, STUCK]
    assert quiet[0, STUCK] == 0.0 and stuck[903] > 2.0 and stuck[990] >= stuck[903]
    assert parts[:, 2, STUCK].max() == 0.0


def test_a_second_outage_is_still_news_and_a_young_key_counts_for_less():
    x = noise(2000, seed=7)
    x[900:1000] = x[899]
    x[1500:1600] = x[1499]
    stuck = run_channels(x, DetectorSettings(warmup=100, mature=100))[:, 0, STUCK]
    assert stuck[1550] > 2.0  # the first outage taught at most a doubling
    y = np.repeat(noise(700, seed=8), 2, axis=1)  # the same key twice: once young, once grown up
    y[300, 0] = y[600, 1] = 60.0
    sp = run_channels(y, DetectorSettings(warmup=100, mature=500))[:, :, SP]
    assert 0.0 < sp[300, 0] < 0.7 * sp[600, 1]  # half way to maturity: about half the evidence


def test_one_incident_raises_one_alert_and_quiet_rows_score_near_zero():
    s = DetectorSettings(hold=20, scale=4.0)
    f = np.zeros(100)
    f[30:45] = 9.0  # one incident, many loud rows
    f[46] = 30.0  # much louder inside the hold: a new alert
    f[80] = 9.0  # after the hold: a new alert
    left, level, alerts, scores = np.zeros(1), np.zeros(1), [], []
    for v in f:
        score, alert, left, level = refractory(np.array([v]), left, level, s)
        alerts.append(bool(alert[0]))
        scores.append(float(score[0]))
    assert np.flatnonzero(alerts).tolist() == [30, 46, 80]
    assert max(scores[31:46]) == 0.0 and to_score(np.array([1.0]), s)[0] < 0.02
    assert to_score(np.array([4.0]), s)[0] == pytest.approx(0.5)


@pytest.mark.parametrize("dim", [1, 2])
def test_the_operator_keeps_every_key_in_its_state_and_takes_any_value_width(model_factory, dim):
    from rnnstream.engine.session import load_session
    from rnnstream.evaluation.anomaly_run import stream_operator
    from rnnstream.operators.anomaly import AnomalyOperator

    feats = {"value_dim": dim, "horizon": 1, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01,
             "detector": {"warmup": 20, "hold": 10}}
    _, path = model_factory(cell="lstm", input_size=dim, hidden=8, output_size=3 * dim, task="anomaly", features=feats)
    op = AnomalyOperator(load_session(path, provider="cpu"), threshold=0.4)
    assert op.settings.warmup == 20 and op.settings.hold == 10 and op.threshold == 0.4
    assert {"det_state", "det_ring", "det_tails", "det_ctx"} <= {e.name for e in op.spec.extras}
    rng = np.random.default_rng(6)
    series = [rng.normal(size=(n, dim)).cumsum(axis=0) for n in (120, 90)]
    series[0][100] += 60.0
    outs = stream_operator(op, series, steps_per_batch=7)
    again = stream_operator(op, series, steps_per_batch=120)  # same operator, fresh store: nothing carried over
    for got, rerun, s in zip(outs, again, series):
        assert got["score"].shape == (len(s),) and np.all((got["score"] >= 0) & (got["score"] < 1))
        np.testing.assert_allclose(got["score"], rerun["score"], atol=1e-9)
    assert outs[0]["alert"][100] and not outs[0]["alert"][:20].any()
