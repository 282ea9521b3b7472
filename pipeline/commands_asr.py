"""``rnnstream transcribe``, ``rnnstream corpus speech`` and ``rnnstream train asr``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

__all__ = ["register", "register_train_asr", "register_eval_asr"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "transcribe",
        help="stream a WAV file (or the microphone) through the speech recogniser",
        description="Prints partial results as they change and final results at each endpoint. "
        "With --json, one object per line: type (partial|final), text, start, end (seconds).",
    )
    t.add_argument("wav", nargs="?", help="a WAV file (any rate; resampled to 16 kHz, downmixed)")
    t.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length, a multiple of 20 ms (default 100)")
    t.add_argument("--json", action="store_true", help="machine-readable JSON lines")
    t.add_argument("--model", default="builtin:asr", help="ASR model (.onnx) or builtin:asr")
    t.add_argument("--provider", default="auto", choices=("auto", "cpu", "cuda"))
    t.add_argument("--partials", action=argparse.BooleanOptionalAction, default=True, help="print partial results")
    t.add_argument("--mic", action="store_true", help="transcribe the microphone live (needs the audio extra)")
    t.add_argument("--device", help="input device index or name (see `rnnstream devices`)")
    t.add_argument("--kafka-topic", help="also publish transcripts to this Kafka topic (--mic)")
    t.add_argument("--bootstrap-servers", default="127.0.0.1:9092", help="Kafka brokers for --kafka-topic")
    t.add_argument("--max-seconds", type=float, default=None, help="stop after this long (--mic)")
    t.set_defaults(func=_cmd_transcribe)

    c = sub.add_parser("corpus", help="build training and evaluation corpora")
    csub = c.add_subparsers(dest="corpus", metavar="KIND", required=True)
    s = csub.add_parser(
        "speech",
        help="synthesise a speech corpus with espeak-ng, flite and festival (resumable, parallel)",
        description="Training builds use espeak-ng voices and variants, festival ked_diphone and flite awb; "
        "evaluation builds use only the reserved voices. Writes 16 kHz mono WAVs and manifest.jsonl.",
    )
    s.add_argument("--hours", type=float, help="training audio to synthesise (a build resumes up to this)")
    s.add_argument("--sentences", type=int, default=320,
                   help="eval split: held-out sentences, each spoken by every evaluation voice (default 320)")
    s.add_argument("--out", type=Path, required=True, help="corpus directory")
    s.add_argument("--split", choices=("train", "eval"), default="train")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    s.set_defaults(func=_cmd_corpus)


def register_train_asr(train_sub: argparse._SubParsersAction) -> None:
    """Adds ``asr`` to the ``train`` command's subcommands."""
    a = train_sub.add_parser(
        "asr",
        help="train the streaming CTC acoustic model on a speech corpus (needs torch)",
        description="Trains a unidirectional GRU/LSTM with a character CTC head on stacked log-mel frames, "
        "checkpointing every N steps (--resume continues), then exports ONNX + manifest.",
    )
    a.add_argument("--corpus", type=Path, required=True, help="corpus directory (manifest.jsonl)")
    a.add_argument("--out", type=Path, default=Path("asr.onnx"))
    a.add_argument("--checkpoint-dir", type=Path, default=Path("runs/asr"))
    a.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="gru")
    a.add_argument("--layers", type=int, default=2)
    a.add_argument("--hidden", type=int, default=320)
    a.add_argument("--proj", type=int, default=256)
    a.add_argument("--epochs", type=int, default=30)
    a.add_argument("--batch-frames", type=int, default=12000)
    a.add_argument("--lr", type=float, default=2e-3)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--max-steps", type=int, default=None)
    a.add_argument("--max-minutes", type=float, default=None, help="time box; the best model so far is exported")
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    a.set_defaults(func=_cmd_train_asr)


def register_eval_asr(eval_sub: argparse._SubParsersAction) -> None:
    """Adds ``asr`` to the ``eval`` command's subcommands."""
    e = eval_sub.add_parser(
        "asr",
        help="WER/CER per voice, RTF, latencies and streamed == whole-file, with pocketsphinx beside it",
        description="Streams every utterance of a corpus manifest (many at once through the batcher), "
        "scores finals against the reference text, and decodes the same audio with pocketsphinx when "
        "it is installed (a benchmark peer, never a dependency).",
    )
    e.add_argument("--manifest", type=Path, required=True, help="corpus manifest.jsonl (e.g. from corpus speech --split eval)")
    e.add_argument("--model", default="builtin:asr")
    e.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    e.add_argument("--no-peer", action="store_true", help="skip pocketsphinx")
    e.add_argument("--json", type=Path, help="write the result as JSON")
    e.set_defaults(func=_cmd_eval_asr)


def _cmd_eval_asr(args: argparse.Namespace) -> int:
    from rnnstream.evaluation.asr_eval import evaluate_asr
    from rnnstream.transcribe import Transcriber, load_asr

    result = evaluate_asr(Transcriber(load_asr(args.model, provider="cpu")), str(args.manifest), limit=args.limit,
                          peer=not args.no_peer)
    peer = "pocketsphinx_wer" in result
    print(f"| voice | utterances | WER | CER |{' pocketsphinx WER |' if peer else ''}")
    print(f"|---|---:|---:|---:|{'---:|' if peer else ''}")
    for v, r in result["voices"].items():
        extra = f" {100 * r['pocketsphinx_wer']:.1f} % |" if peer else ""
        print(f"| {v} | {r['utterances']} | {100 * r['wer']:.1f} % | {100 * r['cer']:.1f} % |{extra}")
    extra = f" {100 * result['pocketsphinx_wer']:.1f} % |" if peer else ""
    print(f"| all | {result['utterances']} | {100 * result['wer']:.1f} % | {100 * result['cer']:.1f} % |{extra}")
    fp, ef = result["first_partial_latency_s"], result["endpoint_to_final_latency_s"]
    print(f"RTF {result['rtf']:.4f}; first partial p50 {fp['p50']} s; endpoint->final p50 {ef['p50']} s; "
          f"streamed == whole-file on {result['streamed_equals_whole_count']}/{result['utterances']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from rnnstream.asr.wav import load_mono_16k
    from rnnstream.errors import ConfigError
    from rnnstream.transcribe import Transcriber, load_asr

    if args.mic:
        from rnnstream.mic_cli import transcribe_mic

        return transcribe_mic(args)
    if not args.wav:
        raise ConfigError("transcribe: give a WAV file, or --mic for the microphone")
    tr = Transcriber(load_asr(args.model, provider=args.provider, chunk_ms=args.chunk_ms))
    signal = load_mono_16k(args.wav)
    for ev in tr.stream(signal):
        if ev["type"] == "partial" and not args.partials:
            continue
        if args.json:
            print(json.dumps({k: ev[k] for k in ("type", "text", "start", "end")}), flush=True)
        elif ev["type"] == "final":
            print(f"[{ev['start']:7.2f} - {ev['end']:7.2f}] {ev['text']}", flush=True)
        elif sys.stdout.isatty():
            print(f"\r… {ev['text'][-70:]:<72}", end="", flush=True)
    return 0


def _cmd_corpus(args: argparse.Namespace) -> int:
    from rnnstream.asr.corpus import build_corpus
    from rnnstream.errors import ConfigError

    if args.split == "eval":
        from rnnstream.asr.evalset import build_eval_set

        print(build_eval_set(args.sentences, args.out, seed=args.seed or 7, workers=args.workers))
        return 0
    if args.hours is None:
        raise ConfigError("--hours: required for a training corpus")
    summary = build_corpus(args.hours, args.out, seed=args.seed, workers=args.workers, split=args.split)
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in summary.__dict__.items()}))
    return 0


def _cmd_train_asr(args: argparse.Namespace) -> int:
    from rnnstream.models.asr_trainer import AsrTrainConfig, train_asr

    cfg = AsrTrainConfig(
        corpus=args.corpus, out=args.out, checkpoint_dir=args.checkpoint_dir, cell=args.cell, layers=args.layers,
        hidden=args.hidden, proj=args.proj, epochs=args.epochs, batch_frames=args.batch_frames, lr=args.lr,
        seed=args.seed, max_steps=args.max_steps, max_minutes=args.max_minutes, threads=args.threads,
    )
    result = train_asr(cfg, resume=args.resume)
    print(json.dumps(result))
    return 0
