"""(c) The broker becomes unreachable for 20 s mid-stream (a loopback proxy in front of it is
cut; the broker itself keeps running, since Tansu here keeps its data in memory). The daemon
recovers by itself, never restarts, and loses or repeats no state update."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "flush_timeout_s,interval_s", [(60.0, 0.5), (2.0, 8.0)], ids=["clients-ride-it-out", "commit-fails-and-rewinds"]
)
def test_broker_unreachable_for_20s_daemon_recovers_without_loss(tansu_behind_proxy, kit, tmp_path,
                                                                 small_forecaster, flush_timeout_s, interval_s):
    broker, proxy = tansu_behind_proxy
    rng = random.Random(8)
    topic, out, dead, group = kit.unique("c-in"), kit.unique("c-out"), kit.unique("c-dead"), kit.unique("c-g")
    tool = kit.KafkaTool(broker.bootstrap)
    tool.create((topic, 3), (out, 3), (dead, 1))
    keys = [f"valve-{i:02d}" for i in range(24)]
    events = [(k, float(t), round(rng.gauss(0, 1), 4)) for t in range(120) for k in keys]
    first = len(events) // 3

    def feed(lo, hi, pace):
        for i in range(lo, hi):
            k, t, v = events[i]
            tool.send(topic, k.encode(), json.dumps({"ts": t, "value": v}).encode())
            if pace and i % 24 == 23:
                time.sleep(0.1)
        tool.flush()

    port = kit.free_port()
    client = dict(kit.FAST_GROUP, request_timeout_ms=5000)
    cfg = kit.kafka_config(broker.bootstrap, topic=topic, out=out, dead=dead, group=group,
                           model=small_forecaster, metrics_port=port, interval_s=interval_s, client=client)
    # A short flush timeout makes commits fail during the outage, forcing the rewind path.
    cfg["sinks"][0]["flush_timeout_s"] = flush_timeout_s
    cfg["sources"][0]["commit_timeout_s"] = flush_timeout_s
    d = kit.Daemon(tmp_path, cfg)
    feed(0, first, pace=False)
    d.start()
    try:
        collector = kit.Collector(broker.bootstrap, out)
        kit.wait_for(lambda: collector.distinct_sources() >= first, 60, "the first third processed")
        commits = d.metric("rnnstream_checkpoints_total") or 0.0
        kit.wait_for(lambda: (d.metric("rnnstream_checkpoints_total") or 0.0) > commits, 30, "a commit")
        # Keep the stream flowing into the cut: the feeder's own client buffers and retries.
        feeder = threading.Thread(target=feed, args=(first, 2 * first, True), daemon=True)
        feeder.start()
        # Cut mid-stream, just after a commit: outputs of the second third are coming out and
        # (with an 8 s commit interval) their state is not committed yet, so the next commit
        # falls into the outage.
        kit.wait_for(lambda: collector.distinct_sources() >= first + 100, 60, "processing the second third")
        pid = d.proc.pid
        proxy.cut()
        time.sleep(20.0)
        assert d.alive(), "the daemon must ride out the outage"
        proxy.restore()
        feeder.join(120)
        feed(2 * first, len(events), pace=False)
        collector = kit.Collector(broker.bootstrap, out)
        kit.wait_for_all(collector, len(events), idle_s=90.0, detail=lambda: f"daemon alive: {d.alive()}")
        assert d.alive() and d.proc.pid == pid and d.starts == 1
        kit.wait_for(lambda: d.http("/healthz")[0] == 200, 30, "healthy again")
        code = d.terminate()
    finally:
        if d.alive():
            d.kill9()
    assert code == 0
    outputs = kit.dedup(collector.poll())
    reference, ref_state = kit.reference_run(tmp_path, events, small_forecaster)
    kit.assert_outputs_match(outputs, reference)
    kit.assert_same_state(kit.changelog_state(broker.bootstrap, f"{group}-changelog", topic, 3), ref_state)
    noticed = [x for x in d.logs() if x["level"] in ("warning", "error")]
    assert noticed, "the outage left no trace in the logs"
    rewound = [x for x in d.logs() if x["msg"].startswith("recovered: resuming")]
    if flush_timeout_s < 20:
        assert rewound, "commits failed during the outage, so the daemon must have rewound"
