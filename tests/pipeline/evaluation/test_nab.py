"""NAB scoring: hand-computed cases, a loop-by-loop reference of the rules, the dev set."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.errors import ConfigError
from rnnstream.evaluation import nab, nab_io
from rnnstream.evaluation.nab import CostProfile, SeriesResult, score_at_threshold, score_corpus

NAB_DEV = Path("/work/shared/nab-dev")
BASE = np.datetime64("2020-01-01T00:00")
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def f(x: float) -> float:
    """NAB's scaled sigmoid, written via the identity 2/(1+e^y) - 1 = -tanh(y/2)."""
    return -1.0 if x > 3 else -math.tanh(2.5 * x)


def make(name: str, n: int, hits: dict[int, float], windows_rows: list[tuple[int, int]]):
    ts = BASE + np.arange(n).astype("timedelta64[m]")
    scores = np.zeros(n)
    for row, value in hits.items():
        scores[row] = value
    return SeriesResult(name, ts, np.arange(n, dtype=float), scores), [(ts[a], ts[b]) for a, b in windows_rows]


def corpus(*files):
    return [r for r, _ in files], {r.name: w for r, w in files}


# ---------------------------------------------------------------- hand-computed cases
# Every file below has 100 rows, so its probation period is floor(0.15 * 100) = 15 rows.


def test_detection_at_window_start_earns_full_tp_weight():
    series, windows = corpus(make("a/x.csv", 100, {50: 1.0}, [(50, 59)]))
    out = score_corpus(series, windows)
    assert out["raw"]["standard"] == pytest.approx(1.0)
    assert out["thresholds"]["standard"] == 1.0
    for profile in PROFILES:
        assert out[profile] == pytest.approx(100.0)
    assert out["files"] == 1 and out["windows"] == 1


def test_detection_at_window_right_edge_earns_little():
    series, windows = corpus(make("a/x.csv", 100, {59: 1.0}, [(50, 59)]))
    out = score_corpus(series, windows)
    # Row R of a width-10 window: f(-1/10) / f(-1) = tanh(0.25) / tanh(2.5) ~ 0.2482.
    expected = math.tanh(0.25) / math.tanh(2.5)
    assert expected == pytest.approx(0.2482, abs=1e-4)
    assert out["raw"]["standard"] == pytest.approx(expected)
    assert out["standard"] == pytest.approx(100 * (expected + 1) / 2)


def test_false_positive_far_from_any_window_costs_fp_weight():
    series, windows = corpus(
        make("a/hit.csv", 100, {50: 1.0}, [(50, 59)]),
        make("a/quiet.csv", 100, {50: 1.0}, []),
    )
    out = score_corpus(series, windows)
    assert out["raw"]["standard"] == pytest.approx(1 - 0.11)
    assert out["raw"]["reward_low_FP_rate"] == pytest.approx(1 - 0.22)
    assert out["standard"] == pytest.approx(94.5)
    assert out["reward_low_FP_rate"] == pytest.approx(89.0)
    assert out["reward_low_FN_rate"] == pytest.approx(100 * (0.89 + 2) / 3)
    assert out["counts"]["standard"] == {"tp": 1, "fp": 1, "fn": 0}


def test_false_positive_after_a_window_is_weighted_by_distance():
    far, windows_far = corpus(make("a/x.csv", 100, {20: 1.0, 80: 1.0}, [(20, 29)]))
    # (80 - 29) / (10 - 1) > 3, so the full -fpW applies.
    assert score_corpus(far, windows_far)["raw"]["standard"] == pytest.approx(1 - 0.11)
    near, windows_near = corpus(make("a/x.csv", 100, {20: 1.0, 31: 1.0}, [(20, 29)]))
    expected = 1 + 0.11 * f(2 / 9)
    assert 0.11 * f(2 / 9) == pytest.approx(-0.0555, abs=1e-4)
    assert score_corpus(near, windows_near)["raw"]["standard"] == pytest.approx(expected)


def test_missed_window_costs_fn_weight():
    series, windows = corpus(make("a/x.csv", 100, {30: 1.0}, [(30, 39), (60, 69)]))
    out = score_corpus(series, windows)
    assert out["raw"]["standard"] == pytest.approx(1 - 1)
    assert out["raw"]["reward_low_FN_rate"] == pytest.approx(1 - 2)
    assert out["standard"] == pytest.approx(50.0)  # (0 + 2) / (2 + 2)
    assert out["reward_low_FN_rate"] == pytest.approx(50.0)  # (-1 + 4) / (2 + 4)
    assert out["counts"]["standard"] == {"tp": 1, "fp": 0, "fn": 1}


def test_only_the_earliest_detection_in_a_window_counts():
    series, windows = corpus(make("a/x.csv", 100, {50: 1.0, 52: 1.0, 55: 1.0}, [(50, 59)]))
    assert score_corpus(series, windows)["raw"]["standard"] == pytest.approx(1.0)


def test_threshold_ties_go_to_the_highest_threshold():
    # 0.9 detects the window at its start; lowering to 0.5 adds a later, ignored detection.
    series, windows = corpus(make("a/x.csv", 100, {50: 0.9, 55: 0.5}, [(50, 59)]))
    assert score_corpus(series, windows)["thresholds"]["standard"] == 0.9


def test_lower_threshold_wins_when_it_detects_earlier():
    series, windows = corpus(make("a/x.csv", 100, {50: 0.5, 55: 0.9}, [(50, 59)]))
    out = score_corpus(series, windows)
    assert out["thresholds"]["standard"] == 0.5
    assert out["raw"]["standard"] == pytest.approx(1.0)


def test_probation_rows_are_not_scored():
    series, windows = corpus(
        make("a/hit.csv", 100, {50: 1.0}, [(50, 59)]),
        make("a/quiet.csv", 100, {5: 1.0, 14: 1.0}, []),
    )
    assert score_corpus(series, windows)["raw"]["standard"] == pytest.approx(1.0)
    # A window reaching into probation: the row-12 hit is ignored, the row-15 hit counts.
    partial, windows_p = corpus(make("a/x.csv", 100, {12: 1.0, 15: 0.8}, [(10, 30)]))
    out = score_corpus(partial, windows_p)
    assert out["thresholds"]["standard"] == 0.8
    assert out["raw"]["standard"] == pytest.approx(f(-16 / 21) / f(-1))


def test_each_profile_gets_its_own_threshold():
    # Twelve false alarms at 0.8 come with the only detection (0.7, at a window start):
    # worth 1 - 12 fpW against a miss of -fnW.
    hits = {20 + i: 0.8 for i in range(12)} | {50: 0.7}
    series, windows = corpus(make("a/x.csv", 100, hits, [(50, 59)]))
    out = score_corpus(series, windows)
    assert out["thresholds"]["standard"] == 0.7  # 1 - 1.32 = -0.32 > -1
    assert out["thresholds"]["reward_low_FP_rate"] == 1.1  # 1 - 2.64 < -1
    assert out["reward_low_FP_rate"] == pytest.approx(0.0)
    assert out["thresholds"]["reward_low_FN_rate"] == 0.7
    assert out["raw"]["reward_low_FN_rate"] == pytest.approx(1 - 1.32)
    assert out["standard"] == pytest.approx(100 * (-0.32 + 1) / 2)


def test_null_and_perfect_detectors_normalise_to_0_and_100():
    rows = [(30, 39), (60, 69)]
    null, windows = corpus(make("a/x.csv", 100, {i: 0.5 for i in range(100)}, rows))
    perfect, _ = corpus(make("a/x.csv", 100, {30: 1.0, 60: 1.0}, rows))
    for profile in PROFILES:
        assert score_corpus(null, windows)[profile] == pytest.approx(0.0)
        assert score_corpus(perfect, windows)[profile] == pytest.approx(100.0)


def test_custom_profiles_from_nab_json_structure():
    series, windows = corpus(
        make("a/hit.csv", 100, {50: 1.0}, [(50, 59)]), make("a/quiet.csv", 100, {50: 1.0}, [])
    )
    profiles = {"strict": {"CostMatrix": {"tpWeight": 2.0, "fnWeight": 1.0, "fpWeight": 1.0, "tnWeight": 1}}}
    out = score_corpus(series, windows, profiles)
    assert out["raw"]["strict"] == pytest.approx(2 - 1)
    assert out["strict"] == pytest.approx(100 * (1 + 1) / 3)
    assert "standard" not in out


def test_probation_rows_formula():
    assert nab.probation_rows(100) == 15
    assert nab.probation_rows(4032) == 604
    assert nab.probation_rows(4999) == 749
    assert nab.probation_rows(5000) == 750
    assert nab.probation_rows(22695) == 750


def test_invalid_inputs_raise_config_error():
    ts = BASE + np.arange(10).astype("timedelta64[m]")
    with pytest.raises(ConfigError):
        SeriesResult("a.csv", ts, None, np.full(10, 1.5))
    with pytest.raises(ConfigError):
        SeriesResult("a.csv", ts, None, np.full(9, 0.5))
    with pytest.raises(ConfigError):
        SeriesResult("a.csv", ts, None, np.full(10, np.nan))
    with pytest.raises(ConfigError, match="overlap"):
        nab.window_bounds(ts, [(ts[1], ts[4]), (ts[3], ts[6])])
    with pytest.raises(ConfigError, match="no row"):
        nab.window_bounds(ts, [(BASE - np.timedelta64(60, "m"), BASE - np.timedelta64(30, "m"))])
    series, windows = corpus(make("a/x.csv", 100, {}, []))
    with pytest.raises(ConfigError, match="no anomaly windows"):
        score_corpus(series, windows)
    with pytest.raises(ConfigError, match="no windows entry"):
        score_corpus(series, {})
    with pytest.raises(ConfigError, match="without results"):
        score_corpus(series, {**windows, "b/y.csv": []})
    with pytest.raises(ConfigError):
        CostProfile(tp=1.0, fn=-1.0, fp=0.1)


# ---------------------------------------------------------------- reference implementation


def reference_corpus(files, profile: CostProfile):
    """The README rules, row by row: list of (theta, raw) for every candidate, high to low."""
    candidates = {1.1}
    for scores, _ in files:
        candidates |= set(scores[nab.probation_rows(len(scores)) :].tolist())
    table = []
    for theta in sorted(candidates, reverse=True):
        total = 0.0
        for scores, bounds in files:
            n, start = len(scores), nab.probation_rows(len(scores))
            for left, right in bounds:
                width = right - left + 1
                weights = [
                    profile.tp * f(-(right - i + 1) / width) / f(-1)
                    for i in range(max(left, start), right + 1)
                    if scores[i] >= theta
                ]
                total += max(weights) if weights else -profile.fn
            for i in range(start, n):
                if scores[i] < theta or any(a <= i <= b for a, b in bounds):
                    continue
                before = [(a, b) for a, b in bounds if b < i]
                if not before:
                    total -= profile.fp
                else:
                    a, b = before[-1]
                    x = (i - b) / (b - a) if b > a else math.inf
                    total += profile.fp * f(x)
        table.append((theta, total))
    return table


@st.composite
def small_corpus(draw):
    files = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(20, 70))
        cuts = sorted(draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=6, unique=True)))
        bounds = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
        levels = draw(st.sampled_from([(0.0, 0.5, 1.0), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]))
        scores = np.array(draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n)))
        files.append((scores, bounds))
    if not any(b for _, b in files):
        files[0] = (files[0][0], [(len(files[0][0]) - 5, len(files[0][0]) - 3)])
    return files


@settings(max_examples=60, deadline=None)
@given(small_corpus())
def test_sweep_matches_row_by_row_reference(files):
    series, windows = [], {}
    for k, (scores, bounds) in enumerate(files):
        ts = BASE + np.arange(len(scores)).astype("timedelta64[m]")
        series.append(SeriesResult(f"c/{k}.csv", ts, None, scores))
        windows[f"c/{k}.csv"] = [(ts[a], ts[b]) for a, b in bounds]
    out = score_corpus(series, windows)
    for name, profile in nab.NAB_PROFILES.items():
        table = reference_corpus(files, profile)
        best = max(total for _, total in table)
        theta = out["thresholds"][name]
        assert out["raw"][name] == pytest.approx(best, abs=1e-9)
        # The chosen threshold is the highest one that reaches the best total.
        assert theta == max(t for t, total in table if total >= best - 1e-9)
        at = score_at_threshold(series, windows, profile, theta)
        assert at.raw == pytest.approx(best, abs=1e-9)
        assert (at.tp, at.fp, at.fn) == tuple(out["counts"][name][k] for k in ("tp", "fp", "fn"))


# ---------------------------------------------------------------- NAB development subset

dev_only = pytest.mark.skipif(not NAB_DEV.is_dir(), reason="NAB dev subset not present at /work/shared/nab-dev")


@pytest.fixture(scope="module")
def dev_set():
    names = nab_io.list_data_files(NAB_DEV / "data")
    windows = nab_io.read_windows(NAB_DEV / "combined_windows.json")
    data = {n: nab_io.read_data_csv(NAB_DEV / "data" / n) for n in names}
    return names, windows, data


def _dev_results(dev_set, make_scores):
    names, windows, data = dev_set
    return [SeriesResult(n, data[n][0], data[n][1], make_scores(n, data[n][0])) for n in names], windows


@dev_only
def test_dev_set_perfect_null_and_random(dev_set):
    names, windows, _ = dev_set
    profiles = nab_io.read_profiles(NAB_DEV / "profiles.json")
    assert profiles == nab.NAB_PROFILES

    def perfect(name, ts):
        scores = np.zeros(ts.size)
        scores[nab.window_bounds(ts, windows[name])[:, 0]] = 1.0
        return scores

    rng = np.random.default_rng(7)
    runs = {
        "perfect": _dev_results(dev_set, perfect),
        "null": _dev_results(dev_set, lambda n, ts: np.full(ts.size, 0.5)),
        "random": _dev_results(dev_set, lambda n, ts: rng.random(ts.size)),
    }
    scored = {k: score_corpus(series, w, profiles) for k, (series, w) in runs.items()}
    assert scored["perfect"]["files"] == len(names) == 42
    assert scored["perfect"]["windows"] == sum(len(v) for v in windows.values()) == 69
    for profile in PROFILES:
        assert scored["perfect"][profile] == pytest.approx(100.0)
        assert scored["null"][profile] == pytest.approx(0.0)
        assert scored["random"][profile] < 40.0


@dev_only
def test_dev_set_results_layout_round_trip(dev_set, tmp_path):
    rng = np.random.default_rng(3)
    series, windows = _dev_results(dev_set, lambda n, ts: rng.random(ts.size))
    series, windows = series[:6], {s.name: windows[s.name] for s in series[:6]}
    paths = nab_io.write_results(tmp_path, "rand", series, windows)
    assert paths[0] == tmp_path / "rand" / Path(series[0].name).parent / f"rand_{Path(series[0].name).name}"
    back = nab_io.read_results(tmp_path, "rand")
    assert sorted(s.name for s in back) == sorted(s.name for s in series)
    assert score_corpus(back, windows) == score_corpus(series, windows)
    header, *rows = paths[0].read_text().splitlines()
    assert header == "timestamp,value,anomaly_score,label"
    labels = np.array([int(r.rsplit(",", 1)[1]) for r in rows])
    bounds = nab.window_bounds(series[0].timestamps, windows[series[0].name])
    assert labels.sum() == int((bounds[:, 1] - bounds[:, 0] + 1).sum())


def test_io_round_trip_and_errors(tmp_path):
    ts = BASE + np.arange(5).astype("timedelta64[m]")
    path = nab_io.write_data_csv(tmp_path / "d" / "cat" / "s.csv", ts, np.array([1.5, 2, 3, 4, 5.25]))
    back_ts, back_values = nab_io.read_data_csv(path)
    assert (back_ts == ts).all() and back_values.tolist() == [1.5, 2, 3, 4, 5.25]
    labels = nab_io.write_windows_json(tmp_path / "w.json", {"cat/s.csv": [(ts[1], ts[2])]})
    assert nab_io.read_windows(labels) == {"cat/s.csv": [("2020-01-01 00:01:00.000000", "2020-01-01 00:02:00.000000")]}
    bad = tmp_path / "bad.csv"
    bad.write_text("time,val\n2020-01-01 00:00:00,1\n")
    with pytest.raises(ConfigError, match="missing column"):
        nab_io.read_data_csv(bad)
    with pytest.raises(ConfigError):
        nab_io.read_data_csv(tmp_path / "absent.csv")
    with pytest.raises(ConfigError):
        nab_io.results_path(tmp_path, "a/b", "cat/s.csv")
