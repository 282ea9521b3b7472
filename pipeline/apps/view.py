"""The live terminal view of ``rnnstream transcribe --mic`` (rich).

Finals scroll up line by line with the wall-clock time and their position in the stream;
below them a live panel redraws in place: the partial text, a level meter with a peak
hold, a notice when the input has been silent (a muted or wrong device), and the measured
latency from a chunk's arrival to its partial and to its final, with the overflow count.
"""

from __future__ import annotations

import time
from datetime import datetime

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from rnnstream.apps.live import ChunkResult, LiveTranscription

__all__ = ["LiveView", "level_bar"]

METER_CELLS = 32
METER_FLOOR_DB = -60.0
NO_SIGNAL_AFTER_S = 2.0


def level_bar(dbfs: float, peak_dbfs: float, cells: int = METER_CELLS) -> Text:
    """A meter from -60 dBFS to 0: green, yellow above -12, red above -3; ``|`` marks the peak.

    >>> level_bar(-30.0, -6.0, cells=10).plain
    '█████░░░|░'
    >>> level_bar(-90.0, -90.0, cells=4).plain
    '░░░░'
    """
    def cell(db: float) -> int:
        return int(np.clip(round((db - METER_FLOOR_DB) / -METER_FLOOR_DB * cells), 0, cells))

    n, p = cell(dbfs), cell(peak_dbfs)
    bar = Text()
    for i in range(cells):
        db = METER_FLOOR_DB * (1 - (i + 1) / cells)
        style = "red" if db > -3 else "yellow" if db > -12 else "green"
        if i < n:
            bar.append("█", style=style)
        elif i == p - 1 and p > n:
            bar.append("|", style=style)
        else:
            bar.append("░", style="grey37")
    return bar


class LiveView:
    """Use as a context manager around the loop; feed it every :class:`ChunkResult`."""

    def __init__(self, live: LiveTranscription, describe: str, *, partials: bool = True,
                 console: Console | None = None) -> None:
        self.live = live
        self.describe = describe
        self.partials = partials
        self.console = console or Console()
        self.partial = ""
        self.level = -120.0
        self.peak = -120.0
        self._peak_at = 0.0
        self._last_partial_ms: float | None = None
        self._last_final_ms: float | None = None
        self._live = Live(self, console=self.console, refresh_per_second=12, transient=True)

    def __enter__(self) -> LiveView:
        self.console.print(Text.assemble(("● listening ", "bold green"), (self.describe, "dim"),
                                         ("   Ctrl-C stops and finalises", "dim")))
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._live.__exit__(*exc)

    def update(self, result: ChunkResult) -> None:
        now = time.monotonic()
        self.level = result.rms_dbfs
        if result.peak_dbfs >= self.peak or now - self._peak_at > 1.5:
            self.peak, self._peak_at = result.peak_dbfs, now
        lat = result.latency * 1000.0
        for ev in result.events:
            if ev["type"] == "partial":
                self.partial = ev["text"]
                if np.isfinite(lat):
                    self._last_partial_ms = lat
            else:
                self.partial = ""
                if np.isfinite(lat):
                    self._last_final_ms = lat
                self._commit(ev)

    def _commit(self, ev: dict) -> None:
        clock = datetime.now().strftime("%H:%M:%S")
        self._live.console.print(Text.assemble(
            (clock, "dim"), "  ", (f"[{ev['start']:7.2f} – {ev['end']:7.2f}]", "cyan"), "  ", (ev["text"], "bold")))

    def __rich__(self) -> Group:
        lines = []
        if self.partials:
            lines.append(Text.assemble(("… ", "dim"), (self.partial[-100:], "italic")))
        src = self.live.source
        meter = Text.assemble(("level ", "dim"), level_bar(self.level, self.peak),
                              (f" {max(self.level, -99.0):5.1f} dBFS", "dim"), (f"   {self.live.seconds:7.1f} s", "dim"))
        lines.append(meter)
        silent = time.monotonic() - self.live.last_signal
        if silent > NO_SIGNAL_AFTER_S:
            lines.append(Text(f"⚠ no input signal for {silent:.0f} s: is the microphone muted, or is "
                              f"{src.device.name!r} the wrong device? (rnnstream devices)", style="bold yellow"))
        lines.append(self._stats_line())
        return Group(*lines)

    def _stats_line(self) -> Text:
        log = self.live.latency
        src = self.live.source

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f} ms"

        s = log.summary()
        delay = src.input_delay()
        text = Text.assemble(
            ("latency ", "dim"),
            ("partial ", "dim"), (ms(self._last_partial_ms), "green"), (f" (p50 {ms(s['partial_p50_ms'])})", "dim"),
            ("  final ", "dim"), (ms(self._last_final_ms), "green"), (f" (p50 {ms(s['final_p50_ms'])})", "dim"),
            ("  + input ", "dim"), ("-" if not np.isfinite(delay) else f"{delay * 1000:.0f} ms", "dim"),
        )
        lost = src.overflows + src.device_overflows
        text.append(f"   overflows {src.overflows}/{src.device_overflows}", style="bold red" if lost else "dim")
        return text
