"""``rnnstream train logkeys``, ``train nextword`` and ``train lm``: the models of text.

Both follow the trainer's conventions: a checkpoint every two minutes and at each
validation (``--resume`` continues it), gradient clipping, a progress bar, a loss-curve PNG
beside the model, and an ONNX export checked step by step against torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register_text"]

# (flag, TokenTrainConfig field, type, help)
_TRAIN_FLAGS = (
    ("--cell", "cell", str, "lstm or gru"),
    ("--embed", "embed", int, "token embedding width"),
    ("--hidden", "hidden", int, "hidden units"),
    ("--layers", "layers", int, "stacked recurrent layers"),
    ("--batch-size", "batch_size", int, "sessions or lanes per batch"),
    ("--window", "window", int, "nextword: words per truncated-BPTT window"),
    ("--lr", "lr", float, "peak Adam learning rate"),
    ("--clip-norm", "clip_norm", float, "gradient-norm clip"),
    ("--max-steps", "max_steps", int, "optimiser steps"),
    ("--eval-every", "eval_every", int, "steps between validations"),
    ("--patience", "patience", int, "validations without improvement before early stop"),
    ("--seed", "seed", int, "training seed"),
    ("--threads", "threads", int, "torch CPU threads"),
)


def _common(p: argparse.ArgumentParser, defaults: dict) -> None:
    for flag, field, typ, text in _TRAIN_FLAGS:
        p.add_argument(flag, dest="cfg:" + field, type=typ, default=defaults.get(field),
                       help=f"{text} (default {defaults.get(field, 'the trainer default')})")
    p.add_argument("--out", required=True, type=Path, help="output .onnx path; the manifest goes beside it")
    p.add_argument("--name", help="model name in the manifest")
    p.add_argument("--checkpoint-dir", type=Path, help="checkpoint folder (default <out>.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register_text(tasks: argparse._SubParsersAction) -> None:
    lk = tasks.add_parser("logkeys", help="DeepLog-style LSTM over log template ids (HDFS sessions)",
                          description="Train on normal sessions, choose top_g on a labelled validation split.")
    lk.add_argument("--sessions", required=True, type=Path, help="normal sessions, one per line (template ids)")
    lk.add_argument("--templates", required=True, type=Path, help="loghub templates CSV (EventId,EventTemplate)")
    lk.add_argument("--valid", required=True, type=Path, help="labelled validation CSV (Sequence,label)")
    lk.add_argument("--content-pattern", help="regex with (?P<content>...) for the message part (default HDFS)")
    lk.add_argument("--top-k", type=int, default=9, help="expected templates listed per event (default 9)")
    _common(lk, {"cell": "lstm", "embed": 16, "hidden": 64, "max_steps": 1500, "batch_size": 64})
    lk.set_defaults(func=_cmd_logkeys)
    nw = tasks.add_parser("nextword", help="word-level GRU language model (public-domain English text)",
                          description="Train on a text file, validate on another; vocabulary from the train text.")
    nw.add_argument("--train", required=True, type=Path, help="training text, UTF-8")
    nw.add_argument("--dev", required=True, type=Path, help="validation text, UTF-8 (early stopping)")
    nw.add_argument("--vocab-size", type=int, default=5000, help="most frequent training words kept (default 5000)")
    nw.add_argument("--top-k", type=int, default=5, help="next words listed per event (default 5)")
    _common(nw, {"cell": "gru", "embed": 128, "hidden": 192, "max_steps": 3000, "batch_size": 32, "window": 48})
    nw.set_defaults(func=_cmd_nextword)
    lm = tasks.add_parser("lm", help="word n-gram LM for speech finals (e.g. builtin:lm-en) from plain text",
                          description="Counts n-grams of text files (a paragraph or sentence a line; .jsonl "
                          "manifests give their text fields) with Kneser-Ney smoothing, keeps the most frequent "
                          "spellable words and the n-grams above the cutoffs, and writes a .npz word LM.")
    lm.add_argument("--text", type=Path, nargs="+", required=True, help="text files or speech manifests")
    lm.add_argument("--weight", type=int, nargs="+", default=None,
                    help="times each --text is counted (e.g. 1 20: transcripts twenty times)")
    lm.add_argument("--vocab", type=int, default=64000, help="words kept (default 64000)")
    lm.add_argument("--order", type=int, default=3, help="n-gram order, 1-3 (default 3)")
    lm.add_argument("--cutoffs", type=int, nargs="+", default=[1, 2],
                    help="keep 2-grams, 3-grams seen at least this often (default 1 2)")
    lm.add_argument("--out", type=Path, required=True, help="output .npz")
    lm.set_defaults(func=_cmd_lm)


def _cmd_lm(args: argparse.Namespace) -> int:
    from rnnstream.models.wordlm_build import build_word_lm

    print(json.dumps(build_word_lm(args.text, args.out, vocab_size=args.vocab, order=args.order,
                                   cutoffs=args.cutoffs, weights=args.weight)))
    return 0


def _config(args: argparse.Namespace):
    from rnnstream.models.token_trainer import TokenTrainConfig

    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg:") and v is not None}
    return TokenTrainConfig(**given)


def _progress(args: argparse.Namespace, total: int):
    if args.no_progress:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="step")

    def update(step: int, loss: float, val: float | None) -> None:
        bar.n = step
        bar.set_postfix_str(f"loss {loss:.3f}" + (f" val {val:.3f}" if val is not None else ""), refresh=False)
        bar.refresh()

    return update, bar


def _curve(out: Path) -> None:
    from rnnstream.engine.manifest import load_manifest
    from rnnstream.models.plots import plot_loss_curves

    manifest, _ = load_manifest(out)
    history = manifest.training.get("history") or []
    if history:
        plot_loss_curves(history, out.with_suffix(".loss.png"), title=manifest.name, ylabel="cross-entropy (nats)")


def _train(args: argparse.Namespace, train, job, cfg) -> int:
    """Run ``train(job, cfg, ...)`` with the progress bar, then the loss curve and the figures."""
    update, bar = _progress(args, cfg.max_steps)
    try:
        result = train(job, cfg, resume=args.resume, progress=update)
    finally:
        if bar is not None:
            bar.close()
    _curve(args.out)
    print(json.dumps(result))
    return 0


def _cmd_logkeys(args: argparse.Namespace) -> int:
    from rnnstream.models.logkeys_train import HDFS_CONTENT, LogkeysJob, train_logkeys

    job = LogkeysJob(sessions=args.sessions, templates=args.templates, valid=args.valid, out=args.out,
                     name=args.name or "logkeys", content_pattern=args.content_pattern or HDFS_CONTENT,
                     top_k=args.top_k, checkpoint_dir=args.checkpoint_dir or args.out.with_suffix(".ckpt"))
    return _train(args, train_logkeys, job, _config(args))


def _cmd_nextword(args: argparse.Namespace) -> int:
    from rnnstream.models.nextword_train import NextwordJob, train_nextword

    job = NextwordJob(train=args.train, dev=args.dev, out=args.out, name=args.name or "nextword",
                      vocab_size=args.vocab_size, top_k=args.top_k,
                      checkpoint_dir=args.checkpoint_dir or args.out.with_suffix(".ckpt"))
    return _train(args, train_nextword, job, _config(args))
