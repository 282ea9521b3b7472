"""Training data for the acoustic model: corpus manifests -> cached log-mel + label ids.

Log-mel features are computed once per corpus with the runtime's own front end and cached
beside the manifest (``features-<hash>.npz``), so retraining and resuming skip the work.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnstream.models.corpus.build import MANIFEST_NAME, read_manifest
from rnnstream.asr.ctc import DEFAULT_VOCAB
from rnnstream.asr.text import normalize_text
from rnnstream.asr.wav import load_mono_16k
from rnnstream.errors import ConfigError
from rnnstream.operators.asr_frontend import AsrFrontend

__all__ = ["Utterances", "corpus_entries", "load_utterances", "concat_utterances", "cmvn_stats", "length_batches"]

log = logging.getLogger(__name__)


@dataclass
class Utterances:
    """All utterances of a corpus, concatenated: utterance i is ``feats[offsets[i]:offsets[i+1]]``."""

    feats: np.ndarray  # float16 [total_frames, n_mels] raw log-mel
    offsets: np.ndarray  # int64 [n + 1]
    labels: list[np.ndarray]
    texts: list[str]
    voices: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def frames(self, i: int) -> np.ndarray:
        return self.feats[self.offsets[i] : self.offsets[i + 1]].astype(np.float32)

    @property
    def n_frames(self) -> np.ndarray:
        return np.diff(self.offsets)

    def subset(self, idx: np.ndarray) -> Utterances:
        parts = [self.frames(int(i)) for i in idx]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        feats = np.concatenate(parts).astype(np.float16) if parts else self.feats[:0]
        return Utterances(feats, offsets, [self.labels[i] for i in idx], [self.texts[i] for i in idx],
                          [self.voices[i] for i in idx])


def corpus_entries(corpus: str | Path, split: str = "train") -> tuple[Path, list[dict]]:
    """A corpus's manifest and its entries of ``split``, sorted by id.

    ``corpus`` is a directory built by ``rnnstream corpus speech`` or a JSON-lines manifest
    of real recordings (``path`` relative to the manifest, ``text``, ``speaker``), such as
    the train/dev/test files of the shared speech-data builder; a manifest file is one split.
    """
    corpus = Path(corpus)
    manifest = corpus if corpus.is_file() else corpus / MANIFEST_NAME
    if not manifest.is_file():
        raise ConfigError(f"corpus: no {MANIFEST_NAME} in {corpus} (build one with `rnnstream corpus speech`)")
    whole = corpus.is_file()
    entries = sorted((e for e in read_manifest(manifest) if whole or e.get("split", split) == split),
                     key=lambda e: e["id"])
    if not entries:
        raise ConfigError(f"corpus: {manifest} has no {split!r} utterances")
    bad = [e.get("id", "?") for e in entries if not isinstance(e.get("text"), str) or "path" not in e]
    if bad:
        raise ConfigError(f"corpus: {manifest}: entry {bad[0]} lacks a path or a text")
    for e in entries:
        e.setdefault("voice", e.get("speaker", e.get("source", "unknown")))
    return manifest, entries


def load_utterances(corpus: str | Path, frontend: AsrFrontend, *, split: str = "train") -> Utterances:
    manifest, entries = corpus_entries(corpus, split)
    corpus = manifest.parent
    key = hashlib.sha256(json.dumps([[e["id"], e["text"]] for e in entries]).encode())
    key.update(json.dumps(frontend.spec() | {"mean": None, "std": None}).encode())
    cache = corpus / f"features-{manifest.stem}-{split}-{key.hexdigest()[:16]}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            feats, offsets = z["feats"], z["offsets"]
    else:
        parts = []
        for i, e in enumerate(entries):
            parts.append(frontend.logmel(load_mono_16k(e["path"])).astype(np.float16))
            if i % 500 == 0:
                log.info("features: %d/%d utterances", i, len(entries))
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        feats = np.concatenate(parts)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, feats=feats, offsets=offsets)
        tmp.replace(cache)
    labels = [DEFAULT_VOCAB.encode(normalize_text(e["text"])) for e in entries]
    return Utterances(feats, offsets, labels, [e["text"] for e in entries], [e["voice"] for e in entries])


def concat_utterances(parts: list[Utterances]) -> Utterances:
    """Several corpora as one (training on more than one corpus directory)."""
    if len(parts) == 1:
        return parts[0]
    offsets = [parts[0].offsets]
    for p in parts[1:]:
        offsets.append(p.offsets[1:] + offsets[-1][-1])
    return Utterances(np.concatenate([p.feats for p in parts]), np.concatenate(offsets),
                      [lab for p in parts for lab in p.labels], [t for p in parts for t in p.texts],
                      [v for p in parts for v in p.voices])


def cmvn_stats(utts: Utterances) -> tuple[np.ndarray, np.ndarray]:
    """Global per-bin mean and standard deviation of the raw log-mel features."""
    x = utts.feats.astype(np.float64)
    return x.mean(axis=0).astype(np.float32), np.maximum(x.std(axis=0), 1e-3).astype(np.float32)


def length_batches(n_frames: np.ndarray, max_frames: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar length with at most ``max_frames`` padded frames each, shuffled."""
    order = np.argsort(n_frames + rng.uniform(0, 20, size=n_frames.size))
    batches, cur, longest = [], [], 0
    for i in order.tolist():
        longest_new = max(longest, int(n_frames[i]))
        if cur and longest_new * (len(cur) + 1) > max_frames:
            batches.append(np.array(cur))
            cur, longest_new = [], int(n_frames[i])
        cur.append(i)
        longest = longest_new
    if cur:
        batches.append(np.array(cur))
    rng.shuffle(batches)
    return batches
