"""Shared fixtures for the ASR tests: synthetic CTC posteriors with a known answer."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from rnnstream.asr.ctc import DEFAULT_VOCAB, Vocab


def frame_labels(text: str, rng: np.random.Generator, vocab: Vocab = DEFAULT_VOCAB) -> tuple[np.ndarray, np.ndarray]:
    """A frame-level CTC path for ``text`` and the frame where each label first appears.

    A blank separates equal neighbours (CTC needs it) and is inserted elsewhere at
    random; each label lasts 1-3 frames.
    """
    path: list[int] = [vocab.blank] * int(rng.integers(0, 3))
    first: list[int] = []
    prev = None
    for lab in vocab.encode(text).tolist():
        if lab == prev or rng.random() < 0.5:
            path += [vocab.blank] * int(rng.integers(1, 3))
        first.append(len(path))
        path += [lab] * int(rng.integers(1, 4))
        prev = lab
    path += [vocab.blank] * int(rng.integers(1, 4))
    return np.asarray(path), np.asarray(first)


def posteriors_for(
    path: np.ndarray, rng: np.random.Generator, peak: float = 6.0, noise: float = 1.0, vocab: Vocab = DEFAULT_VOCAB
) -> np.ndarray:
    """Log-softmax scores whose arg-max follows ``path`` (noise stays below the peak)."""
    logits = rng.uniform(-noise, noise, size=(path.size, len(vocab)))
    logits[np.arange(path.size), path] = peak
    m = logits.max(axis=1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))


@pytest.fixture(scope="session")
def make_posteriors() -> Callable[[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``make(text, seed) -> (logprobs [T, V], path [T], first_frame_of_each_label)``."""

    def make(text: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        path, first = frame_labels(text, rng)
        return posteriors_for(path, rng), path, first

    return make
