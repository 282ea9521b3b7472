"""Manifests of real recordings from the layouts their official downloads unpack to.

``train asr`` and ``eval asr`` read JSON lines with ``id``, ``path`` (relative to the manifest),
``text`` (normalised to the CTC alphabet, digits spelled out), ``speaker``, ``source`` and
``seconds``. Three layouts are known:

- ``librispeech``: LibriSpeech and Mini LibriSpeech (OpenSLR 12 and 31), a folder holding
  ``SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt`` beside the ``.flac`` files;
- ``an4``: CMU AN4, ``etc/an4_train.transcription`` (``<s> TEXT </s> (FILEID)``) with the audio
  under ``wav/an4_clstk/SPEAKER/FILEID.{sph,wav,flac}``;
- ``arctic``: a CMU ARCTIC voice, ``etc/txt.done.data`` (``( ID "text" )``) and ``wav/ID.wav``;
- ``pairs``: any folder where each recording has its transcript beside it as ``NAME.txt``
  (e.g. rhasspy's dataset-voice-cathy); the speaker is the folder's name.

>>> import tempfile, os, numpy as np, soundfile as sf
>>> root = tempfile.mkdtemp(); d = os.path.join(root, "19", "198"); os.makedirs(d)
>>> sf.write(os.path.join(d, "19-198-0001.flac"), np.zeros(1600, np.float32), 16000)
>>> _ = open(os.path.join(d, "19-198.trans.txt"), "w").write("19-198-0001 CHAPTER 12 BEGINS\\n")
>>> [(e["id"], e["text"], e["speaker"], e["seconds"]) for e in scan("librispeech", root)]
[('19-198-0001', 'chapter twelve begins', '19', 0.1)]
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterator

from rnnstream.asr.text import normalize_text
from rnnstream.asr.wav import WavError, audio_duration
from rnnstream.errors import ConfigError

__all__ = ["LAYOUTS", "scan", "write_manifest"]

LAYOUTS = ("librispeech", "an4", "arctic", "pairs")
_AN4_LINE = re.compile(r"^\s*(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^)]+)\)\s*$")
_ARCTIC_LINE = re.compile(r'^\s*\(\s*(\S+)\s+"(.*)"\s*\)\s*$')
_AUDIO = (".flac", ".wav", ".sph", ".ogg", ".mp3")


def _find_audio(stem: Path) -> Path | None:
    for ext in _AUDIO:
        if stem.with_suffix(ext).is_file():
            return stem.with_suffix(ext)
    return None


def _librispeech(root: Path) -> Iterator[tuple[str, Path | None, str, str]]:
    for trans in sorted(root.rglob("*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            uid, _, text = line.strip().partition(" ")
            if uid:
                yield uid, _find_audio(trans.parent / uid), text, uid.split("-")[0]


def _an4(root: Path) -> Iterator[tuple[str, Path | None, str, str]]:
    listing = root / "etc" / "an4_train.transcription"
    if not listing.is_file():
        raise ConfigError(f"root: no etc/an4_train.transcription in {root}")
    for line in listing.read_text(encoding="utf-8").splitlines():
        m = _AN4_LINE.match(line)
        if m:
            uid = m.group(2).strip()
            speaker = uid.split("-")[1] if "-" in uid else "an4"
            yield uid, _find_audio(root / "wav" / "an4_clstk" / speaker / uid), m.group(1), speaker


def _arctic(root: Path) -> Iterator[tuple[str, Path | None, str, str]]:
    listing = root / "etc" / "txt.done.data"
    if not listing.is_file():
        raise ConfigError(f"root: no etc/txt.done.data in {root}")
    for line in listing.read_text(encoding="utf-8").splitlines():
        m = _ARCTIC_LINE.match(line)
        if m:
            yield m.group(1), _find_audio(root / "wav" / m.group(1)), m.group(2), root.name


def _pairs(root: Path) -> Iterator[tuple[str, Path | None, str, str]]:
    for txt in sorted(root.rglob("*.txt")):
        audio = _find_audio(txt.with_suffix(""))
        if audio is not None:
            yield txt.stem, audio, txt.read_text(encoding="utf-8", errors="replace"), root.name


def scan(layout: str, root: str | os.PathLike[str], source: str | None = None) -> list[dict]:
    """Manifest entries (paths absolute) for every transcribed recording under ``root``.

    An entry without its audio file, or with unreadable audio, is skipped and counted in the
    log line the CLI prints; an empty result is a config error.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"layout: one of {', '.join(LAYOUTS)}, got {layout!r}")
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"root: no folder {root}")
    rows = {"librispeech": _librispeech, "an4": _an4, "arctic": _arctic, "pairs": _pairs}[layout](root)
    out = []
    for uid, path, text, speaker in rows:
        text = normalize_text(text)
        if path is None or not text:
            continue
        try:
            seconds = round(audio_duration(path), 3)
        except WavError:
            continue
        out.append({"id": uid, "path": str(path.resolve()), "text": text, "speaker": speaker,
                    "source": source or layout, "seconds": seconds})
    if not out:
        raise ConfigError(f"root: no transcribed audio in {root} for layout {layout}")
    return out


def write_manifest(entries: list[dict], out: str | os.PathLike[str]) -> dict:
    """Write JSON lines with paths relative to the manifest; returns utterances, hours, speakers."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for e in entries:
            rel = os.path.relpath(e["path"], out.parent)
            f.write(json.dumps({**e, "path": rel}) + "\n")
    return {"out": str(out), "utterances": len(entries),
            "hours": round(sum(e["seconds"] for e in entries) / 3600, 3),
            "speakers": len({e["speaker"] for e in entries})}
