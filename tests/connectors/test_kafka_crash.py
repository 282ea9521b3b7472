"""(a) kill -9 the daemon at random points while it processes a keyed stream, restart it each
time: the final per-key state and the outputs deduplicated by source offset equal an
uninterrupted run's."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

pytestmark = pytest.mark.slow


def _ready_count(d) -> int:
    return sum(1 for x in d.logs() if x["msg"].startswith("assigned ") and "restored" in x["msg"])


def test_kill9_at_random_points_then_restart_equals_uninterrupted_run(tansu, kit, tmp_path, small_forecaster):
    rng = random.Random(11)
    topic, out, dead, group = kit.unique("a-in"), kit.unique("a-out"), kit.unique("a-dead"), kit.unique("a-g")
    tool = kit.KafkaTool(tansu.bootstrap)
    tool.create((topic, 3), (out, 3), (dead, 1))
    keys = [f"meter-{i:02d}" for i in range(30)]
    events = [(k, float(t), round(20 + 5 * rng.random(), 3)) for t in range(200) for k in keys]

    kills_done = threading.Event()
    fed = [0]
    allowed = [0]  # the kill loop releases a slice of the stream per cycle

    def feed():
        # About 80 events/s, never more than the kill loop has released: the stream flows
        # through every kill however slow the machine is; the rest goes out at once afterwards.
        for i, (k, t, v) in enumerate(events):
            while i >= allowed[0] and not kills_done.is_set():
                time.sleep(0.05)
            tool.send(topic, k.encode(), json.dumps({"ts": t, "value": v}).encode(), [("seq", b"%d" % i)])
            fed[0] = i + 1
            if i % 20 == 19 and not kills_done.is_set():
                time.sleep(0.25)
        tool.flush()

    port = kit.free_port()
    cfg = kit.kafka_config(tansu.bootstrap, topic=topic, out=out, dead=dead, group=group, model=small_forecaster,
                           metrics_port=port, interval_s=0.25, batch_records=50)
    d = kit.Daemon(tmp_path, cfg)
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    kills = []
    try:
        for i in range(12):
            allowed[0] = (i + 1) * len(events) // 14
            before = _ready_count(d)
            d.start()
            started = time.monotonic()
            if i % 6 == 5:
                # A point during start-up: joining the group or restoring the changelog.
                time.sleep(rng.uniform(0.5, 3.0))
            else:
                kit.wait_for(lambda: _ready_count(d) > before, 60, "partitions assigned and restored")
                time.sleep(rng.uniform(0.1, 1.5))
            d.kill9()
            kills.append((round(time.monotonic() - started, 2), fed[0]))
        kills_done.set()
        feeder.join()
        before = _ready_count(d)
        d.start()
        kit.wait_for(lambda: _ready_count(d) > before, 60, "the last start to restore its partitions")
        collector = kit.Collector(tansu.bootstrap, out)
        kit.wait_for_all(collector, len(events), detail=lambda: f"daemon alive: {d.alive()}")
        assert d.alive()
        code = d.terminate()
    finally:
        if d.alive():
            d.kill9()
    assert code == 0
    assert len(kills) == 12
    assert kills[-1][1] < len(events), f"the stream ended before the last kill: {kills}"
    outputs = kit.dedup(collector.poll())
    # Whether a kill lands between a produce and its commit is timing: one CI run in eleven saw
    # no replay in twelve kills. The proof is the match below; the replay count is only reported.
    assert len(collector.messages) >= len(outputs)
    print(f"replayed outputs dropped by dedup: {len(collector.messages) - len(outputs)}")
    reference, ref_state = kit.reference_run(tmp_path, events, small_forecaster)
    kit.assert_outputs_match(outputs, reference)
    state = kit.changelog_state(tansu.bootstrap, f"{group}-changelog", topic, 3)
    kit.assert_same_state(state, ref_state)
    restored = [x for x in d.logs() if "from changelog" in x["msg"]]
    assert restored, "restarts resumed from the changelog"
