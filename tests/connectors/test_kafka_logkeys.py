"""End to end: raw HDFS log lines on a Kafka topic (``format: text``, key = block id), the
shipped ``builtin:logkeys`` model, and an alerts topic that gets only the sessions a person
should look at: one with a write exception, one cut short, and one with a template no
training session had. Normal sessions raise nothing."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest

pytestmark = pytest.mark.slow
LIBRARY = "confluent" if importlib.util.find_spec("confluent_kafka") else "kafka-python"

LINE = {
    22: "081109 203518 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: "
        "/mnt/hadoop/mapred/system/job_200811092030_0001/job.jar. blk_{b}",
    5: "081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_{b} src: /10.250.19.{n}:54106 "
       "dest: /10.250.19.{n}:50010",
    11: "081109 203519 145 INFO dfs.DataNode$PacketResponder: PacketResponder {r} for block blk_{b} terminating",
    9: "081109 203519 145 INFO dfs.DataNode$PacketResponder: Received block blk_{b} of size 91178 from /10.250.10.{n}",
    26: "081109 203521 19 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: "
        "10.250.10.{n}:50010 is added to blk_{b} size 91178",
    7: "081109 214043 2561 WARN dfs.DataNode$DataXceiver: writeBlock blk_{b} received exception "
       "java.io.IOException: Could not read from stream",
    20: "081109 214043 2561 WARN dfs.FSDataset: Unexpected error trying to delete block blk_{b}. "
        "BlockInfo not found in volumeMap.",
}
NORMAL = [22, 5, 5, 5, 11, 9, 11, 9, 11, 9, 26, 26, 26]
ODD = {"exception": [22, 5, 5, 5, 7, 11, 9, 11, 9, 26, 26], "cut-short": [22, 5],
       "never-seen": NORMAL + [20]}


def test_raw_log_lines_flow_through_logkeys_into_an_alerts_topic(tansu, kit, tmp_path):
    rng = random.Random(7)
    topic, alerts, dead, group = kit.unique("log-in"), kit.unique("log-alerts"), kit.unique("log-dead"), \
        kit.unique("log-g")
    tool = kit.KafkaTool(tansu.bootstrap)
    tool.create((topic, 2), (alerts, 1), (dead, 1))
    sessions = {f"{rng.getrandbits(60)}": NORMAL for _ in range(20)}
    odd_ids = {name: f"{rng.getrandbits(60)}" for name in ODD}
    sessions.update({odd_ids[name]: seq for name, seq in ODD.items()})
    for block, seq in sessions.items():
        for i, tid in enumerate(seq):
            line = LINE[tid].format(b=block, n=rng.randrange(1, 250), r=i % 3)
            tool.send(topic, f"blk_{block}".encode(), line.encode())
        tool.send(topic, f"blk_{block}".encode(), b"", [("rnnstream-control", b"end")])  # the session closes
    tool.flush()
    cfg = {
        "sources": [{"type": "kafka", "name": "logs", "topics": [topic], "bootstrap_servers": [tansu.bootstrap],
                     "group_id": group, "format": "text", "library": LIBRARY,
                     "client": dict(kit.FAST_GROUP_CK if LIBRARY == "confluent" else kit.FAST_GROUP)}],
        "operators": [{"type": "logkeys", "name": "logkeys", "provider": "cpu"}],
        "sinks": [{"type": "kafka", "name": "alerts", "topic": alerts, "bootstrap_servers": [tansu.bootstrap],
                   "when": "logkeys.anomaly"}],
        "dead_letter": {"type": "kafka", "topic": dead, "bootstrap_servers": [tansu.bootstrap]},
        "metrics": {"port": kit.free_port()},
        "checkpoint": {"interval_s": 0.3},
    }
    d = kit.Daemon(tmp_path, cfg).start()
    try:
        kit.wait_for(lambda: (d.metric("rnnstream_events_in_total") or 0) >= sum(len(s) + 1 for s in sessions.values()),
                     120, f"every line consumed; log: {d.tail()}")
        got = [json.loads(m["value"]) for m in tool.read(alerts, idle_s=3.0, timeout_s=60)]
        counted = d.metric("rnnstream_anomaly_alerts_total")
    finally:
        d.terminate()
    flagged = {row["key"].removeprefix("blk_") for row in got}
    assert flagged == set(odd_ids.values()), f"alerts for {sorted(flagged)}, expected {sorted(odd_ids.values())}"
    assert all(row["logkeys"]["anomaly"] for row in got)
    rows = {name: [r for r in got if r["key"] == f"blk_{block}"] for name, block in odd_ids.items()}
    assert "writeBlock" in rows["exception"][0]["text"], "the first alert is at the exception line"
    assert [r["logkeys"]["template_text"] for r in rows["cut-short"]] == ["<end of session>"]
    assert "BlockInfo not found" in rows["never-seen"][0]["text"]
    assert rows["never-seen"][0]["logkeys"]["template"] == 20
    assert counted == len(got), "every alert row is counted in rnnstream_anomaly_alerts_total"
