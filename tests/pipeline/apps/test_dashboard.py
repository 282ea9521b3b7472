"""Dashboard queries evaluated locally, the PNG snapshot, and the `rnnstream dashboard` command."""

from __future__ import annotations

import argparse
import json
import threading

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from rnnstream.cli import dashboard as commands_dashboard
from rnnstream.apps.dashboard.snapshot import evaluate_panels, panels_with_data, render_snapshot, sample_metrics
from rnnstream.apps.dashboard.grafana import grafana_json
from rnnstream.apps.dashboard.local import Scrapes, counter_increase, evaluate, histogram_quantile
from rnnstream.apps.dashboard.spec import PANELS, Query, snapshot_panels
from rnnstream.errors import ConfigError, RnnstreamError
from rnnstream.runtime.httpserver import MetricsServer
from rnnstream.metrics import get_metrics


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=3, max_size=30), st.integers(1, 28))
def test_counter_increase_survives_a_reset(increments, cut):
    values = np.cumsum(increments)
    cut = min(cut, len(values) - 1)
    restarted = np.concatenate([values[:cut], values[cut:] - values[cut - 1]])  # reset to 0 then count on
    assume(restarted[cut] < restarted[cut - 1])  # a reset that does not drop is invisible, as in Prometheus
    inc = counter_increase(restarted)
    assert inc[-1] == pytest.approx(values[-1] - values[0], rel=1e-9, abs=1e-6)


def test_histogram_quantile_matches_prometheus():
    # The histogram of deploy/prometheus/tests "slow sink": Prometheus reports p99 = 475ms.
    les = np.array([0.1, 0.25, 0.5, np.inf])
    counts = np.array([[90.0], [90.0], [100.0], [100.0]])
    assert histogram_quantile(0.99, les, counts)[0] == pytest.approx(0.475)
    # Rank in the +Inf bucket -> the largest finite bound; no observations -> NaN.
    assert histogram_quantile(0.99, les, np.array([[10.0], [10.0], [10.0], [20.0]]))[0] == 0.5
    assert np.isnan(histogram_quantile(0.5, les, np.zeros((4, 1)))[0])


@given(st.lists(st.integers(0, 50), min_size=3, max_size=12), st.floats(0.01, 0.99))
def test_histogram_quantile_lies_in_the_ranked_bucket(per_bucket, q):
    les = np.append(np.cumsum(np.arange(1, len(per_bucket))) * 0.01, np.inf)
    cum = np.cumsum(per_bucket).astype(float)[:, None]
    got = histogram_quantile(q, les, cum)[0]
    if cum[-1, 0] == 0:
        assert np.isnan(got)
        return
    b = int(np.argmax(cum[:, 0] >= q * cum[-1, 0]))
    lo = les[b - 1] if b > 0 else 0.0
    hi = les[b] if np.isfinite(les[b]) else les[-2]
    assert lo - 1e-12 <= got <= hi + 1e-12
    assert histogram_quantile(min(q + 0.005, 0.999), les, cum)[0] >= got - 1e-12  # monotone in q


def scrapes_from(texts):
    s = Scrapes()
    for t, text in texts:
        s.add(t, text)
    return s


def test_rate_gauge_age_ratio_and_quantile():
    s = scrapes_from(
        (t, f'rnnstream_events_in_total{{source="a"}} {100 * t}\n'
            f'rnnstream_events_in_total{{source="b"}} {10 * t}\n'
            f'rnnstream_live_keys{{operator="f"}} {t + 1}\n'
            f"rnnstream_last_commit_timestamp_seconds {t - 3}\n"
            f'rnnstream_batch_size_sum{{operator="f"}} {64 * t}\n'
            f'rnnstream_batch_size_count{{operator="f"}} {2 * t}\n'
            f'rnnstream_inference_seconds_bucket{{operator="f",le="0.001"}} {t}\n'
            f'rnnstream_inference_seconds_bucket{{operator="f",le="0.01"}} {3 * t}\n'
            f'rnnstream_inference_seconds_bucket{{operator="f",le="+Inf"}} {3 * t}\n')
        for t in range(10, 16)
    )
    rate = evaluate(Query("rate", "rnnstream_events_in_total", ("source",)), s, 2.0)
    assert [(lab["source"], v[-1]) for lab, _, v in rate] == [("a", 100.0), ("b", 10.0)]
    (total,) = evaluate(Query("rate", "rnnstream_events_in_total", ()), s, 2.0)
    assert total[2][-1] == 110.0 and np.isnan(total[2][0])  # no window before the first scrape
    (keys,) = evaluate(Query("gauge", "rnnstream_live_keys", ("operator",)), s, 2.0)
    assert keys[2].tolist() == [11, 12, 13, 14, 15, 16]
    (age,) = evaluate(Query("age", "rnnstream_last_commit_timestamp_seconds", ()), s, 2.0)
    assert age[2].tolist() == [3.0] * 6
    (mean,) = evaluate(Query("ratio", "rnnstream_batch_size_sum", ("operator",), denom="rnnstream_batch_size_count"),
                       s, 2.0)
    assert mean[2][-1] == 32.0
    (p50,) = evaluate(Query("quantile", "rnnstream_inference_seconds", ("operator",), q=0.5), s, 2.0)
    # rank 1.5 of 3 per second: halfway through the (0.001, 0.01] bucket by count -> 0.001 + 0.009 * 0.25
    assert p50[2][-1] == pytest.approx(0.00325)


def test_bad_exposition_text_is_an_error():
    with pytest.raises(RnnstreamError):
        Scrapes().add(0.0, "this is { not metrics\n")
    s = scrapes_from([(1.0, "")])
    with pytest.raises(RnnstreamError):
        s.add(0.5, "")


def test_queries_reject_nonsense():
    with pytest.raises(RnnstreamError):
        Query("median", "x")
    with pytest.raises(RnnstreamError):
        Query("quantile", "x", q=1.5)
    with pytest.raises(RnnstreamError):
        Query("rate", "x", denom="y")


def test_every_panel_names_a_grafana_unit_and_main_panels_exist():
    assert len(PANELS) >= 25 and 6 <= len(snapshot_panels()) <= 12
    assert {p.unit for p in PANELS} <= {"ops", "s", "short", "bytes", "Bps", "percentunit"}
    assert {p.kind for p in PANELS} <= {"timeseries", "stat", "table"}


@pytest.fixture
def live_registry():
    """A registry served on a free port, with counters advancing as a daemon's would."""
    m = get_metrics(CollectorRegistry())
    server = MetricsServer(m.registry, port=0).start()
    stop = threading.Event()

    def tick():
        while not stop.wait(0.05):
            m.events_in.labels("sensors").inc(50)
            m.events_out.labels("out").inc(50)
            m.live_keys.labels("forecast").set(7)
            m.batch_size.labels("forecast").observe(25)
            m.inference_seconds.labels("forecast").observe(0.002)
            m.e2e_latency.labels("out").observe(0.02)

    threading.Thread(target=tick, daemon=True).start()
    yield m, f"http://127.0.0.1:{server.port}/metrics"
    stop.set()
    server.stop()


def test_sampled_metrics_give_the_main_panels(live_registry, tmp_path):
    m, url = live_registry
    scrapes = sample_metrics(url, seconds=1.0, interval_s=0.25)
    assert 4 <= len(scrapes) <= 7
    data = evaluate_panels(scrapes, rate_s=0.5)
    titles = {p.title for p in panels_with_data(data)}
    assert {"Events in and out per second", "Live keys", "Keys per ONNX Runtime call (mean)"} <= titles
    assert "Consumer lag per partition" not in titles
    (rate,) = [v for lab, _, v in data["Events in and out per second"] if lab == "in sensors"]
    assert 200 < np.nanmax(rate) < 3000  # ~1000/s, loosely: the ticker thread shares the CPU
    png = render_snapshot(data, tmp_path / "s.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def parser():
    p = argparse.ArgumentParser()
    commands_dashboard.register(p.add_subparsers())
    return p


def test_command_snapshot_from_metrics(live_registry, tmp_path, capsys):
    _, url = live_registry
    out = tmp_path / "dash.png"
    args = parser().parse_args(["dashboard", "--snapshot", str(out), "--metrics", url, "--window", "1",
                                "--interval", "0.25", "--rate-window", "0.5"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "Live keys: 1 series" in text and "Consumer lag per partition: no data" in text
    assert out.stat().st_size > 20_000


def test_command_writes_the_grafana_json(tmp_path, capsys):
    args = parser().parse_args(["dashboard", "--grafana-json", "-"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(grafana_json())
    args = parser().parse_args(["dashboard", "--snapshot", str(tmp_path / "x.png"), "--window", "0"])
    with pytest.raises(ConfigError, match="--window"):
        args.func(args)


def test_unreachable_source_is_a_clear_error(tmp_path):
    from rnnstream.apps.dashboard.snapshot import fetch_prometheus

    with pytest.raises(RnnstreamError, match="cannot fetch"):
        fetch_prometheus("http://127.0.0.1:9", window_s=10)
    with pytest.raises(RnnstreamError, match="cannot fetch"):
        sample_metrics("http://127.0.0.1:9/metrics", seconds=1, interval_s=0.5)
    assert generate_latest(CollectorRegistry()) == b""
