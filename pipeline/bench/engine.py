"""``rnnstream bench engine``: the scheduler against one call per event, side by side.

Modes, each over the same pre-parsed events (one event per key per round):
- ``batched``: the Scheduler (slab gather, one ONNX Runtime call per <= max_batch keys, scatter);
- ``per_event``: one ``session.run`` per event, state kept per key in a dict;
- ``torch_eager``: one torch forward per event (needs torch);
- ``bare_session``: ``session.run`` on ready-made inputs at the scheduler's batch size,
  no state handling at all: the ceiling the scheduler is measured against.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnstream.operators.rnn import RnnOperator
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.session import Session, load_session

__all__ = ["BenchModel", "MODELS", "run_engine_bench", "format_table"]


@dataclass(frozen=True)
class BenchModel:
    name: str
    cell: str
    input_size: int
    hidden: int
    output_size: int


MODELS = (BenchModel("gru64", "gru", 8, 64, 8), BenchModel("lstm256", "lstm", 80, 256, 32))


def _export(m: BenchModel, folder: Path):
    import torch

    from rnnstream.models.export import export_model
    from rnnstream.models.network import RNNConfig, StreamingRNN

    torch.manual_seed(0)
    net = StreamingRNN(RNNConfig(cell=m.cell, input_size=m.input_size, hidden_size=m.hidden, output_size=m.output_size))
    path = folder / f"{m.name}.onnx"
    export_model(net.eval(), path, name=m.name, task="generic")
    return net, path


def _timed(step, budget_s: float, min_iters: int = 3) -> tuple[int, list[float]]:
    """Call ``step() -> events`` until the budget is spent; return (events, per-call seconds)."""
    lat: list[float] = []
    events = 0
    t_end = time.perf_counter() + budget_s
    while len(lat) < min_iters or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        events += step()
        lat.append(time.perf_counter() - t0)
    return events, lat


def _row(model: str, keys: int, mode: str, events: int, lat: list[float], **extra) -> dict:
    total = sum(lat)
    return {
        "model": model,
        "keys": keys,
        "mode": mode,
        "events_per_s": events / total,
        "p99_ms": float(np.percentile(lat, 99)) * 1000.0,
        **extra,
    }


def _bench_batched(session: Session, m: BenchModel, keys: int, max_batch: int, budget: float, rng) -> dict:
    sched = Scheduler(RnnOperator(session), max_batch=max_batch)
    ids = np.arange(keys, dtype=np.int64)
    ts = np.zeros(keys)
    x = rng.standard_normal((keys, m.input_size)).astype(np.float32)
    sched.process(ids, ts, x)  # allocate every key's slot before timing

    def step() -> int:
        sched.process(ids, ts, x)
        return keys

    # One "call" here is one micro-batch of `keys` events: every event in it waits that long.
    events, lat = _timed(step, budget)
    bytes_per_key = sched.store.allocated_bytes / keys
    return _row(m.name, keys, "batched", events, lat, bytes_per_key=bytes_per_key)


def _bench_per_event(session: Session, m: BenchModel, keys: int, budget: float, rng) -> dict:
    states = {k: session.zero_state(1) for k in range(keys)}
    x = rng.standard_normal((1, 1, m.input_size)).astype(np.float32)
    cursor = [0]

    def step() -> int:
        k = cursor[0] % keys
        cursor[0] += 1
        _, states[k] = session.run(x, states[k])
        return 1

    events, lat = _timed(step, budget)
    return _row(m.name, keys, "per_event", events, lat)


def _bench_torch(net, m: BenchModel, keys: int, budget: float, rng) -> dict:
    import torch

    torch.set_num_threads(1)
    x = torch.from_numpy(rng.standard_normal((1, 1, m.input_size)).astype(np.float32))
    states: dict[int, tuple] = {}
    cursor = [0]

    def step() -> int:
        k = cursor[0] % keys
        cursor[0] += 1
        with torch.inference_mode():
            _, states[k] = net(x, states.get(k))
        return 1

    events, lat = _timed(step, budget)
    return _row(m.name, keys, "torch_eager", events, lat)


def _bench_bare(session: Session, m: BenchModel, keys: int, max_batch: int, budget: float, rng) -> dict:
    b = min(keys, max_batch)
    feeds = {"x": rng.standard_normal((b, 1, m.input_size)).astype(np.float32)}
    for t in session.state_spec.tensors:
        feeds[t.name] = t.to_model(session.zero_state(b)[t.name])

    def step() -> int:
        session.run_raw(feeds)
        return b

    events, lat = _timed(step, budget)
    return _row(m.name, keys, "bare_session", events, lat, batch=b)


def run_engine_bench(
    *,
    keys: tuple[int, ...] = (1, 100, 10000),
    models: tuple[str, ...] = ("gru64", "lstm256"),
    modes: tuple[str, ...] = ("batched", "per_event", "torch_eager", "bare_session"),
    max_batch: int = 1024,
    budget_s: float = 1.5,
    seed: int = 0,
) -> list[dict]:
    rows: list[dict] = []
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for m in MODELS:
            if m.name not in models:
                continue
            net, path = _export(m, Path(tmp))
            session = load_session(path, provider="cpu", intra_op_threads=1)
            for n in keys:
                if "batched" in modes:
                    rows.append(_bench_batched(session, m, n, max_batch, budget_s, rng))
                if "per_event" in modes:
                    rows.append(_bench_per_event(session, m, n, budget_s, rng))
                if "torch_eager" in modes:
                    rows.append(_bench_torch(net, m, n, budget_s, rng))
                if "bare_session" in modes:
                    rows.append(_bench_bare(session, m, n, max_batch, budget_s, rng))
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown table with the ratios the acceptance criteria name."""
    out = ["| model | keys | mode | events/s | p99 ms | vs per_event | vs bare_session |", "|---|---:|---|---:|---:|---:|---:|"]
    ref = {(r["model"], r["keys"], r["mode"]): r["events_per_s"] for r in rows}
    for r in rows:
        pe = ref.get((r["model"], r["keys"], "per_event"))
        bare = ref.get((r["model"], r["keys"], "bare_session"))
        vs_pe = f"{r['events_per_s'] / pe:.1f}x" if pe else "-"
        vs_bare = f"{100 * r['events_per_s'] / bare:.0f}%" if bare and r["mode"] == "batched" else "-"
        out.append(
            f"| {r['model']} | {r['keys']} | {r['mode']} | {r['events_per_s']:,.0f} | {r['p99_ms']:.3f} | {vs_pe} | {vs_bare} |"
        )
    return "\n".join(out)
