"""``rnnstream eval logkeys`` (the HDFS log-key benchmark) and ``rnnstream eval nextword``
(next-word accuracy and perplexity beside a word n-gram on the same text)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rnnstream.cli.options import add_json_file

__all__ = ["register_text"]


def register_text(kinds: argparse._SubParsersAction) -> None:
    lk = kinds.add_parser("logkeys", help="precision, recall and F1 on labelled HDFS sessions",
                          description="Streams every session (one key each, then END) through the logkeys "
                          "operator; a session is flagged when an event or its end falls outside top_g.")
    lk.add_argument("--test", required=True, type=Path, action="append",
                    help="labelled sessions CSV (Sequence,label: logdeep's layout); repeatable")
    lk.add_argument("--abnormal", type=Path, action="append", default=[],
                    help="more abnormal sessions, one per line (DeepLog's layout); repeatable")
    lk.add_argument("--model", default="builtin:logkeys", help="model .onnx/.json (default %(default)s)")
    lk.add_argument("--train", type=Path, default=None,
                    help="the normal training sessions: also score the unseen-transition baseline on them")
    lk.add_argument("--top-g", type=int, default=None, help="override the model's top_g")
    add_json_file(lk, "write the figures here")
    lk.set_defaults(func=_cmd_logkeys)
    nw = kinds.add_parser("nextword", help="top-1/top-3 accuracy and perplexity vs a word n-gram",
                          description="Reads the held-out text as one stream per line block and scores each "
                          "next word; the n-gram baseline is trained on --train in the same run.")
    nw.add_argument("--text", required=True, type=Path, help="held-out text, UTF-8")
    nw.add_argument("--train", required=True, type=Path, help="the text the baseline n-gram learns from")
    nw.add_argument("--model", default="builtin:nextword", help="model .onnx/.json (default %(default)s)")
    nw.add_argument("--order", type=int, default=3, help="n-gram order of the baseline (default 3)")
    nw.add_argument("--max-words", type=int, default=200_000, help="held-out words scored (default 200000)")
    add_json_file(nw, "write the figures here")
    nw.set_defaults(func=_cmd_nextword)


def _cmd_logkeys(args: argparse.Namespace) -> int:
    import numpy as np

    from rnnstream.engine.session import load_session
    from rnnstream.evaluation.logkeys import (read_labelled, read_sessions, scores_at, session_ranks,
                                              transition_baseline)
    from rnnstream.operators.logkeys import LogkeysOperator
    from rnnstream.runtime.build import resolve_model

    op = LogkeysOperator(load_session(resolve_model(args.model), provider="cpu"), top_g=args.top_g)
    sessions, labels = [], []
    for path in args.test:
        s, lab = read_labelled(path)
        sessions += s
        labels.append(lab)
    for path in args.abnormal:
        s = read_sessions(path)
        sessions += s
        labels.append(np.ones(len(s), np.int64))
    y = np.concatenate(labels)
    t0 = time.perf_counter()
    worst = session_ranks(op, sessions)
    seconds = time.perf_counter() - t0
    events = sum(len(s) + 1 for s in sessions)
    result = {**scores_at(worst, y, op.top_g), "normal": int((y == 0).sum()), "abnormal": int((y == 1).sum()),
              "events": events, "events_per_s": round(events / seconds), "model": op.describe()["model"],
              "test": [str(p) for p in [*args.test, *args.abnormal]]}
    print(f"logkeys on {result['sessions']} sessions ({result['normal']} normal, {result['abnormal']} abnormal), "
          f"top_g {op.top_g}")
    print(f"  precision {result['precision']:.4f}  recall {result['recall']:.4f}  F1 {result['f1']:.4f}  "
          f"(tp {result['tp']}, fp {result['fp']}, fn {result['fn']})")
    print(f"  {events} events in {seconds:.1f} s: {result['events_per_s']} events/s through the operator")
    if args.train is not None:
        base = scores_at(transition_baseline(read_sessions(args.train), sessions), y, 1)
        result["baseline"] = {"name": "unseen transition", **base}
        print(f"  baseline (a transition no training session had): precision {base['precision']:.4f}  "
              f"recall {base['recall']:.4f}  F1 {base['f1']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _cmd_nextword(args: argparse.Namespace) -> int:
    from rnnstream.evaluation.nextword import compare_nextword

    result = compare_nextword(args.model, args.text, args.train, order=args.order, max_words=args.max_words)
    print(f"next word on {result['tokens']} held-out tokens ({args.text})")
    print(f"  {'model':<22} {'top-1':>7} {'top-3':>7} {'perplexity':>11}")
    for row in result["rows"]:
        print(f"  {row['name']:<22} {row['top1']:>7.4f} {row['top3']:>7.4f} {row['perplexity']:>11.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
