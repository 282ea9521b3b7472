"""``rnnstream bench ...``: throughput and latency benchmarks (figures, never pass/fail tests)."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print a table (add --json FILE for rows)")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    e = bsub.add_parser(
        "engine",
        help="scheduler vs one session.run per event vs torch eager (needs the train extra for torch)",
        description="GRU(I=8,H=64) and LSTM(I=80,H=256) over 1, 100 and 10000 keys, modes batched, "
        "per_event, torch_eager and bare_session, side by side in one run.",
    )
    e.add_argument("--json", type=Path, help="write the result rows as a JSON list")
    e.add_argument("--keys", default="1,100,10000", help="comma-separated key counts (default %(default)s)")
    e.add_argument("--models", default="gru64,lstm256", help="comma-separated: gru64, lstm256")
    e.add_argument("--max-batch", type=int, default=1024, help="scheduler max_batch (default %(default)s)")
    e.add_argument("--seconds", type=float, default=1.5, help="time budget per mode and key count")
    e.set_defaults(func=_cmd_engine)


def _cmd_engine(args: argparse.Namespace) -> int:
    from rnnstream.bench.engine import format_table, run_engine_bench

    rows = run_engine_bench(
        keys=tuple(int(k) for k in args.keys.split(",")),
        models=tuple(args.models.split(",")),
        max_batch=args.max_batch,
        budget_s=args.seconds,
    )
    print(f"rnnstream bench engine on {platform.machine()} ({platform.python_version()}), intra_op_threads=1")
    print(format_table(rows))
    for r in rows:
        if r["mode"] == "batched":
            print(f"{r['model']} @ {r['keys']} keys: {r['bytes_per_key']:.0f} bytes of slab state per key")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0
