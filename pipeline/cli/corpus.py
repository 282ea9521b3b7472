"""``rnnstream corpus speech``, ``corpus text`` and ``corpus gutenberg``: training and evaluation corpora."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
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
    g = csub.add_parser(
        "gutenberg",
        help="build an English text corpus (train/dev/test by book) from a Project Gutenberg snapshot",
        description="Reads a snapshot of github rcdm-uga/Gutenberg_Text (bare git directory, clone or folder), "
        "drops duplicates, non-English and copyrighted books and every book LibriSpeech evaluation audio "
        "reads (CHAPTERS.TXT and transcript overlap), strips the Project Gutenberg header and footer and "
        "writes train.txt, dev.txt, test.txt (a paragraph a line) and corpus.json.",
    )
    g.add_argument("--snapshot", type=Path, required=True, help="Gutenberg_Text snapshot directory")
    g.add_argument("--librispeech", type=Path, required=True,
                   help="snapshot holding LibriSpeech's CHAPTERS.TXT and test transcripts "
                   "(github hooria-malik/speech-preprocessing-librispeech)")
    g.add_argument("--out", type=Path, required=True, help="corpus directory")
    g.add_argument("--max-books", type=int, help="use at most this many books in all")
    g.add_argument("--train-words", type=int, help="train split word budget (default: every train book)")
    g.add_argument("--heldout-words", type=int, help="dev and test word budget each (default: every book)")
    g.add_argument("--book-words", type=int, help="take at most this many words from one book (more books)")
    g.set_defaults(func=_cmd_corpus_gutenberg)

    m = csub.add_parser(
        "manifest",
        help="a manifest of real recordings (for train asr / eval asr) from a corpus as it unpacks",
        description="Scans LibriSpeech or Mini LibriSpeech (OpenSLR 12, 31), CMU AN4, a CMU ARCTIC voice or audio/text pairs "
        "and writes JSON lines (id, path relative to the manifest, normalised text, speaker, source, seconds).",
    )
    m.add_argument("--layout", required=True, choices=("librispeech", "an4", "arctic", "pairs"),
                   help="pairs: each audio file with its transcript beside it as NAME.txt")
    m.add_argument("--root", type=Path, required=True, help="the unpacked folder (e.g. LibriSpeech/dev-clean)")
    m.add_argument("--source", help="the source name written per entry (default: the layout)")
    m.add_argument("--out", type=Path, required=True, help="manifest .jsonl to write")
    m.set_defaults(func=_cmd_corpus_manifest)


def _cmd_corpus_manifest(args: argparse.Namespace) -> int:
    from rnnstream.models.corpus.manifests import scan, write_manifest

    print(json.dumps(write_manifest(scan(args.layout, args.root, args.source), args.out)))
    return 0


def _cmd_corpus_gutenberg(args: argparse.Namespace) -> int:
    from rnnstream.models.textcorpus import build_gutenberg_corpus

    summary = build_gutenberg_corpus(args.snapshot, args.librispeech, args.out, max_books=args.max_books,
                                     train_words=args.train_words, heldout_words=args.heldout_words,
                                     book_words=args.book_words)
    print(json.dumps({"out": str(args.out), "excluded": len(summary["excluded"]),
                      **{s: {k: v for k, v in d.items() if k != "books"} | {"books": len(d["books"])}
                         for s, d in summary["splits"].items()}}))
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
