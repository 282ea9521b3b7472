"""A sink that draws one PNG per key at close: the series, the one-step forecast band,
the anomaly score and the alerts. Needs matplotlib (the ``plot`` extra).

It keeps the last ``max_points`` rows per key, so a long run cannot grow it without bound.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from rnnstream.errors import ConnectorError
from rnnstream.engine.records import OutputBatch

__all__ = ["PlotSink"]

log = logging.getLogger(__name__)


class PlotSink:
    def __init__(self, name: str, directory: Path, *, max_points: int = 20000) -> None:
        self.name = name
        self.directory = Path(directory)
        self.max_points = max_points
        self._cols: dict[str, dict[str, list[np.ndarray]]] = {}
        self.written: list[Path] = []

    def write(self, batch: OutputBatch) -> None:
        if not len(batch):
            return
        cols = {"ts": batch.ts, "value": batch.values[:, 0]}
        for fields in batch.fields.values():
            if "p50" in fields:
                for q in ("p10", "p50", "p90"):
                    if q in fields:
                        arr = fields[q]
                        cols[q] = arr[:, 0] if arr.ndim > 1 else arr
            if "score" in fields and "alert" in fields:
                cols["score"], cols["alert"] = fields["score"], fields["alert"].astype(np.float64)
        order = np.argsort(batch.key_ids, kind="stable")
        ids = batch.key_ids[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        bounds = np.r_[starts, ids.size]
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            rows = order[lo:hi]
            per_key = self._cols.setdefault(str(batch.keys[rows[0]]), {})
            for name, arr in cols.items():
                per_key.setdefault(name, []).append(np.asarray(arr[rows], dtype=np.float64))

    def flush(self) -> None:
        """Plots are drawn once, at close."""

    def close(self) -> None:
        if not self._cols:
            return
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ConnectorError("sink plot: needs matplotlib (pip install 'rnnstream[plot]')") from None
        self.directory.mkdir(parents=True, exist_ok=True)
        for key, parts in self._cols.items():
            data = {k: np.concatenate(v)[-self.max_points :] for k, v in parts.items()}
            path = self.directory / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.png"
            self._draw(plt, key, data, path)
            self.written.append(path)
        log.info("plot sink wrote %d PNGs to %s", len(self.written), self.directory)

    @staticmethod
    def _draw(plt, key: str, d: dict[str, np.ndarray], path: Path) -> None:
        x = (d["ts"] - d["ts"][0]) / 3600.0
        has_score = "score" in d
        fig, axes = plt.subplots(2 if has_score else 1, 1, figsize=(11, 5.5 if has_score else 3.5), sharex=True,
                                 squeeze=False)
        ax = axes[0, 0]
        ax.plot(x, d["value"], lw=0.8, color="black", label="value")
        if "p50" in d and len(x) > 1:
            # The forecast made at step t is for t+1: draw it one step later.
            ax.fill_between(x[1:], d["p10"][:-1], d["p90"][:-1], color="tab:blue", alpha=0.25, label="p10-p90 (t+1)")
            ax.plot(x[1:], d["p50"][:-1], lw=0.6, color="tab:blue", label="p50 (t+1)")
        if has_score:
            alerts = d["alert"] > 0
            ax.scatter(x[alerts], d["value"][alerts], color="tab:red", s=14, zorder=3, label="alert")
            axes[1, 0].plot(x, d["score"], lw=0.8, color="tab:red")
            axes[1, 0].set_ylabel("anomaly score")
            axes[1, 0].set_ylim(-0.02, 1.02)
        ax.set_title(f"key {key}")
        ax.legend(loc="upper left", fontsize=7)
        axes[-1, 0].set_xlabel("hours since first event")
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
