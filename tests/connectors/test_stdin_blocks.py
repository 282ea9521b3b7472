"""Standard input read in blocks: whole lines only, at most batch_records per batch, CSV header first."""

from __future__ import annotations

import io

from rnnstream.config import StdinSourceConfig
from rnnstream.connectors.stdio import StdinSource
from rnnstream.engine.keys import KeyTable


def drain(src):
    batches = []
    while not src.exhausted:
        b = src.poll(0.2)
        if b is not None:
            batches.append(b)
    return batches


def test_csv_on_stdin_with_a_header_a_bad_line_and_small_batches():
    lines = [b"\n", b"ts,key,value\n"] + [b"%d,k%d,%d\n" % (i, i % 3, i) for i in range(10)]
    lines.insert(6, b"4,k1,oops\n")
    src = StdinSource(StdinSourceConfig(type="stdin", format="csv", batch_records=4), KeyTable(), width=1,
                      stream=io.BufferedReader(io.BytesIO(b"".join(lines))))
    batches = drain(src)
    assert all(len(b) + len(b.dead) <= 4 for b in batches)
    assert [v for b in batches for v in b.values.ravel().tolist()] == [float(i) for i in range(10)]
    assert [d.reason for b in batches for d in b.dead] == ["non_numeric"]
    assert src.position() == {"lines": 11}


def test_json_lines_split_across_reads_arrive_whole():
    class Trickle(io.RawIOBase):
        """Hands out a few bytes per read, cutting lines anywhere."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:
            n = min(7, len(self.data), len(buf))
            buf[:n], self.data = self.data[:n], self.data[n:]
            return n

    data = b"".join(b'{"key":"k","ts":%d,"value":%d}\n' % (i, i) for i in range(20)) + b'{"key":"k","ts":20,"value":20}'
    src = StdinSource(StdinSourceConfig(type="stdin"), KeyTable(), width=1, stream=io.BufferedReader(Trickle(data), 7))
    got = [v for b in drain(src) for v in b.values.ravel().tolist()]
    assert got == [float(i) for i in range(21)]  # the last line has no newline and still counts
