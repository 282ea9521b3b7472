"""``rnnstream eval asr``: WER/CER per source, real-time factor, latencies, streamed == whole.

Every utterance is streamed in chunks with 1.2 s of trailing silence, so the endpointer, not
the end of the file, closes it; many utterances stream at once through the batcher, exactly
as concurrent streams do in the daemon. Latencies are in stream time plus the measured
compute per chunk:
- first partial: when the first non-empty partial is emitted, after the speech onset;
- endpoint to final: when the final is emitted, after the speech offset.
Peers (:mod:`rnnstream.evaluation.asr_peers`) decode the same audio, or a per-speaker subset of
it, each timed on its own; ours is then also scored on exactly that subset. Every system's text
per utterance is kept, so a later run can reuse a peer's texts by utterance id. Our RTF counts
the trailing silence as audio (a stream carries it); a peer's RTF is over the files alone.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np

from rnnstream.models.corpus.build import read_manifest
from rnnstream.asr.endpoint import frame_energy_db
from rnnstream.asr.text import normalize_text
from rnnstream.asr.wav import load_mono_16k
from rnnstream.apps.transcribe import Transcriber
from rnnstream.errors import ConfigError
from rnnstream.evaluation.asr_peers import Peer, select_peers
from rnnstream.evaluation.asr_score import edit_distance, group_field, group_of, per_speaker, score_system, speaker_of
from rnnstream.evaluation.spelling import normalize_hypothesis

__all__ = ["evaluate_asr", "edit_distance", "speech_bounds", "select_entries"]

log = logging.getLogger(__name__)
TAIL_S = 1.2


def speech_bounds(x: np.ndarray, sr: int = 16000) -> tuple[float, float]:
    """Onset and offset (s) of the part louder than 35 dB below the peak frame."""
    db = frame_energy_db(x, 400, 160)
    if db.size == 0:
        return 0.0, x.size / sr
    loud = np.flatnonzero(db > db.max() - 35.0)
    return loud[0] * 160 / sr, (loud[-1] * 160 + 400) / sr


def _stream_group(tr: Transcriber, signals: list[np.ndarray]) -> tuple[list[dict], float]:
    n = tr.chunk
    chunks = [-(-s.size // n) for s in signals]
    res = [{"finals": [], "first_partial": None, "final_chunk": None} for _ in signals]
    t0 = time.perf_counter()
    for c in range(max(chunks)):
        keys = np.array([k for k in range(len(signals)) if c < chunks[k]])
        batch = np.zeros((keys.size, n), np.float32)
        for row, k in enumerate(keys.tolist()):
            seg = signals[k][c * n : (c + 1) * n]
            batch[row, : seg.size] = seg
        ends = np.array([c == chunks[k] - 1 for k in keys.tolist()])
        for k, ev in tr.push(keys, batch, end=ends):
            if ev["type"] == "partial" and res[k]["first_partial"] is None and ev["text"]:
                res[k]["first_partial"] = c
            if ev["type"] == "final":
                res[k]["finals"].append(ev["text"])
                res[k]["final_chunk"] = c
    return res, time.perf_counter() - t0




def select_entries(manifest: str, *, voices: set[str] | None = None, per_speaker_n: int | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
    """The manifest's utterances by id (paths resolved, references normalised), filtered in that order."""
    entries = [e for e in read_manifest(manifest) if voices is None or e.get("voice") in voices]
    entries = per_speaker(entries, per_speaker_n)[:limit]
    return [{**e, "text": normalize_text(e["text"])} for e in entries]


def _run_ours(tr: Transcriber, entries: list[dict], group: int) -> dict[str, Any]:
    chunk_s = tr.chunk / 16000
    hyps: dict[str, str] = {}
    first_lat, final_lat, identical, audio_s, compute_s = [], [], 0, 0.0, 0.0
    for g in range(0, len(entries), group):
        batch = entries[g : g + group]
        raw_sig = [load_mono_16k(e["path"]) for e in batch]
        sigs = [np.concatenate([x, np.zeros(int(TAIL_S * 16000), np.float32)]) for x in raw_sig]
        calls_before = tr.scheduler.calls
        res, secs = _stream_group(tr, sigs)
        compute_s += secs
        per_call = secs / max(1, tr.scheduler.calls - calls_before)
        audio_s += sum(x.size for x in sigs) / 16000
        for e, x, r, s in zip(batch, raw_sig, res, sigs):
            hyp = " ".join(t for t in r["finals"] if t)
            identical += hyp == tr.whole_text(s)
            on, off = speech_bounds(x)
            if r["first_partial"] is not None:
                first_lat.append((r["first_partial"] + 1) * chunk_s + per_call - on)
            if r["final_chunk"] is not None and r["final_chunk"] < -(-s.size // tr.chunk) - 1:
                final_lat.append((r["final_chunk"] + 1) * chunk_s + per_call - off)
            hyps[e["id"]] = hyp
        log.info("eval asr: ours %d/%d utterances", min(g + group, len(entries)), len(entries))
    pct = lambda xs, q: float(np.percentile(xs, q)) if xs else None  # noqa: E731
    return {"hyps": hyps, "rtf": compute_s / max(audio_s, 1e-9),
            "first_partial_latency_s": {"p50": pct(first_lat, 50), "p99": pct(first_lat, 99)},
            "endpoint_to_final_latency_s": {"p50": pct(final_lat, 50), "p99": pct(final_lat, 99)},
            "streamed_equals_whole": identical == len(entries), "streamed_equals_whole_count": identical}


def _run_peers(peers: Sequence[Peer], entries: list[dict], group: int) -> dict[str, dict[str, Any]]:
    """Each peer's normalised texts and RTF; audio is loaded once per group, each peer timed alone."""
    out = {p.name: {"hyps": {}, "compute_s": 0.0, "audio_s": 0.0} for p in peers}
    for g in range(0, len(entries) if peers else 0, group):
        batch = entries[g : g + group]
        sigs = [load_mono_16k(e["path"]) for e in batch]
        seconds = sum(x.size for x in sigs) / 16000
        for p in peers:
            t0 = time.perf_counter()
            texts = p.transcribe(sigs)
            acc = out[p.name]
            acc["compute_s"] += time.perf_counter() - t0
            acc["audio_s"] += seconds
            acc["hyps"].update({e["id"]: normalize_hypothesis(t) for e, t in zip(batch, texts)})
        log.info("eval asr: peers %d/%d utterances", min(g + group, len(entries)), len(entries))
    for acc in out.values():
        acc["rtf"] = acc["compute_s"] / max(acc["audio_s"], 1e-9)
    return out


def _check_reused(reused: dict[str, dict[str, Any]], ids: list[str]) -> None:
    for name, r in reused.items():
        missing = [i for i in ids if i not in r["texts"]]
        if missing:
            raise ConfigError(f"{r.get('from', 'reused results')}: {name} did not decode the same utterances "
                              f"({len(missing)} of the {len(ids)} needed ids are missing, e.g. {missing[0]})")


def evaluate_asr(tr: Transcriber, manifest: str, *, group: int = 64, limit: int | None = None,
                 peer: bool = True, voices: set[str] | None = None, peers: Sequence[Peer] | None = None,
                 per_speaker_n: int | None = None, peer_per_speaker: int | None = None,
                 reused: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Ours on every selected utterance, each peer on its per-speaker subset, texts kept per utterance.

    ``peers`` None runs every installed peer when ``peer`` is true. ``reused`` maps a peer's name
    to ``{"texts": {id: text}, "rtf": float | None, "from": str}`` of an earlier run; it stands in
    for running that peer and must hold every utterance of the subset.
    """
    entries = select_entries(manifest, voices=voices, per_speaker_n=per_speaker_n, limit=limit)
    if not entries:
        raise ConfigError(f"{manifest}: no utterances to score (missing, empty or all filtered out)")
    reused = dict(reused or {})
    if peers is None:
        peers = select_peers(None, exclude=set(reused)) if peer else []
    peers = [p for p in peers if p.name not in reused]
    subset = per_speaker(entries, peer_per_speaker) if peers or reused else []
    # Checked before ours runs, so a wrong file costs nothing.
    _check_reused(reused, [e["id"] for e in subset])
    ours = _run_ours(tr, entries, group)
    ran = _run_peers(peers, subset, group)
    systems: dict[str, dict[str, Any]] = {"ours": {**score_system(entries, ours["hyps"]), "rtf": ours["rtf"]}}
    if subset and len(subset) < len(entries):
        systems["ours_peer_subset"] = score_system(subset, ours["hyps"])
    texts = {}
    for name, r in reused.items():
        texts[name] = {e["id"]: normalize_hypothesis(r["texts"][e["id"]]) for e in subset}
        systems[name] = {**score_system(subset, texts[name]), "rtf": r.get("rtf"), "from": r.get("from")}
    for name, r in ran.items():
        texts[name] = r["hyps"]
        systems[name] = {**score_system(subset, r["hyps"]), "rtf": r["rtf"], "compute_s": r["compute_s"],
                         "audio_s": r["audio_s"]}
    rows = []
    for e in entries:
        row = {"id": e["id"], "source": group_of(e), "speaker": speaker_of(e), "ref": e["text"],
               "ours": ours["hyps"][e["id"]]}
        row.update({name: t[e["id"]] for name, t in texts.items() if e["id"] in t})
        rows.append(row)
    ours_all = systems["ours"]
    return {
        "manifest": str(manifest), "group_by": group_field(entries),
        "wer": ours_all["wer"], "cer": ours_all["cer"],
        **{k: v for k, v in ours.items() if k != "hyps"},
        "peers": list(texts), "peer_subset": {"per_speaker": peer_per_speaker, "utterances": len(subset)},
        "systems": systems, "utterances": rows,
    }
