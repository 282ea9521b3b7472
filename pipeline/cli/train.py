"""``rnnstream train forecast|anomaly``: train a quantile model from flags or a YAML file;
``rnnstream train asr``: the streaming CTC acoustic model on a speech corpus.

Flags override the file. torch is imported only when the command runs, so the runtime
never needs it. The exact flags-only command that reproduces a run is written into the
model's manifest (``training.command``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
from pathlib import Path
from typing import Any

from rnnstream.errors import ConfigError

__all__ = ["register", "build_config", "config_to_argv", "FLAGS"]

log = logging.getLogger(__name__)

# (flag, config path, type, help). A dotted path sets a field of a nested section.
FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--data", "data", str, "CSV/JSONL file or directory of them (columns: timestamp, [key], values)"),
    ("--time-col", "time_col", str, "time column (default: timestamp, ts or time)"),
    ("--key-col", "key_col", str, "key column (default: key if present, else one key per file)"),
    ("--value-cols", "value_cols", lambda s: [c for c in s.split(",") if c], "comma-separated value columns"),
    ("--synthetic-seed", "synthetic.seed", int, "train on generated data with this seed (instead of --data)"),
    ("--synthetic-keys", "synthetic.keys", int, "generated keys (default 48)"),
    ("--synthetic-steps", "synthetic.steps", int, "steps per generated key (default 4000)"),
    ("--synthetic-step-s", "synthetic.step_s", float, "seconds between generated steps (default 300)"),
    ("--synthetic-anomaly-rate", "synthetic.anomaly_rate", float, "injected anomalies per step (default 0.001)"),
    ("--synthetic-recipe", "synthetic.recipe", str, "basic or mixed (default mixed)"),
    ("--out", "out", str, "output .onnx path; the .json manifest goes beside it"),
    ("--name", "name", str, "model name in the manifest"),
    ("--cell", "cell", str, "rnn, lstm or gru (default gru)"),
    ("--layers", "layers", int, "stacked recurrent layers (default 1)"),
    ("--hidden", "hidden", int, "hidden units (default 48)"),
    ("--dropout", "dropout", float, "dropout between stacked layers (default 0)"),
    ("--horizon", "horizon", int, "forecast steps (default 12 forecast, 1 anomaly)"),
    ("--quantiles", "quantiles", lambda s: [float(q) for q in s.split(",")], "e.g. 0.1,0.5,0.9"),
    ("--alpha-min", "alpha_min", float, "floor weight of the per-key online normalisation (default 0.005)"),
    ("--window", "window", int, "truncated-BPTT window in steps (default 64)"),
    ("--segment-windows", "segment_windows", int, "windows per lane; state carries across them (default 8)"),
    ("--burn-in", "burn_in", int, "unscored warm-up steps of lanes that start mid-series (default 32)"),
    ("--val-fraction", "val_fraction", float, "held-out tail of each series (default 0.2)"),
    ("--batch-size", "batch_size", int, "lanes per batch (default 32)"),
    ("--lr", "lr", float, "peak Adam learning rate (default 3e-3)"),
    ("--lr-schedule", "lr_schedule", str, "cosine, step or constant (default cosine)"),
    ("--warmup-steps", "warmup_steps", int, "linear LR warm-up steps (default 50)"),
    ("--clip-norm", "clip_norm", float, "gradient-norm clip (default 1.0)"),
    ("--weight-decay", "weight_decay", float, "Adam weight decay (default 0)"),
    ("--max-steps", "max_steps", int, "optimiser steps (default 2000)"),
    ("--eval-every", "eval_every", int, "steps between validations (default 100)"),
    ("--patience", "patience", int, "validations without improvement before early stop (default 6)"),
    ("--seed", "seed", int, "training seed (default 0)"),
    ("--threads", "threads", int, "torch CPU threads (default 1; results are deterministic per count)"),
    ("--checkpoint-dir", "checkpoint_dir", str, "checkpoint folder (default <out>.ckpt)"),
    ("--checkpoint-every", "checkpoint_every", int, "steps between checkpoints (default 200)"),
    ("--plot", "plot", str, "loss-curve PNG (default <out stem>_loss.png)"),
    ("--lik-warmup", "likelihood.warmup", int, "anomaly: events before a key's likelihood is reported"),
    ("--lik-hold", "likelihood.hold", int, "anomaly: events a key stays quiet after an alert"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a forecast or anomaly model (needs the train extra: torch)",
        description="Train a GRU/LSTM/RNN quantile model on sensor CSV/JSONL data or generated data, "
        "checkpointing as it goes, then export it to ONNX after a streaming-parity check.",
    )
    tasks = p.add_subparsers(dest="task", metavar="TASK", required=True)
    for task, text in (("forecast", "p10/p50/p90 for the next H steps"), ("anomaly", "a horizon-1 model for anomaly scores")):
        t = tasks.add_parser(task, help=text, description=f"Train a {task} model. Flags override --config.")
        t.add_argument("--config", help="YAML file with any of the fields below (flags win)")
        for flag, path, typ, text_ in FLAGS:
            if path.startswith("likelihood.") and task != "anomaly":
                continue
            t.add_argument(flag, dest="cfg:" + path, type=typ, default=None, help=text_)
        t.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
        t.add_argument("--no-progress", action="store_true", help="no progress bar")
        t.add_argument("--stop-after-steps", type=int, default=None, help=argparse.SUPPRESS)
        t.set_defaults(func=_cmd_train)
    _register_asr(tasks)
    from rnnstream.cli.train_text import register_text

    register_text(tasks)


def _register_asr(train_sub: argparse._SubParsersAction) -> None:
    a = train_sub.add_parser(
        "asr",
        help="train the streaming CTC acoustic model on a speech corpus (needs torch)",
        description="Trains a unidirectional GRU/LSTM with a character CTC head on stacked log-mel frames, "
        "checkpointing every N steps (--resume continues), then exports ONNX + manifest.",
    )
    a.add_argument("--corpus", type=Path, nargs="+", required=True,
                   help="corpus directories (manifest.jsonl each) or JSON-lines manifests of recordings "
                        "(path, text, speaker), trained on together; name one twice to weight it up")
    a.add_argument("--dev", type=Path, default=None,
                   help="manifest held out for validation and early stopping (default: 5%% of the training set)")
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

def _set(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = tree.get(p)
        tree[p] = node = dict(node) if isinstance(node, dict) else {}
        tree = node
    tree[leaf] = value


def build_config(task: str, file_obj: dict | None, overrides: dict[str, Any]):
    """Merge a YAML mapping and flag values (dotted paths) into a validated TrainConfig."""
    from rnnstream.models.train_config import parse_train_config

    merged: dict[str, Any] = dict(file_obj or {})
    if merged.get("task", task) != task:
        raise ConfigError(f"task: the config file says {merged['task']!r} but the command is 'train {task}'")
    merged["task"] = task
    given = {path: value for path, value in overrides.items() if value is not None}
    # A data flag replaces the file's data source of the other kind rather than clashing with it.
    if "data" in given:
        merged.pop("synthetic", None)
    if any(path.startswith("synthetic.") for path in given) and "data" not in given:
        merged.pop("data", None)
    for path, value in given.items():
        _set(merged, path, value)
    merged.setdefault("out", f"rnnstream-{task}.onnx")
    if merged.get("checkpoint_dir") is None:
        merged["checkpoint_dir"] = str(Path(merged["out"]).with_suffix(".ckpt"))
    return parse_train_config(merged)


def config_to_argv(cfg) -> list[str]:
    """A flags-only command line that rebuilds ``cfg`` (defaults left out)."""
    from rnnstream.models.train_config import TrainConfig

    dumped = cfg.model_dump(mode="json")
    defaults = {k: f.get_default(call_default_factory=True) for k, f in TrainConfig.model_fields.items()}
    argv = ["rnnstream", "train", cfg.task]
    for flag, path, _, _ in FLAGS:
        head, _, leaf = path.partition(".")
        value = dumped.get(head)
        if leaf:
            if value is None:
                continue
            section_default = type(getattr(cfg, head))().model_dump(mode="json")
            value, default = value.get(leaf), section_default.get(leaf)
            if head in ("synthetic", "likelihood"):
                # Always spell out the data it was trained on, and a section that is present
                # even at its defaults (left out, the section would read as absent).
                default = object()
        else:
            default = defaults.get(head)
        if value is None or value == default:
            continue
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        argv += [flag, text]
    return argv


def _cmd_train(args: argparse.Namespace) -> int:
    file_obj = None
    if args.config:
        import yaml

        try:
            file_obj = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read train config {args.config}: {exc}") from None
        if not isinstance(file_obj, dict):
            raise ConfigError(f"{args.config}: expected a mapping of training settings")
    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg:")}
    cfg = build_config(args.task, file_obj, overrides)
    try:
        from rnnstream.models.trainer import train
    except ImportError as exc:
        raise ConfigError(f"training needs the train extra (pip install 'rnnstream[train]'): {exc}") from None
    command = shlex.join(config_to_argv(cfg))
    result = train(cfg, resume=args.resume, stop_at_step=args.stop_after_steps, progress=not args.no_progress,
                   command=command)
    if result.stopped == "interrupted":
        print(f"stopped after step {result.steps}; continue with --resume")
        return 0
    best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.5f}"
    print(f"wrote {result.onnx_path} (+ .json manifest); steps {result.steps} ({result.stopped}), "
          f"best val loss {best} at step {result.best_step}, parity error {result.parity_error:.1e}, "
          f"loss curves {result.plot_path}")
    print(f"reproduce with: {command}")
    return 0


def _feature_augment(args: argparse.Namespace):
    from rnnstream.models.asr_augment import FeatureAugment

    given = {"warp": tuple(args.warp) if args.warp else None, "band_limit_prob": args.band_limit_prob}
    return FeatureAugment(**{k: v for k, v in given.items() if v is not None})


def _cmd_train_asr(args: argparse.Namespace) -> int:
    from rnnstream.models.asr_trainer import AsrTrainConfig, train_asr

    cfg = AsrTrainConfig(
        corpus=args.corpus, dev=args.dev, out=args.out, checkpoint_dir=args.checkpoint_dir, cell=args.cell, layers=args.layers,
        hidden=args.hidden, proj=args.proj, epochs=args.epochs, batch_frames=args.batch_frames, lr=args.lr,
        seed=args.seed, max_steps=args.max_steps, max_minutes=args.max_minutes, threads=args.threads,
        init=args.init, augment=_feature_augment(args), patience=args.patience, device=args.device,
    )
    result = train_asr(cfg, resume=args.resume)
    print(json.dumps(result))
    return 0
