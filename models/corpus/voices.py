"""TTS voice inventory and the train/eval voice split, as data.

Evaluation measures generalisation to voices the model never heard, so these are
reserved for evaluation and may never appear in a training build:

* flite ``kal``, ``kal16``, ``slt``, ``rms``;
* festival ``kal_diphone`` and the ``cmu_us_slt_arctic_hts`` (slt HTS) voice;
* the espeak-ng variants ``f4`` and ``m6``, with any base language.

Training uses espeak-ng languages combined with the remaining variants, flite
``awb`` and festival ``ked_diphone`` (only where ``text2wave`` is installed).

>>> is_reserved(Voice("flite", "kal16")), is_reserved(Voice("espeak-ng", "en-gb-x-rp+m6"))
(True, True)
>>> check_voices([Voice("espeak-ng", "en-us+m3")], "train")
>>> all(not is_reserved(v) for v in TRAIN_VOICES) and all(is_reserved(v) for v in EVAL_VOICES)
True
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Literal

from rnnstream.errors import ConfigError

__all__ = [
    "Engine",
    "Voice",
    "ESPEAK_LANGUAGES",
    "ESPEAK_TRAIN_VARIANTS",
    "ESPEAK_EVAL_VARIANTS",
    "RESERVED_EVAL_VOICES",
    "TRAIN_VOICES",
    "EVAL_VOICES",
    "ENGINE_BINARIES",
    "is_reserved",
    "check_voices",
    "voices_for_split",
    "engine_available",
    "available_voices",
    "parse_voice",
]

log = logging.getLogger(__name__)

Engine = Literal["espeak-ng", "flite", "festival"]
ENGINE_BINARIES: dict[str, str] = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}


@dataclass(frozen=True, order=True)
class Voice:
    """A synthesiser voice: the engine and its own name for the voice.

    espeak-ng names are ``language[+variant]`` (``en-us+m3``); flite names are
    ``-voice`` arguments; festival names omit the ``voice_`` prefix.
    """

    engine: Engine
    name: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"

    @property
    def variant(self) -> str | None:
        """The espeak-ng variant after ``+``, if any."""
        if self.engine != "espeak-ng" or "+" not in self.name:
            return None
        return self.name.split("+", 1)[1]


def parse_voice(voice_id: str) -> Voice:
    """``'flite:awb' -> Voice('flite', 'awb')``."""
    engine, sep, name = voice_id.partition(":")
    if not sep or engine not in ENGINE_BINARIES or not name:
        raise ConfigError(f"voice id must be 'engine:name' with engine in {sorted(ENGINE_BINARIES)}, got {voice_id!r}")
    return Voice(engine, name)  # type: ignore[arg-type]


ESPEAK_LANGUAGES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
# Checked against espeak-ng's voices/!v directory: espeak-ng silently ignores an
# unknown variant, so a typo here would quietly duplicate the base voice.
ESPEAK_TRAIN_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f5", "klatt", "klatt3", "robert", "linda",
)
ESPEAK_EVAL_VARIANTS = ("f4", "m6")

RESERVED_EVAL_VOICES = frozenset(
    {
        Voice("flite", "kal"),
        Voice("flite", "kal16"),
        Voice("flite", "slt"),
        Voice("flite", "rms"),
        Voice("festival", "kal_diphone"),
        Voice("festival", "cmu_us_slt_arctic_hts"),
    }
)

TRAIN_VOICES: tuple[Voice, ...] = (
    *(Voice("espeak-ng", lang) for lang in ESPEAK_LANGUAGES),
    *(Voice("espeak-ng", f"{lang}+{var}") for lang in ESPEAK_LANGUAGES for var in ESPEAK_TRAIN_VARIANTS),
    Voice("flite", "awb"),
    Voice("festival", "ked_diphone"),
)

EVAL_VOICES: tuple[Voice, ...] = (
    Voice("flite", "kal"),
    Voice("flite", "kal16"),
    Voice("flite", "slt"),
    Voice("flite", "rms"),
    Voice("festival", "kal_diphone"),
    Voice("festival", "cmu_us_slt_arctic_hts"),
    *(Voice("espeak-ng", f"{lang}+{var}") for lang in ("en-us", "en", "en-gb-x-rp") for var in ESPEAK_EVAL_VARIANTS),
)


def is_reserved(voice: Voice) -> bool:
    """Whether ``voice`` is kept for evaluation only."""
    return voice in RESERVED_EVAL_VOICES or voice.variant in ESPEAK_EVAL_VARIANTS


def check_voices(voices: Iterable[Voice], split: str) -> None:
    """Raise :class:`ConfigError` if a train build would use an evaluation voice."""
    if split not in ("train", "eval"):
        raise ConfigError(f"split must be 'train' or 'eval', got {split!r}")
    if split == "train":
        bad = sorted(v.id for v in voices if is_reserved(v))
        if bad:
            raise ConfigError(f"voices reserved for evaluation requested for training: {', '.join(bad)}")


def voices_for_split(split: str) -> tuple[Voice, ...]:
    """The default inventory of a split (before checking what is installed)."""
    check_voices((), split)
    return TRAIN_VOICES if split == "train" else EVAL_VOICES


def engine_available(engine: str) -> bool:
    return shutil.which(ENGINE_BINARIES[engine]) is not None


@lru_cache(maxsize=None)
def _flite_voices() -> frozenset[str]:
    try:
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    _, _, names = out.partition(":")
    return frozenset(names.split())


def available_voices(voices: Iterable[Voice]) -> list[Voice]:
    """The voices whose engine (and, for flite, the voice itself) is installed.

    Each skipped voice gets one log line, so a thin build explains itself.
    """
    out = []
    for v in voices:
        if not engine_available(v.engine):
            log.info("skipping voice %s: %s not found on PATH", v.id, ENGINE_BINARIES[v.engine])
        elif v.engine == "flite" and v.name not in _flite_voices():
            log.info("skipping voice %s: flite does not list it (flite -lv)", v.id)
        else:
            out.append(v)
    return out
