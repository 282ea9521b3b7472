"""Template mapping: known templates by id, Drain for the rest, columnar over a block."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from rnnstream.errors import ModelError
from rnnstream.text.templates import TemplateBook, mask_digits

HDFS = [{"id": 5, "template": "<*>Receiving block<*>src:<*>dest:<*>"},
        {"id": 6, "template": "<*>Received block<*>src:<*>dest:<*>of size<*>"},
        {"id": 9, "template": "<*>Received block<*>of size<*>from<*>"},
        {"id": 4, "template": "<*>Got exception while serving<*>to<*>"}]
HEADER = r"^\d{6} \d{6} \d+ \w+ [^:]+: (?P<content>.*)$"


def test_hdfs_lines_map_to_their_loghub_ids_through_the_header():
    book = TemplateBook(HDFS, first_mined_id=30, content_pattern=HEADER)
    lines = [
        "081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-1608999687919862906 src: "
        "/10.250.19.102:54106 dest: /10.250.19.102:50010",
        "081109 203519 145 INFO dfs.DataNode$PacketResponder: Received block blk_-1608999687919862906 of size "
        "91178 from /10.250.10.6",
        "081109 214043 2561 WARN dfs.DataNode$DataXceiver: 10.251.30.6:50010:Got exception while serving "
        "blk_-2918118818249673980 to /10.251.90.64:",
        "no header here: Received block blk_1 src: /1.2.3.4:1 dest: /1.2.3.5:2 of size 5",
    ]
    assert book.ids(np.array(lines, object)).tolist() == [5, 9, 4, 6]
    assert book.mined == 0


def test_the_most_specific_known_template_wins():
    book = TemplateBook(HDFS, first_mined_id=30)
    assert book.ids(["Received block blk_1 src: /a:1 dest: /b:2 of size 3"]).tolist() == [6]


def test_block_mapping_equals_one_line_at_a_time():
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta"]
    lines = [f"{rng.choice(words)} {rng.integers(100)} {rng.choice(words)} id-{rng.integers(9)}" for _ in range(300)]
    block = TemplateBook(HDFS, first_mined_id=30).ids(lines)
    single = TemplateBook(HDFS, first_mined_id=30)
    one = [int(single.ids([line])[0]) for line in lines]
    assert block.tolist() == one
    assert len(set(one)) <= 16


def test_dump_and_load_round_trip_and_unreadable_state():
    book = TemplateBook(HDFS, first_mined_id=30)
    book.ids(["foo 1 bar", "baz qux 2"])
    other = TemplateBook(HDFS, first_mined_id=30)
    other.load(book.dump())
    assert other.dump() == book.dump()
    with pytest.raises(ModelError, match="unreadable saved templates"):
        other.load(b"{not json")


def test_masking_keeps_words_glued_to_addresses():
    assert mask_digits(pa.array(["a 10.1.1.1:50010:Got b"])).to_pylist() == ["a <*>:Got b"]


def test_bad_content_pattern_is_a_model_error():
    with pytest.raises(ModelError, match="named group"):
        TemplateBook(HDFS, first_mined_id=30, content_pattern=r"^(.*)$")
