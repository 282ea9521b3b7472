"""``when: operator.field`` on a sink: an alerts sink gets only the rows that raised the alert."""

from __future__ import annotations

import json

import pytest

from rnnstream.config import parse_config
from rnnstream.errors import ConfigError
from rnnstream.runtime.build import build_pipeline


def _cfg(tmp_path, when):
    src = tmp_path / "logs.jsonl"
    lines = ["Receiving block blk_1 src: /1.2.3.4:5 dest: /1.2.3.5:6", "Something nobody has seen 1",
             "PacketResponder 1 for block blk_1 terminating"]
    src.write_text("".join(json.dumps({"key": "b1", "ts": i, "line": t}) + "\n" for i, t in enumerate(lines)))
    return parse_config({
        "sources": [{"type": "jsonl", "name": "logs", "path": str(src), "text_field": "line"}],
        "operators": [{"type": "logkeys", "name": "lk", "provider": "cpu"}],
        "sinks": [{"type": "jsonl", "name": "all", "path": str(tmp_path / "all.jsonl")},
                  {"type": "jsonl", "name": "alerts", "path": str(tmp_path / "alerts.jsonl"), "when": when}],
        "metrics": {"enabled": False},
    })


def test_an_alerts_sink_gets_only_the_flagged_rows(tmp_path):
    p = build_pipeline(_cfg(tmp_path, "lk.anomaly"))
    p.run()
    p.close()
    rows = [json.loads(x) for x in (tmp_path / "all.jsonl").read_text().splitlines()]
    alerts = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and alerts == [r for r in rows if r["lk"]["anomaly"]]
    assert [a["text"] for a in alerts][:1] == ["Something nobody has seen 1"]


def test_when_must_name_an_alert_output(tmp_path):
    with pytest.raises(ConfigError, match=r"sinks\[alerts\]\.when: lk\.p is not an alert output \(have: lk\.anomaly\)"):
        build_pipeline(_cfg(tmp_path, "lk.p"))
