"""(b) Two daemons in one consumer group split the partitions; kill one: the other takes its
partitions over with their state, and no event is lost or applied twice."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import threading
import time

import pytest

pytestmark = pytest.mark.slow

LIBRARIES = ["kafka-python", pytest.param("confluent", marks=pytest.mark.skipif(
    importlib.util.find_spec("confluent_kafka") is None, reason="the optional confluent-kafka client is not installed"))]


def _owned(d) -> set[str]:
    """Partitions the daemon owns according to its latest assignment log line."""
    owned: set[str] = set()
    for x in d.logs():
        m = re.match(r"assigned (\S+) restored", x["msg"])
        if m:
            owned = set(m.group(1).split(","))
        elif x["msg"].startswith("partitions revoked") or x["msg"].startswith("partitions lost"):
            owned = set()
    return owned


@pytest.mark.parametrize("library", LIBRARIES)
def test_group_members_split_partitions_and_survivor_takes_over_with_state(tansu, kit, tmp_path, small_forecaster, library):
    rng = random.Random(5)
    topic, out, dead, group = kit.unique("b-in"), kit.unique("b-out"), kit.unique("b-dead"), kit.unique("b-g")
    tool = kit.KafkaTool(tansu.bootstrap)
    tool.create((topic, 4), (out, 4), (dead, 1))
    keys = [f"pump-{i:02d}" for i in range(24)]
    events = [(k, float(t), round(50 + 10 * rng.random(), 3)) for t in range(150) for k in keys]
    go_fast = threading.Event()
    sent = []

    def feed():
        for i, (k, t, v) in enumerate(events):
            sent.append(tool.send(topic, k.encode(), json.dumps({"ts": t, "value": v}).encode()))
            if i % 24 == 23 and not go_fast.is_set():
                time.sleep(0.2)
        tool.flush()

    def cfg(name):
        return kit.kafka_config(tansu.bootstrap, topic=topic, out=out, dead=dead, group=group,
                                model=small_forecaster, metrics_port=kit.free_port(), interval_s=0.5,
                                batch_records=100, library=library)

    a = kit.Daemon(tmp_path, cfg("a"), name="a")
    b = kit.Daemon(tmp_path, cfg("b"), name="b")
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        a.start()
        b.start()
        kit.wait_for(lambda: len(_owned(a)) == 2 and len(_owned(b)) == 2, 60, "both members to own 2 partitions")
        a_parts = _owned(a)
        assert a_parts.isdisjoint(_owned(b))
        time.sleep(2.0)  # both process for a while
        a.kill9()
        kit.wait_for(lambda: len(_owned(b)) == 4, 60, "the survivor to own every partition")
        go_fast.set()
        feeder.join()
        assert not [f for f in sent if f.failed()], "the test's own producer failed to deliver input"
        collector = kit.Collector(tansu.bootstrap, out)
        kit.wait_for_all(collector, len(events), detail=lambda: f"survivor alive: {b.alive()}")
        code = b.terminate()
    finally:
        for d in (a, b):
            if d.alive():
                d.kill9()
    assert code == 0
    # The survivor resumed the dead member's partitions from the changelog, mid-stream.
    takeover = {}
    for x in b.logs():
        m = re.match(r"partition (\S+) resumes at offset (\d+) from changelog", x["msg"])
        if m and m.group(1) in a_parts:
            takeover[m.group(1)] = int(m.group(2))
    assert set(takeover) == a_parts and all(off > 0 for off in takeover.values()), takeover
    outputs = kit.dedup(collector.poll())
    reference, ref_state = kit.reference_run(tmp_path, events, small_forecaster)
    kit.assert_outputs_match(outputs, reference)
    kit.assert_same_state(kit.changelog_state(tansu.bootstrap, f"{group}-changelog", topic, 4), ref_state)
