"""``rnnstream bench pipeline``: file or stdin -> operators -> JSONL, beside the engine alone on the
same events, in one run.

The events are JSON lines over many keys (each key's events in time order, keys
interleaved). The pipeline path is the product as a user runs it: a file or stdin source
decoding records, the operators, a ``jsonl`` sink writing to ``/dev/null`` (so the disk is
not measured) and no checkpoint. The engine path feeds the same events, already as arrays,
through the same operators' schedulers in micro-batches of the same size: what the path
around the engine costs is the gap between the two.

>>> lines = make_events(keys=3, events=6, seed=0).splitlines()
>>> len(lines), lines[0][:11]
(6, b'{"key":"k0"')
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry

from rnnstream.config import AnomalyOperatorConfig, FileSourceConfig, ForecastOperatorConfig, StdinSourceConfig
from rnnstream.connectors.memory import MemoryDeadLetters
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.scheduler import Scheduler
from rnnstream.errors import ConfigError
from rnnstream.runtime.build import build_operator
from rnnstream.runtime.loop import OperatorSettings, Pipeline

__all__ = ["make_events", "run_pipeline_bench", "format_pipeline_table", "OPERATORS"]

OPERATORS = {"anomaly": AnomalyOperatorConfig, "forecast": ForecastOperatorConfig}


def _series(keys: int, events: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key index, step, value) per event: every key gets events // keys steps (the first keys one
    more), keys interleaved at random but each key's steps in order."""
    rng = np.random.default_rng(seed)
    key = rng.permutation(np.arange(events) % keys)
    order = np.argsort(key, kind="stable")
    step = np.empty(events, np.int64)
    counts = np.bincount(key, minlength=keys)
    step[order] = np.arange(events) - np.repeat(np.cumsum(counts) - counts, counts)
    value = (10 * np.sin(step / 7.0 + key) + rng.standard_normal(events)).astype(np.float32)
    return key, step, value


def make_events(*, keys: int, events: int, seed: int = 0) -> bytes:
    """The benchmark's events as JSON lines (``key``, ``ts`` in seconds, ``value``)."""
    key, step, value = _series(keys, events, seed)
    width = len(str(keys - 1))
    return b"".join(b'{"key":"k%0*d","ts":%d,"value":%.4f}\n' % (width, k, 1_700_000_000 + 60 * s, v)
                    for k, s, v in zip(key.tolist(), step.tolist(), value.tolist()))


def _operators(names: tuple[str, ...], provider: str):
    ops = []
    for name in names:
        if name not in OPERATORS:
            raise ConfigError(f"--operators: unknown operator {name!r} (have {', '.join(OPERATORS)})")
        ops.append(build_operator(OPERATORS[name](type=name, name=name, model=f"builtin:{name}", provider=provider)))
    return ops


def _run_pipeline(path: Path, source: str, names, provider: str, batch: int) -> tuple[float, int]:
    from rnnstream.connectors.files import FileSource
    from rnnstream.connectors.stdio import JsonlSink, StdinSource

    keys = KeyTable()
    ops = _operators(names, provider)
    if source == "stdin":
        stream = open(path, "rb")
        src = StdinSource(StdinSourceConfig(type="stdin", batch_records=batch), keys, width=1, stream=stream)
    else:
        src = FileSource(FileSourceConfig(type="jsonl", name="file", path=path, batch_records=batch), keys, width=1)
    sink = JsonlSink("out", Path("/dev/null"))
    settings = {op.name: OperatorSettings(max_batch=batch) for op in ops}
    pipe = Pipeline(sources=[src], operators=ops, sinks=[sink], keys=keys, dead_letters=MemoryDeadLetters(),
                    settings=settings, registry=CollectorRegistry())
    t0 = time.perf_counter()
    stats = pipe.run()
    elapsed = time.perf_counter() - t0
    pipe.close()
    if source == "stdin":
        stream.close()  # the source reads it but does not own it, as with sys.stdin
    return elapsed, stats.events_out


def _run_engine(keys: int, events: int, seed: int, names, provider: str, batch: int) -> float:
    key, step, value = _series(keys, events, seed)
    ts = (1_700_000_000 + 60 * step).astype(np.float64)
    values = value.reshape(-1, 1)
    scheds = [Scheduler(op, max_batch=batch) for op in _operators(names, provider)]
    t0 = time.perf_counter()
    for lo in range(0, events, batch):
        hi = min(events, lo + batch)
        for s in scheds:
            s.process(key[lo:hi], ts[lo:hi], values[lo:hi])
    return time.perf_counter() - t0


def run_pipeline_bench(*, keys: int = 1_000_000, events: int = 2_000_000, operators=("anomaly",),
                       sources=("file", "stdin"), provider: str = "cpu", batch: int = 4096,
                       seed: int = 0) -> list[dict]:
    """Rows of events/s per path; each pipeline row carries its share of the engine-alone rate."""
    if keys < 1 or events < keys:
        raise ConfigError(f"--events ({events}) must be at least --keys ({keys}), and --keys at least 1")
    names = tuple(operators)
    rows = []
    engine_s = _run_engine(keys, events, seed, names, provider, batch)
    engine_rate = events / engine_s
    rows.append({"path": "engine", "operators": "+".join(names), "keys": keys, "events": events,
                 "seconds": round(engine_s, 3), "events_per_s": round(engine_rate), "share_of_engine": 1.0})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(make_events(keys=keys, events=events, seed=seed))
        for source in sources:
            seconds, out = _run_pipeline(path, source, names, provider, batch)
            rate = events / seconds
            rows.append({"path": f"{source} -> jsonl", "operators": "+".join(names), "keys": keys,
                         "events": events, "events_out": out, "seconds": round(seconds, 3),
                         "events_per_s": round(rate), "share_of_engine": round(rate / engine_rate, 4)})
    return rows


def format_pipeline_table(rows: list[dict]) -> str:
    out = ["| path | operators | keys | events | seconds | events/s | share of engine |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['path']} | {r['operators']} | {r['keys']} | {r['events']} | {r['seconds']:.2f} | "
                   f"{r['events_per_s']:,} | {100 * r['share_of_engine']:.1f} % |")
    return "\n".join(out)
