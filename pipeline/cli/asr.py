"""``rnnstream transcribe``, ``rnnstream corpus speech`` and ``rnnstream train asr``."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

from rnnstream.asr.beam import DEFAULT_BEAM, DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT, DEFAULT_WORD_BONUS
from rnnstream.asr.rescore import DEFAULT_COMPANION_WEIGHT

__all__ = ["register", "register_train_asr", "register_eval_asr", "add_decoder_args", "decoder_options"]

log = logging.getLogger(__name__)


def add_decoder_args(p: argparse.ArgumentParser) -> None:
    """Flags that switch finals from greedy CTC to prefix beam search with a word LM."""
    g = p.add_argument_group("decoding (finals; partials stay greedy)")
    g.add_argument("--beam", type=int, default=None,
                   help=f"prefix beam search with this many beams ({DEFAULT_BEAM} with --lm)")
    g.add_argument("--lm", type=Path, default=None, metavar="TEXT",
                   help="text file, one sentence per line: trains a word n-gram LM and a lexicon for the beam")
    g.add_argument("--lm-order", type=int, default=3, help="n-gram order of the --lm model (1-5, default 3)")
    g.add_argument("--lm-weight", type=float, default=DEFAULT_LM_WEIGHT,
                   help=f"LM weight alpha (default {DEFAULT_LM_WEIGHT})")
    g.add_argument("--word-bonus", type=float, default=DEFAULT_WORD_BONUS,
                   help=f"score added per word, beta (default {DEFAULT_WORD_BONUS})")
    g.add_argument("--blank-penalty", type=float, default=DEFAULT_BLANK_PENALTY,
                   help=f"nats taken from the blank on every frame, with --lm (default {DEFAULT_BLANK_PENALTY})")
    g.add_argument("--companion", default=None, metavar="MODEL",
                   help="a second ASR model (.onnx or builtin:asr-companion) that also decodes each final; "
                   "the pooled n-best is rescored with both models (needs --beam or --lm)")
    g.add_argument("--companion-weight", type=float, default=DEFAULT_COMPANION_WEIGHT,
                   help=f"the companion's share of the acoustic score, 0 to <1 (default {DEFAULT_COMPANION_WEIGHT})")


def decoder_options(args: argparse.Namespace) -> dict:
    """``load_asr`` keyword arguments from :func:`add_decoder_args` flags (reads the LM text)."""
    from rnnstream.runtime.build import read_lm_text
    from rnnstream.errors import ConfigError

    sentences = None if args.lm is None else read_lm_text(args.lm, "--lm")
    if args.beam is not None and args.beam < 1:
        raise ConfigError(f"--beam: must be >= 1, got {args.beam}")
    if not 1 <= args.lm_order <= 5:
        raise ConfigError(f"--lm-order: must be 1..5, got {args.lm_order}")
    # The same rule as the decoder's, checked here so that the error names the flag.
    if not (args.blank_penalty >= 0 and math.isfinite(args.blank_penalty)):
        raise ConfigError(f"--blank-penalty: must be a finite number >= 0, got {args.blank_penalty}")
    if not 0 <= args.companion_weight < 1:
        raise ConfigError(f"--companion-weight: must be >= 0 and < 1, got {args.companion_weight}")
    if args.companion is not None and args.beam is None and args.lm is None:
        raise ConfigError("--companion: needs beam-decoded finals (--beam or --lm)")
    return {"beam": args.beam, "lm_sentences": sentences, "alpha": args.lm_weight, "beta": args.word_bonus,
            "order": args.lm_order, "blank_penalty": args.blank_penalty, "companion": args.companion,
            "companion_weight": args.companion_weight}


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
    add_decoder_args(t)
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
                   help="eval split: held-out sentences, each spoken by every evaluation voice (default 320); "
                   "tune split: held-out sentences outside the eval set, spoken by flite awb and festival "
                   "ked_diphone, for choosing decoder settings without touching a reserved voice")
    s.add_argument("--out", type=Path, required=True, help="corpus directory")
    s.add_argument("--split", choices=("train", "eval", "tune"), default="train")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--engine-weight", action="append", default=[], metavar="ENGINE=W",
                   help="train split: how often an engine speaks, repeatable "
                   "(default espeak-ng=0.6 flite=0.2 festival=0.2)")
    s.add_argument("--speed", type=float, nargs=2, metavar=("LO", "HI"),
                   help="train split: speed-perturbation range; resampling also shifts pitch and formants, "
                   "which stands in for speakers the corpus lacks (default 0.9 1.1)")
    s.add_argument("--f0", type=float, nargs=2, metavar=("LO", "HI"),
                   help="train split: mean pitch (Hz) for flite and festival utterances, drawn whatever the "
                   "voice's sex, with a random spread; moves pitch without the formants (default: each "
                   "voice's own range, festival unchanged)")
    s.set_defaults(func=_cmd_corpus)
    x = csub.add_parser(
        "text",
        help="write training-split sentences, one per line (LM text for --lm)",
        description="Sentences from the generator's training split: they never occur in the evaluation set.",
    )
    x.add_argument("--sentences", type=int, default=50000)
    x.add_argument("--seed", type=int, default=1)
    x.add_argument("--out", type=Path, required=True)
    x.set_defaults(func=_cmd_corpus_text)


def register_train_asr(train_sub: argparse._SubParsersAction) -> None:
    """Adds ``asr`` to the ``train`` command's subcommands."""
    a = train_sub.add_parser(
        "asr",
        help="train the streaming CTC acoustic model on a speech corpus (needs torch)",
        description="Trains a unidirectional GRU/LSTM with a character CTC head on stacked log-mel frames, "
        "checkpointing every N steps (--resume continues), then exports ONNX + manifest.",
    )
    a.add_argument("--corpus", type=Path, nargs="+", required=True,
                   help="corpus directories (manifest.jsonl each), trained on together")
    a.add_argument("--init", type=Path, default=None,
                   help="fine-tune: start from the weights in this checkpoint directory, or from an "
                        "exported model (e.g. models/artifacts/asr.onnx), keeping its feature normalisation")
    a.add_argument("--warp", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="vocal-tract warp range applied to training features (default 0.85 1.2)")
    a.add_argument("--band-limit-prob", type=float, default=None,
                   help="share of training utterances band-limited to 3.4-4.2 kHz (default 0.15)")
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
    a.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where torch trains: auto uses a GPU when torch sees one (default auto)")
    a.add_argument("--patience", type=int, default=4, help="epochs without validation gain before stopping")
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
    e.add_argument("--voice", action="append", default=None, metavar="ENGINE:NAME",
                   help="only these voices (repeatable)")
    add_decoder_args(e)
    e.add_argument("--no-peer", action="store_true", help="skip pocketsphinx")
    e.add_argument("--peer-from", type=Path, default=None, metavar="JSON",
                   help="reuse pocketsphinx's scores from an earlier --json result on the same manifest "
                   "instead of running it again (it runs at about 0.4x real time here)")
    e.add_argument("--json", type=Path, help="write the result as JSON")
    e.set_defaults(func=_cmd_eval_asr)


def _cmd_eval_asr(args: argparse.Namespace) -> int:
    from rnnstream.evaluation.asr_eval import evaluate_asr
    from rnnstream.apps.transcribe import Transcriber, load_asr

    decoding = decoder_options(args)
    op = load_asr(args.model, provider="cpu", **decoding)
    # --peer-from stands in for a pocketsphinx run: never spend the 0.4x-real-time decode twice.
    peer = not args.no_peer and args.peer_from is None
    result = evaluate_asr(Transcriber(op), str(args.manifest), limit=args.limit, peer=peer,
                          voices=set(args.voice) if args.voice else None)
    if args.peer_from is not None:
        _reuse_peer(result, args.peer_from)
    lm = args.lm is not None
    result["decoding"] = {
        "finals": "greedy" if op.rescore is None else "beam",
        "beam": op.rescore.beam_size if op.rescore is not None else None,
        "lm": str(args.lm) if lm else None, "lm_order": args.lm_order if lm else None,
        "lm_weight": decoding["alpha"] if lm else None, "word_bonus": decoding["beta"] if lm else None,
        "blank_penalty": decoding["blank_penalty"] if lm else None,
        "companion": args.companion, "companion_weight": args.companion_weight if args.companion else None,
    }
    peer = all("pocketsphinx_wer" in r for r in result["voices"].values())
    print(f"| voice | utterances | WER | CER |{' pocketsphinx WER |' if peer else ''}")
    print(f"|---|---:|---:|---:|{'---:|' if peer else ''}")
    for v, r in result["voices"].items():
        extra = f" {100 * r['pocketsphinx_wer']:.1f} % |" if peer else ""
        print(f"| {v} | {r['utterances']} | {100 * r['wer']:.1f} % | {100 * r['cer']:.1f} % |{extra}")
    extra = f" {100 * result['pocketsphinx_wer']:.1f} % |" if "pocketsphinx_wer" in result else (" |" if peer else "")
    print(f"| all | {result['utterances']} | {100 * result['wer']:.1f} % | {100 * result['cer']:.1f} % |{extra}")
    fp, ef = result["first_partial_latency_s"], result["endpoint_to_final_latency_s"]
    print(f"RTF {result['rtf']:.4f}; first partial p50 {fp['p50']} s; endpoint->final p50 {ef['p50']} s; "
          f"streamed == whole-file on {result['streamed_equals_whole_count']}/{result['utterances']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _reuse_peer(result: dict, path: Path) -> None:
    from rnnstream.errors import ConfigError

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--peer-from: cannot read {path}: {exc}") from None
    if "pocketsphinx_wer" not in old:
        raise ConfigError(f"--peer-from: {path} has no pocketsphinx scores")
    for voice, row in result["voices"].items():
        prev = old.get("voices", {}).get(voice)
        if prev is None or prev.get("utterances") != row["utterances"] or "pocketsphinx_wer" not in prev:
            raise ConfigError(f"--peer-from: {path} did not score the same {voice} utterances")
        row["pocketsphinx_wer"] = prev["pocketsphinx_wer"]
    if old.get("utterances") == result["utterances"]:
        result["pocketsphinx_wer"] = old["pocketsphinx_wer"]
    result["pocketsphinx_from"] = str(path)


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from rnnstream.asr.wav import load_mono_16k
    from rnnstream.errors import ConfigError
    from rnnstream.apps.transcribe import Transcriber, load_asr

    if args.mic:
        from rnnstream.cli.mic import transcribe_mic

        return transcribe_mic(args)
    if not args.wav:
        raise ConfigError("transcribe: give a WAV file, or --mic for the microphone")
    tr = Transcriber(load_asr(args.model, provider=args.provider, chunk_ms=args.chunk_ms, **decoder_options(args)))
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


def _cmd_corpus_text(args: argparse.Namespace) -> int:
    from rnnstream.models.corpus.sentences import SentenceGenerator
    from rnnstream.errors import ConfigError

    if args.sentences < 1:
        raise ConfigError(f"--sentences: must be >= 1, got {args.sentences}")
    lines = SentenceGenerator(seed=args.seed).sample(args.sentences, "train")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps({"out": str(args.out), "sentences": len(lines)}))
    return 0


def _cmd_corpus(args: argparse.Namespace) -> int:
    from rnnstream.models.corpus.build import build_corpus
    from rnnstream.models.corpus.synth import check_f0_range
    from rnnstream.errors import ConfigError

    if args.split in ("eval", "tune"):
        from rnnstream.models.corpus.evalset import build_eval_set

        print(build_eval_set(args.sentences, args.out, seed=args.seed or 7, workers=args.workers,
                             tune=args.split == "tune"))
        return 0
    if args.hours is None:
        raise ConfigError("--hours: required for a training corpus")
    weights = None
    if args.engine_weight:
        weights = {}
        for item in args.engine_weight:
            engine, _, w = item.partition("=")
            try:  # a missing '=' leaves w empty, which float() rejects too
                weights[engine] = float(w)
            except ValueError:
                raise ConfigError(f"--engine-weight: expected ENGINE=NUMBER, got {item!r}") from None
    aug = None
    if args.speed is not None:
        from rnnstream.models.corpus.augment import AugmentConfig

        aug = AugmentConfig(tempo=tuple(args.speed), tempo_prob=0.8)
    f0 = tuple(args.f0) if args.f0 is not None else None
    check_f0_range(f0, "--f0")
    summary = build_corpus(args.hours, args.out, seed=args.seed, workers=args.workers, split=args.split,
                           engine_weights=weights, augment_config=aug, f0_range=f0)
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in summary.__dict__.items()}))
    return 0


def _feature_augment(args: argparse.Namespace):
    from rnnstream.models.asr_augment import FeatureAugment

    given = {"warp": tuple(args.warp) if args.warp else None, "band_limit_prob": args.band_limit_prob}
    return FeatureAugment(**{k: v for k, v in given.items() if v is not None})


def _cmd_train_asr(args: argparse.Namespace) -> int:
    from rnnstream.models.asr_trainer import AsrTrainConfig, train_asr

    cfg = AsrTrainConfig(
        corpus=args.corpus, out=args.out, checkpoint_dir=args.checkpoint_dir, cell=args.cell, layers=args.layers,
        hidden=args.hidden, proj=args.proj, epochs=args.epochs, batch_frames=args.batch_frames, lr=args.lr,
        seed=args.seed, max_steps=args.max_steps, max_minutes=args.max_minutes, threads=args.threads,
        init=args.init, augment=_feature_augment(args), patience=args.patience, device=args.device,
    )
    result = train_asr(cfg, resume=args.resume)
    print(json.dumps(result))
    return 0
