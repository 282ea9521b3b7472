"""``rnnstream bench asr``: concurrent real-time streams, batched against one stream per call.

N streams each deliver one 100 ms chunk per 100 ms. A configuration keeps up when the
95th percentile of the time to process one chunk of every stream stays under the chunk
length. The same model runs with the batcher (one call per chunk for all N streams) and
with ``max_batch=1`` (one call per stream), side by side in one run.
"""

from __future__ import annotations

import time

import numpy as np

from rnnstream.operators.asr import AsrOperator
from rnnstream.apps.transcribe import Transcriber

__all__ = ["run_asr_bench", "format_asr_table"]


def _chunk_times(op: AsrOperator, n: int, max_batch: int, chunks: int, audio: np.ndarray) -> tuple[np.ndarray, int]:
    """Seconds per chunk of all ``n`` streams (after the first two), and the finals emitted."""
    tr = Transcriber(op, max_batch=max_batch)
    keys = np.arange(n)
    size = tr.chunk
    times, finals = [], 0
    for c in range(chunks):
        # Every stream reads the same audio at a different offset, so streams differ.
        starts = (keys * 977 + c * size) % (audio.size - size)
        batch = audio[starts[:, None] + np.arange(size)[None, :]]
        t0 = time.perf_counter()
        events = tr.push(keys, batch)
        times.append(time.perf_counter() - t0)
        if c >= 2:
            finals += sum(e["type"] == "final" for _, e in events)
    return np.array(times[2:]), finals  # the first chunks allocate slots


def run_asr_bench(op: AsrOperator, audio: np.ndarray, *, counts=(1, 10, 25, 50, 100, 150, 200, 300, 400),
                  chunks: int = 22, modes=("batched", "single")) -> list[dict]:
    chunk_s = op.chunk / 16000
    rows = []
    for mode in modes:
        for n in counts:
            t, finals = _chunk_times(op, n, 1024 if mode == "batched" else 1, chunks, audio)
            p95 = float(np.percentile(t, 95))
            rows.append({"mode": mode, "streams": n, "p50_ms": float(np.median(t)) * 1000, "p95_ms": p95 * 1000,
                         "rtf": float(t.mean()) / chunk_s / n, "real_time": p95 < chunk_s, "finals": finals})
            if p95 > 2 * chunk_s:  # far past real time: larger counts only take longer
                break
    return rows


def format_asr_table(rows: list[dict], chunk_ms: float) -> str:
    out = [f"| mode | streams | p50 ms/chunk | p95 ms/chunk | RTF per stream | finals | keeps up ({chunk_ms:g} ms) |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        out.append(f"| {r['mode']} | {r['streams']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['rtf']:.4f} | "
                   f"{r['finals']} | {'yes' if r['real_time'] else 'no'} |")
    for mode in sorted({r["mode"] for r in rows}):
        ok = [r["streams"] for r in rows if r["mode"] == mode and r["real_time"]]
        out.append(f"\n{mode}: up to {max(ok) if ok else 0} concurrent real-time streams")
    return "\n".join(out)
