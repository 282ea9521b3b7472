"""Run the docstring examples of every ASR module, so the documentation stays true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "augment", "beam", "corpus", "ctc", "endpoint", "features", "lm", "sentences", "synth", "text", "voices",
    "wav", "words",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    mod = importlib.import_module(f"rnnstream.asr.{name}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert hasattr(mod, "__all__")
