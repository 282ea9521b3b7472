"""``rnnstream eval asr``: WER/CER per voice, real-time factor, latencies, streamed == whole.

Every utterance is streamed in chunks with 1.2 s of trailing silence, so the endpointer, not
the end of the file, closes it; many utterances stream at once through the batcher, exactly
as concurrent streams do in the daemon. Latencies are in stream time plus the measured
compute per chunk:
- first partial: when the first non-empty partial is emitted, after the speech onset;
- endpoint to final: when the final is emitted, after the speech offset.
pocketsphinx, when installed, decodes the same audio as a peer (never a dependency).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import numpy as np

from rnnstream.models.corpus.build import read_manifest
from rnnstream.asr.endpoint import frame_energy_db
from rnnstream.asr.text import normalize_text
from rnnstream.asr.wav import load_mono_16k
from rnnstream.apps.transcribe import Transcriber

__all__ = ["evaluate_asr", "edit_distance", "speech_bounds", "pocketsphinx_texts"]

log = logging.getLogger(__name__)
TAIL_S = 1.2


def edit_distance(a: list, b: list) -> int:
    """Levenshtein distance. ``edit_distance("kitten", "sitting")`` is 3."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


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


def pocketsphinx_texts(signals: list[np.ndarray]) -> list[str] | None:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return None
    dec = Decoder(loglevel="FATAL")
    out = []
    for x in signals:
        pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
        out.append(normalize_text(hyp.hypstr) if hyp is not None else "")
    return out


def evaluate_asr(tr: Transcriber, manifest: str, *, group: int = 64, limit: int | None = None,
                 peer: bool = True, voices: set[str] | None = None) -> dict[str, Any]:
    entries = sorted(read_manifest(manifest), key=lambda e: e["id"])
    entries = [e for e in entries if voices is None or e["voice"] in voices][:limit]
    chunk_s = tr.chunk / 16000
    per_voice: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    first_lat, final_lat, identical, audio_s, compute_s, calls = [], [], 0, 0.0, 0.0, 0
    hyps, refs, raw = [], [], []
    for g in range(0, len(entries), group):
        batch = entries[g : g + group]
        raw_sig = [load_mono_16k(e["path"]) for e in batch]
        sigs = [np.concatenate([x, np.zeros(int(TAIL_S * 16000), np.float32)]) for x in raw_sig]
        calls_before = tr.scheduler.calls
        res, secs = _stream_group(tr, sigs)
        compute_s += secs
        n_calls = tr.scheduler.calls - calls_before
        calls += n_calls
        per_call = secs / max(1, n_calls)
        audio_s += sum(x.size for x in sigs) / 16000
        for e, x, r, s in zip(batch, raw_sig, res, sigs):
            hyp = " ".join(t for t in r["finals"] if t)
            identical += hyp == tr.whole_text(s)
            on, off = speech_bounds(x)
            if r["first_partial"] is not None:
                first_lat.append((r["first_partial"] + 1) * chunk_s + per_call - on)
            if r["final_chunk"] is not None and r["final_chunk"] < -(-s.size // tr.chunk) - 1:
                final_lat.append((r["final_chunk"] + 1) * chunk_s + per_call - off)
            _score(per_voice[e["voice"]], e["text"], hyp, "model")
            hyps.append(hyp)
            refs.append(e["text"])
        raw.extend(raw_sig)
        log.info("eval asr: %d/%d utterances", min(g + group, len(entries)), len(entries))
    peer_texts = pocketsphinx_texts(raw) if peer else None
    if peer_texts is not None:
        for e, p in zip(entries, peer_texts):
            _score(per_voice[e["voice"]], e["text"], p, "pocketsphinx")
    return _summary(per_voice, entries, identical, audio_s, compute_s, first_lat, final_lat, peer_texts is not None)


def _score(acc: dict, ref: str, hyp: str, who: str) -> None:
    acc[f"{who}_word_err"] += edit_distance(hyp.split(), ref.split())
    acc[f"{who}_char_err"] += edit_distance(list(hyp), list(ref))
    acc["words"] += len(ref.split()) if who == "model" else 0
    acc["chars"] += len(ref) if who == "model" else 0
    acc["utterances"] += 1 if who == "model" else 0


def _summary(per_voice, entries, identical, audio_s, compute_s, first_lat, final_lat, has_peer) -> dict[str, Any]:
    voices = {}
    tot = defaultdict(float)
    for v, acc in sorted(per_voice.items()):
        row = {"utterances": int(acc["utterances"]), "wer": acc["model_word_err"] / max(1, acc["words"]),
               "cer": acc["model_char_err"] / max(1, acc["chars"])}
        if has_peer:
            row["pocketsphinx_wer"] = acc["pocketsphinx_word_err"] / max(1, acc["words"])
        voices[v] = row
        for k, val in acc.items():
            tot[k] += val
    pct = lambda xs, q: float(np.percentile(xs, q)) if xs else None  # noqa: E731
    out = {
        "utterances": len(entries),
        "wer": tot["model_word_err"] / max(1, tot["words"]),
        "cer": tot["model_char_err"] / max(1, tot["chars"]),
        "rtf": compute_s / max(audio_s, 1e-9),
        "first_partial_latency_s": {"p50": pct(first_lat, 50), "p99": pct(first_lat, 99)},
        "endpoint_to_final_latency_s": {"p50": pct(final_lat, 50), "p99": pct(final_lat, 99)},
        "streamed_equals_whole": identical == len(entries),
        "streamed_equals_whole_count": identical,
        "voices": voices,
    }
    if has_peer:
        out["pocketsphinx_wer"] = tot["pocketsphinx_word_err"] / max(1, tot["words"])
    return out
