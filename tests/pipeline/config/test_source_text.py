"""Text fields of the source configs: text_field makes values optional, and a source with
neither values nor text is one error line naming value_fields."""

from __future__ import annotations

import pytest

from rnnstream.config import MqttSourceConfig, parse_config
from rnnstream.errors import ConfigError


def source(**kw):
    return parse_config({"sources": [kw]}).sources[0]


@pytest.mark.parametrize("kind", [{"type": "jsonl", "name": "s", "path": "x.jsonl"},
                                  {"type": "csv", "name": "s", "path": "x.csv"}, {"type": "stdin"}])
def test_text_field_reads_text_only_unless_values_are_named(kind):
    assert source(**kind).value_fields == ["value"] and source(**kind).text_field is None
    text = source(**kind, text_field="line")
    assert text.value_fields == [] and text.max_text_bytes == 16384
    assert source(**kind, text_field="line", value_fields=["cpu"]).value_fields == ["cpu"]


@pytest.mark.parametrize("kw,msg", [
    ({"type": "jsonl", "name": "s", "path": "x", "value_fields": []},
     "sources[s].value_fields: needs at least one field (or set text_field to read text only)"),
    ({"type": "stdin", "text_field": "ts"}, "sources[stdin].text_field: 'ts' is already the key, timestamp or a value"),
    ({"type": "stdin", "text_field": "v", "value_fields": ["v"]}, "sources[stdin].text_field: 'v' is already"),
    ({"type": "stdin", "max_text_bytes": 0}, "sources.0.stdin.max_text_bytes: Input should be greater than 0"),
    ({"type": "mqtt", "name": "m", "topics": ["a/#"], "value_fields": []}, "sources[m].value_fields: needs at least"),
    ({"type": "mqtt", "name": "m", "topics": ["a/#"], "format": "audio"}, "sources.0.mqtt.format: Input should be"),
    ({"type": "kafka", "name": "k", "topics": ["t"], "bootstrap_servers": ["b"], "group_id": "g",
      "text_field": "line"}, "sources.0.kafka.text_field: Extra inputs are not permitted"),
])
def test_bad_text_settings_are_one_line_naming_the_field(kw, msg):
    with pytest.raises(ConfigError) as err:
        source(**kw)
    assert "\n" not in str(err.value) and str(err.value).startswith(msg)


def test_mqtt_and_kafka_text_formats_need_no_values():
    cfg = MqttSourceConfig(type="mqtt", name="m", topics=["logs/+"], format="text", value_fields=[], max_text_bytes=99)
    assert cfg.format == "text" and cfg.max_text_bytes == 99
    assert source(type="mqtt", name="m", topics=["a"]).format == "json"
    assert source(type="kafka", name="k", topics=["t"], bootstrap_servers=["b"], group_id="g", format="text",
                  value_fields=[]).value_fields == []
