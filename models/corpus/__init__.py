"""Synthetic speech corpora for training (TTS voices, sentences, augmentation): never needed at run time."""

from __future__ import annotations

from rnnstream.models.corpus.build import MANIFEST_NAME, build_corpus, read_manifest

__all__ = ["build_corpus", "read_manifest", "MANIFEST_NAME"]
