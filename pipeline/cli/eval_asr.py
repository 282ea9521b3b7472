"""``rnnstream eval asr``: WER/CER per source for ours and each peer, RTFs and latencies.

Peers (whisper, pocketsphinx) are optional; ``--peers-from`` reuses an earlier run's peer texts
by utterance id, and ``--peer-per-speaker`` limits the slow peers to a balanced subset, on which
ours is scored as well.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rnnstream.cli.options import add_decoder_args, add_json_file, add_model_options, asr_config, build_asr
from rnnstream.errors import ConfigError

__all__ = ["register_asr", "format_asr_table", "read_peer_results"]

_PEER_NAMES = ("whisper", "pocketsphinx")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def register_asr(kinds: argparse._SubParsersAction) -> None:
    e = kinds.add_parser(
        "asr",
        help="WER/CER per source, RTF, latencies and streamed == whole-file, with whisper and pocketsphinx beside it",
        description="Streams every utterance of a manifest (many at once through the batcher), scores finals "
        "against the reference text per source and overall, and decodes the same audio with the installed "
        "peers (the eval extra: whisper tiny.en, pocketsphinx), each timed on its own.",
    )
    e.add_argument("--manifest", type=Path, required=True,
                   help="manifest JSON lines (id, path, text; source and speaker, or the synthetic corpora's voice)")
    add_model_options(e)
    e.add_argument("--limit", type=int, default=None, help="only the first N utterances (by id)")
    e.add_argument("--voice", action="append", default=None, metavar="ENGINE:NAME",
                   help="only these voices of a synthetic corpus (repeatable)")
    e.add_argument("--per-speaker", type=_positive, default=None, metavar="N",
                   help="only the first N utterances (by id) of each speaker: a balanced subset")
    add_decoder_args(e)
    g = e.add_argument_group("peers")
    g.add_argument("--peer", action="append", default=None, choices=_PEER_NAMES,
                   help="run this peer (repeatable; default: every installed peer)")
    g.add_argument("--no-peer", action="store_true", help="score ours only")
    g.add_argument("--peers-from", "--peer-from", dest="peers_from", type=Path, default=None, metavar="JSON",
                   help="reuse the peer texts of an earlier --json result (matched by utterance id) instead of "
                   "running those peers again; with no --peer, only the peers in that file are reported")
    g.add_argument("--peer-per-speaker", type=_positive, default=None, metavar="N",
                   help="peers decode only the first N utterances of each speaker; ours is reported on "
                   "everything and on that subset (pocketsphinx runs at about 0.4x real time)")
    add_json_file(e, "write the result, with every system's text per utterance, as JSON")
    e.set_defaults(func=_cmd_eval_asr)


def read_peer_results(path: Path, names: list[str] | None) -> dict[str, dict[str, Any]]:
    """Peer texts by utterance id from an earlier ``--json`` result, for ``evaluate_asr(reused=...)``."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--peers-from: cannot read {path}: {exc}") from None
    rows = old.get("utterances") if isinstance(old, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r for r in rows):
        raise ConfigError(f"--peers-from: {path} holds no texts per utterance (an older result?); run the peers once "
                          "with --json")
    found = [n for n in old.get("peers", []) if n in _PEER_NAMES]
    if names is None and not found:
        raise ConfigError(f"--peers-from: {path} has no peer results")
    # A peer named with --peer but absent from the file is run instead.
    wanted = found if names is None else [n for n in names if n in found]
    systems = old.get("systems", {})
    return {n: {"texts": {r["id"]: r[n] for r in rows if isinstance(r.get(n), str)},
                "rtf": systems.get(n, {}).get("rtf"), "from": str(path)} for n in wanted}


def _cmd_eval_asr(args: argparse.Namespace) -> int:
    from rnnstream.apps.transcribe import Transcriber
    from rnnstream.evaluation.asr_eval import evaluate_asr
    from rnnstream.evaluation.asr_peers import select_peers

    if args.no_peer and (args.peer or args.peers_from):
        raise ConfigError("--no-peer excludes --peer and --peers-from")
    reused = read_peer_results(args.peers_from, args.peer) if args.peers_from else {}
    if args.no_peer:
        peers = []
    elif args.peer is not None:
        peers = select_peers(args.peer, exclude=set(reused))
    else:
        # --peers-from alone stands in for the peer runs: never spend a slow decode twice.
        peers = [] if reused else None
    cfg = asr_config(args)
    op = build_asr(cfg)
    result = evaluate_asr(Transcriber(op), str(args.manifest), limit=args.limit,
                          voices=set(args.voice) if args.voice else None, peers=peers, reused=reused,
                          per_speaker_n=args.per_speaker, peer_per_speaker=args.peer_per_speaker)
    general = getattr(cfg, "general_lm", None)
    lm = cfg.lm is not None or general is not None
    result["decoding"] = {
        "general_lm": general,
        "finals": "greedy" if op.rescore is None else "beam",
        "beam": op.rescore.beam_size if op.rescore is not None else None,
        "lm": str(cfg.lm) if cfg.lm is not None else None, "lm_order": cfg.lm_order if cfg.lm is not None else None,
        "lm_weight": cfg.lm_weight if lm else None, "word_bonus": cfg.word_bonus if lm else None,
        "blank_penalty": cfg.blank_penalty if lm else None,
        "companion": cfg.companion, "companion_weight": cfg.companion_weight if cfg.companion else None,
    }
    print(format_asr_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


def _pct(row: dict | None, key: str) -> str:
    return f"{100 * row[key]:.1f} %" if row else "–"


def _ms(x: float | None) -> str:
    return f"{1000 * x:.0f} ms" if x is not None else "–"


def format_asr_table(result: dict) -> str:
    """A markdown table (rows: sources, then all) and one line of RTFs and latencies."""
    systems = result["systems"]
    peers = result["peers"]
    subset = systems.get("ours_peer_subset")
    head = ["source", "utterances", "ours WER", "ours CER"]
    if subset:
        head += ["peer utterances", "ours WER (peer subset)", "ours CER (peer subset)"]
    for p in peers:
        head += [f"{p} WER", f"{p} CER"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    groups = list(systems["ours"]["groups"]) + [None]
    for g in groups:
        pick = (lambda s: s) if g is None else (lambda s: s["groups"].get(g))  # noqa: E731
        ours = pick(systems["ours"])
        cells = [g if g is not None else "all", str(ours["utterances"]), _pct(ours, "wer"), _pct(ours, "cer")]
        if subset:
            sub = pick(subset)
            cells += [str(sub["utterances"]) if sub else "0", _pct(sub, "wer"), _pct(sub, "cer")]
        for p in peers:
            row = pick(systems[p])
            cells += [_pct(row, "wer"), _pct(row, "cer")]
        lines.append("| " + " | ".join(cells) + " |")
    rtfs = [f"ours {systems['ours']['rtf']:.4f}"]
    for p in peers:
        rtf = systems[p].get("rtf")
        where = f" (from {systems[p]['from']})" if systems[p].get("from") else ""
        rtfs.append(f"{p} {rtf:.3f}{where}" if rtf is not None else f"{p} –{where}")
    fp, ef = result["first_partial_latency_s"], result["endpoint_to_final_latency_s"]
    n = systems["ours"]["utterances"]
    lines.append(f"RTF {', '.join(rtfs)}; ours: first partial p50 {_ms(fp['p50'])} p99 {_ms(fp['p99'])}, "
                 f"endpoint->final p50 {_ms(ef['p50'])} p99 {_ms(ef['p99'])}, "
                 f"streamed == whole-file on {result['streamed_equals_whole_count']}/{n}")
    return "\n".join(lines)
