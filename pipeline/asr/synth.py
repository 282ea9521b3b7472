"""Run a TTS engine (espeak-ng, flite, festival ``text2wave``) on one sentence.

Each call writes into a private temporary directory, reads the result back and
resamples it to mono at the requested rate, so engines with 8 kHz or 22.05 kHz
output all come out alike.

>>> p = SynthParams(rate=170, pitch=45, gap=1, stretch=1.0, f0=110.0)
>>> synth_command(Voice("espeak-ng", "en-us+m3"), "hello there", "/tmp/x.wav", p)[:8]
['espeak-ng', '-v', 'en-us+m3', '-s', '170', '-p', '45', '-g']
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnnstream.asr.voices import ENGINE_BINARIES, Voice
from rnnstream.asr.wav import read_wav, resample
from rnnstream.errors import RnnstreamError

__all__ = ["SynthError", "SynthParams", "random_params", "synth_command", "synthesize"]


class SynthError(RnnstreamError):
    """The TTS engine failed or produced no usable audio."""


@dataclass(frozen=True)
class SynthParams:
    """Prosody knobs: espeak-ng uses rate (words/min), pitch (0-99) and word gap (10 ms
    units); flite and festival use the duration stretch, flite also the mean f0."""

    rate: int = 170
    pitch: int = 50
    gap: int = 0
    stretch: float = 1.0
    f0: float = 110.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def random_params(voice: Voice, rng: np.random.Generator) -> SynthParams:
    """Draw prosody for one utterance; the ranges stay within intelligible speech."""
    female = voice.name in ("slt", "kal_diphone") or (voice.variant or "").startswith("f")
    return SynthParams(
        rate=int(rng.integers(130, 201)),
        pitch=int(rng.integers(25, 76)),
        gap=int(rng.integers(0, 4)),
        stretch=round(float(rng.uniform(0.85, 1.2)), 3),
        f0=round(float(rng.uniform(170, 230) if female else rng.uniform(90, 140)), 1),
    )


def synth_command(voice: Voice, text: str, out_path: str, params: SynthParams) -> list[str]:
    """The argv that renders ``text`` to ``out_path`` (festival reads text from a file
    next to ``out_path``, written by :func:`synthesize`)."""
    exe = ENGINE_BINARIES[voice.engine]
    if voice.engine == "espeak-ng":
        return [exe, "-v", voice.name, "-s", str(params.rate), "-p", str(params.pitch), "-g", str(params.gap),
                "-w", out_path, text]
    if voice.engine == "flite":
        return [exe, "-voice", voice.name, "--setf", f"duration_stretch={params.stretch}",
                "--setf", f"int_f0_target_mean={params.f0}", "-t", text, "-o", out_path]
    if voice.engine == "festival":
        scheme = f"(begin (voice_{voice.name}) (Parameter.set 'Duration_Stretch {params.stretch}))"
        return [exe, "-eval", scheme, "-o", out_path, str(Path(out_path).with_suffix(".txt"))]
    raise SynthError(f"unknown engine {voice.engine!r}")


def synthesize(
    voice: Voice, text: str, params: SynthParams, sample_rate: int = 16000, timeout: float = 60.0
) -> np.ndarray:
    """Render ``text`` and return mono float32 samples at ``sample_rate``."""
    if not text.strip():
        raise SynthError("refusing to synthesise empty text")
    with tempfile.TemporaryDirectory(prefix="rnnstream-tts-") as tmp:
        out = str(Path(tmp) / "out.wav")
        if voice.engine == "festival":
            Path(out).with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
        argv = synth_command(voice, text, out, params)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError as exc:
            raise SynthError(f"{argv[0]} is not installed") from exc
        except subprocess.TimeoutExpired as exc:
            raise SynthError(f"{voice.id} timed out after {timeout}s") from exc
        if proc.returncode != 0 or not Path(out).exists():
            raise SynthError(f"{voice.id} failed (rc={proc.returncode}): {proc.stderr.strip()[:300]}")
        x, sr = read_wav(out)
    if x.size == 0 or not np.any(x):
        raise SynthError(f"{voice.id} produced silence for {text!r}")
    return resample(x, sr, sample_rate)
