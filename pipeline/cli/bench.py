"""``rnnstream bench ...``: throughput and latency benchmarks (figures, never pass/fail tests)."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from rnnstream.cli.asr import add_decoder_args, decoder_options
from rnnstream.errors import ConfigError

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

    a = bsub.add_parser(
        "asr",
        help="how many concurrent 100 ms-chunk streams keep up in real time, batched vs one per call",
        description="Streams N copies of speech (offset per stream) through the ASR operator and finds the "
        "largest N whose p95 chunk processing time stays under the chunk length.",
    )
    a.add_argument("--model", default="builtin:asr")
    a.add_argument("--wav", help="speech to stream (default: synthesised with espeak-ng)")
    a.add_argument("--chunk-ms", type=float, default=100.0)
    a.add_argument("--seconds", type=float, default=2.2,
                   help="stream time per configuration (default %(default)s); with --lm use 8 or more, so "
                   "every stream reaches endpoints and its finals are beam-decoded inside the measurement")
    a.add_argument("--streams", default="1,10,25,50,100,150,200,300,400",
                   help="concurrent stream counts to try, comma-separated (default %(default)s)")
    a.add_argument("--json", type=Path, help="write the result rows as a JSON list")
    add_decoder_args(a)
    a.set_defaults(func=_cmd_asr)

    from rnnstream.bench.kafka import register_kafka
    from rnnstream.bench.mic import register_mic

    register_kafka(bsub)
    register_mic(bsub)


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


def _cmd_asr(args: argparse.Namespace) -> int:
    import numpy as np

    from rnnstream.bench.asr import format_asr_table, run_asr_bench
    from rnnstream.apps.transcribe import load_asr

    try:
        counts = tuple(int(x) for x in args.streams.split(","))
    except ValueError:
        raise ConfigError(f"--streams: comma-separated integers, got {args.streams!r}") from None
    if not counts or min(counts) < 1:
        raise ConfigError(f"--streams: counts must be >= 1, got {args.streams!r}")
    if args.seconds * 1000 < 3 * args.chunk_ms:
        raise ConfigError(f"--seconds: need at least 3 chunks of {args.chunk_ms:g} ms, got {args.seconds:g} s")
    op = load_asr(args.model, chunk_ms=args.chunk_ms, provider="cpu", **decoder_options(args))
    if args.wav:
        from rnnstream.asr.wav import load_mono_16k

        audio = load_mono_16k(args.wav)
    else:
        from rnnstream.models.corpus.synth import SynthParams, synthesize
        from rnnstream.models.corpus.voices import Voice

        text = "please turn on the kitchen lights and set the alarm for seven thirty tomorrow morning"
        # A second of silence after each sentence: streams reach endpoints, so finals are measured too.
        audio = np.concatenate([synthesize(Voice("espeak-ng", "en-us"), text, SynthParams()),
                                np.zeros(16000, np.float32)])
    audio = np.tile(audio, max(1, int(np.ceil(16000 * 20 / audio.size))))
    chunks = int(round(args.seconds * 1000 / args.chunk_ms))
    rows = run_asr_bench(op, audio, counts=counts, chunks=chunks)
    finals = "greedy" if op.rescore is None else f"beam {op.rescore.beam_size}" + (" + LM" if args.lm else "")
    if op.companion is not None:
        finals += f" + companion {op.companion.manifest.name} (weight {args.companion_weight:g})"
    print(f"rnnstream bench asr on {platform.machine()}, intra_op_threads=1, chunk {args.chunk_ms:g} ms, "
          f"{chunks} chunks per stream, finals: {finals}")
    print(format_asr_table(rows, args.chunk_ms))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0
