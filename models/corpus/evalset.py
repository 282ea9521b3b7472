"""The ASR test set: held-out sentences, each spoken by every evaluation voice.

Sentences come from the generator's ``eval`` split, whose texts never occur in training.
The voices are every installed evaluation-reserved voice (flite kal, kal16, slt, rms;
festival kal_diphone and slt HTS) plus two espeak-ng variants never used in training.
Audio is clean (no augmentation) and written in the corpus layout, so the same manifest
reader serves both. Building is resumable.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rnnstream.models.corpus.build import MANIFEST_NAME, read_manifest
from rnnstream.models.corpus.sentences import SentenceGenerator
from rnnstream.models.corpus.synth import SynthError, SynthParams, synthesize
from rnnstream.models.corpus.voices import RESERVED_EVAL_VOICES, Voice, available_voices
from rnnstream.asr.wav import write_wav

__all__ = ["EVAL_SET_VOICES", "TUNE_SET_VOICES", "TUNE_START", "build_eval_set", "tune_sentences"]

log = logging.getLogger(__name__)

EVAL_SET_VOICES = tuple(sorted(RESERVED_EVAL_VOICES)) + (Voice("espeak-ng", "en-us+f4"), Voice("espeak-ng", "en+m6"))
# The tuning set (decoder settings are chosen on it) never touches a reserved voice: it is the
# two non-espeak training voices speaking eval-split sentences that the eval set does not hold.
TUNE_SET_VOICES = (Voice("flite", "awb"), Voice("festival", "ked_diphone"))
TUNE_START = 100_000  # generator index of the first tuning sentence; eval sets use 0, 1, 2, ...


def tune_sentences(n: int, *, seed: int = 7, eval_sentences: int = 10_000) -> list[str]:
    """``n`` eval-split sentences none of which is among the first ``eval_sentences`` eval ones.

    >>> tune = tune_sentences(20, eval_sentences=400)
    >>> len(tune), bool(set(tune) & set(SentenceGenerator(seed=7).sample(320, split="eval")))
    (20, False)
    """
    gen = SentenceGenerator(seed=seed)
    held = set(gen.sample(eval_sentences, split="eval"))
    out: list[str] = []
    i = TUNE_START
    while len(out) < n:
        text = gen.sentence(i, "eval")
        if text not in held:
            out.append(text)
        i += 1
    return out


def build_eval_set(n_sentences: int, out_dir: str | Path, *, seed: int = 7, workers: int = 2,
                   tune: bool = False) -> Path:
    """Synthesise ``n_sentences`` x every available evaluation voice; returns the manifest path.

    ``tune`` builds the tuning set instead: :func:`tune_sentences` x :data:`TUNE_SET_VOICES`.
    """
    out = Path(out_dir)
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST_NAME
    done = {e["id"] for e in read_manifest(manifest)} if manifest.exists() else set()
    if tune:
        prefix, sentences = "tune", tune_sentences(n_sentences, seed=seed)
        voices = available_voices(TUNE_SET_VOICES)
    else:
        prefix, sentences = "eval", SentenceGenerator(seed=seed).sample(n_sentences, split="eval")
        voices = available_voices(EVAL_SET_VOICES)
    jobs = [(i, text, v) for i, text in enumerate(sentences) for v in voices
            if f"{prefix}-{i:05d}-{v.id.replace(':', '_')}" not in done]

    def work(job):
        i, text, voice = job
        uid = f"{prefix}-{i:05d}-{voice.id.replace(':', '_')}"
        try:
            x = synthesize(voice, text, SynthParams())
        except SynthError as exc:
            log.warning("%s set: %s failed: %s", prefix, uid, exc)
            return None
        path = out / "wavs" / f"{uid}.wav"
        write_wav(path, x, 16000)
        return {"id": uid, "path": f"wavs/{uid}.wav", "text": text, "voice": voice.id,
                "duration": round(x.size / 16000, 4), "split": "eval", "sample_rate": 16000}

    with open(manifest, "a", encoding="utf-8") as f, ThreadPoolExecutor(workers) as pool:
        for n, entry in enumerate(pool.map(work, jobs)):
            if entry is not None:
                f.write(json.dumps(entry) + "\n")
                f.flush()
            if n % 200 == 0:
                log.info("%s set: %d/%d", prefix, n, len(jobs))
    return manifest
