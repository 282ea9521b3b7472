"""Build a synthetic speech corpus: TTS + augmentation -> 16 kHz WAVs + manifest.

Utterance ``i`` of a split is a pure function of ``(seed, split, i, voice list)``:
its sentence, voice, prosody and augmentation all come from generators seeded with
those values.  That makes the build resumable: entries already in
``manifest.jsonl`` are skipped, and a WAV that reached the disk (WAVs are written
atomically) but not the manifest is adopted instead of re-synthesised.  Only the
calling thread writes the manifest, one flushed line per utterance.

Manifest lines are JSON objects with ``id``, ``path`` (relative to the corpus
directory), ``text``, ``voice`` (``engine:name``), ``duration`` (s), ``split``,
``sample_rate``, ``synth`` and ``augment`` (parameters used).
"""

from __future__ import annotations

import json
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rnnstream.models.corpus.augment import AugmentConfig, augment
from rnnstream.models.corpus.sentences import SentenceGenerator
from rnnstream.models.corpus.synth import SynthError, check_f0_range, random_params, synthesize
from rnnstream.models.corpus.voices import Voice, available_voices, check_voices, voices_for_split
from rnnstream.asr.wav import WavError, audio_duration, write_wav
from rnnstream.errors import ConfigError, RnnstreamError

__all__ = ["CorpusSummary", "build_corpus", "read_manifest", "utterance_id", "MANIFEST_NAME"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
_SPLIT_CODE = {"train": 0, "eval": 1}
_FIRST_GUESS_S = 2.5
_ENGINE_WEIGHTS = {"espeak-ng": 0.6, "flite": 0.2, "festival": 0.2}


@dataclass(frozen=True)
class CorpusSummary:
    manifest: Path
    utterances: int
    hours: float
    new: int
    adopted: int
    failed: int


def utterance_id(split: str, index: int) -> str:
    return f"{split}-{index:07d}"


def read_manifest(path: str | os.PathLike[str], resolve: bool = True) -> list[dict[str, Any]]:
    """Manifest entries, one per id (the last line wins); a torn line is ignored.

    With ``resolve``, ``path`` is made absolute against the manifest's directory.
    """
    p = Path(path)
    if not p.exists():
        return []
    out: dict[str, dict[str, Any]] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            log.warning("ignoring unreadable manifest line in %s", p)
            continue
        if resolve:
            entry["path"] = str((p.parent / entry["path"]).resolve())
        out.pop(entry["id"], None)
        out[entry["id"]] = entry
    return list(out.values())


@dataclass(frozen=True)
class _Job:
    index: int
    uid: str
    text: str
    voice: Voice
    rel_path: str


def _voice_table(voices: Sequence[Voice], engine_weights: dict[str, float]) -> tuple[list[list[Voice]], np.ndarray]:
    """Voices grouped by engine, and each present engine's probability."""
    groups: dict[str, list[Voice]] = {}
    for v in sorted(voices):
        groups.setdefault(v.engine, []).append(v)
    names = sorted(groups)
    unknown = sorted(set(engine_weights) - {"espeak-ng", "flite", "festival"})
    if unknown:
        raise ConfigError(f"engine_weights: unknown engine(s) {unknown}; engines are espeak-ng, flite, festival")
    w = np.array([float(engine_weights.get(e, 0.0)) for e in names])
    if (w < 0).any() or w.sum() <= 0:
        raise ConfigError(f"engine_weights must be >= 0 and cover an installed engine ({names}), got {engine_weights}")
    return [groups[e] for e in names], w / w.sum()


def _plan(
    index: int, split: str, seed: int, table: tuple[list[list[Voice]], np.ndarray], gen: SentenceGenerator
) -> _Job:
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], index, 0])
    # Engine first, then a voice of it: espeak-ng's many variants would otherwise
    # drown the handful of flite/festival voices.
    groups, probs = table
    group = groups[int(rng.choice(len(groups), p=probs))]
    voice = group[int(rng.integers(len(group)))]
    uid = utterance_id(split, index)
    return _Job(index, uid, gen.sentence(index, split), voice, f"wavs/{uid}.wav")  # type: ignore[arg-type]


def _run_job(
    job: _Job, out_dir: Path, split: str, seed: int, sample_rate: int, aug: AugmentConfig | None,
    f0_range: tuple[float, float] | None = None,
) -> dict[str, Any]:
    target = out_dir / job.rel_path
    entry: dict[str, Any] = {
        "id": job.uid,
        "path": job.rel_path,
        "text": job.text,
        "voice": job.voice.id,
        "split": split,
        "sample_rate": sample_rate,
    }
    if target.exists():
        try:
            entry["duration"] = round(audio_duration(target), 4)
            entry["adopted"] = True
            return entry
        except WavError:
            target.unlink()
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], job.index, 1])
    params = random_params(job.voice, rng, f0_range)
    x = synthesize(job.voice, job.text, params, sample_rate)
    aug_params: dict[str, Any] = {}
    if aug is not None:
        x, aug_params = augment(x, sample_rate, rng, aug)
    peak = float(np.max(np.abs(x)))
    if peak > 0.99:
        x = x * (0.99 / peak)
    write_wav(target, x, sample_rate)
    entry.update(duration=round(x.size / sample_rate, 4), synth=params.as_dict(), augment=aug_params)
    return entry


def build_corpus(
    hours: float,
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    workers: int = 2,
    split: str = "train",
    voices: Sequence[Voice] | None = None,
    augment_audio: bool | None = None,
    augment_config: AugmentConfig | None = None,
    sample_rate: int = 16000,
    sentence_weights: dict[str, float] | None = None,
    engine_weights: dict[str, float] | None = None,
    f0_range: tuple[float, float] | None = None,
    max_failures: int = 50,
) -> CorpusSummary:
    """Synthesise about ``hours`` of audio for ``split`` into ``out_dir``.

    ``voices`` defaults to the split's inventory (see :mod:`rnnstream.models.corpus.voices`)
    filtered to what is installed; a train build that names a reserved evaluation
    voice raises :class:`ConfigError`.  Augmentation defaults to on for train and off
    for eval.  ``engine_weights`` sets how often each engine speaks (default
    espeak-ng 0.6, flite 0.2, festival 0.2, renormalised over installed engines).
    ``f0_range`` (Hz) gives flite and festival utterances a mean pitch from that range,
    whatever the voice's sex (see :func:`~rnnstream.models.corpus.synth.random_params`).
    The build stops once the split's manifest duration reaches ``hours``
    (overshooting by at most one batch of utterances).
    """
    if split not in _SPLIT_CODE:
        raise ConfigError(f"split must be 'train' or 'eval', got {split!r}")
    if not hours > 0:
        raise ConfigError(f"hours must be > 0, got {hours}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    check_f0_range(f0_range)
    requested = list(voices) if voices is not None else list(voices_for_split(split))
    check_voices(requested, split)
    usable = sorted(available_voices(requested))
    if not usable:
        raise ConfigError(f"none of the {len(requested)} {split} voices is installed")
    check_voices(usable, split)
    table = _voice_table(usable, engine_weights or _ENGINE_WEIGHTS)
    do_aug = (split == "train") if augment_audio is None else augment_audio
    aug = (augment_config or AugmentConfig()) if do_aug else None
    root = Path(out_dir)
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    manifest = root / MANIFEST_NAME
    existing = [e for e in read_manifest(manifest, resolve=False) if e.get("split") == split]
    done_ids = {e["id"] for e in existing if (root / e["path"]).exists()}
    durations = [float(e["duration"]) for e in existing if e["id"] in done_ids]
    done_s = sum(durations)
    target_s = hours * 3600.0
    gen = SentenceGenerator(seed, weights=sentence_weights)
    _terminate_last_line(manifest)
    new = adopted = failed = 0
    next_index = 0
    with ThreadPoolExecutor(max_workers=workers) as pool, manifest.open("a", encoding="utf-8") as mf:
        while done_s < target_s:
            avg = float(np.mean(durations)) if durations else _FIRST_GUESS_S
            n_batch = min(max(1, math.ceil((target_s - done_s) / avg)), max(8, 4 * workers))
            batch: list[_Job] = []
            while len(batch) < n_batch:
                uid = utterance_id(split, next_index)
                if uid not in done_ids:
                    batch.append(_plan(next_index, split, seed, table, gen))
                next_index += 1
            futures = {pool.submit(_run_job, j, root, split, seed, sample_rate, aug, f0_range): j for j in batch}
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    entry = fut.result()
                except (SynthError, WavError) as exc:
                    failed += 1
                    log.warning("utterance %s (%s) failed: %s", job.uid, job.voice.id, exc)
                    if failed > max_failures:
                        raise RnnstreamError(f"corpus build gave up after {failed} failed utterances") from exc
                    continue
                if entry.pop("adopted", False):
                    adopted += 1
                else:
                    new += 1
                mf.write(json.dumps(entry, sort_keys=True) + "\n")
                mf.flush()
                done_ids.add(entry["id"])
                durations.append(entry["duration"])
                done_s += entry["duration"]
            log.info("%s corpus: %.3f / %.3f hours", split, done_s / 3600.0, hours)
    return CorpusSummary(manifest, len(durations), done_s / 3600.0, new, adopted, failed)


def _terminate_last_line(manifest: Path) -> None:
    """Make sure appends start on a fresh line after a torn write."""
    if manifest.exists() and manifest.stat().st_size:
        with manifest.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
        if last != b"\n":
            with manifest.open("a", encoding="utf-8") as f:
                f.write("\n")
