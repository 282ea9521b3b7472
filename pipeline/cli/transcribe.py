"""``rnnstream transcribe``: an audio file, or the microphone live (``--mic``, :mod:`rnnstream.cli.mic`)."""

from __future__ import annotations

import argparse
import json
import sys

from rnnstream.cli.options import (add_bootstrap_servers, add_chunk_ms, add_decoder_args, add_json_lines,
                                   add_max_seconds, add_mic_options, add_model_options, asr_config, build_asr)
from rnnstream.errors import ConfigError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "transcribe",
        help="stream an audio file (or the microphone) through the speech recogniser",
        description="Prints partial results as they change and final results at each endpoint. "
        "With --json, one object per line: type (partial|final), text, start, end (seconds).",
    )
    t.add_argument("wav", nargs="?", metavar="FILE",
                   help="WAV, FLAC, Ogg Vorbis/Opus or MP3 (any rate; resampled to 16 kHz, downmixed)")
    add_chunk_ms(t)
    add_json_lines(t, "machine-readable JSON lines")
    add_model_options(t)
    t.add_argument("--partials", action=argparse.BooleanOptionalAction, default=True, help="print partial results")
    add_decoder_args(t)
    t.add_argument("--mic", action="store_true", help="transcribe the microphone live (needs the audio extra)")
    t.add_argument("--kafka-topic", help="also publish transcripts to this Kafka topic (--mic)")
    add_bootstrap_servers(t)
    add_max_seconds(t, "stop after this long (--mic)")
    add_mic_options(t, "microphone (--mic)")
    t.add_argument("--record", metavar="FILE.wav",
                   help="also write the 16 kHz samples fed to the recogniser (debugging; --mic)")
    t.add_argument("--stream-key", default="mic", help="stream id for --kafka-topic rows (default mic)")
    t.set_defaults(func=_cmd_transcribe)


def _cmd_transcribe(args: argparse.Namespace) -> int:
    if args.mic:
        from rnnstream.cli.mic import transcribe_mic

        return transcribe_mic(args)
    # The flags first: a bad one is named before anything is loaded.
    cfg = asr_config(args)
    if not args.wav:
        raise ConfigError("transcribe: give an audio file, or --mic for the microphone")
    from rnnstream.apps.transcribe import Transcriber
    from rnnstream.asr.wav import load_mono_16k

    tr = Transcriber(build_asr(cfg))
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
