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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from rnnstream.models.corpus.voices import ENGINE_BINARIES, Voice
from rnnstream.asr.wav import read_wav, resample
from rnnstream.errors import ConfigError, RnnstreamError

__all__ = ["SynthError", "SynthParams", "check_f0_range", "random_params", "synth_command", "synthesize"]


class SynthError(RnnstreamError):
    """The TTS engine failed or produced no usable audio."""


@dataclass(frozen=True)
class SynthParams:
    """Prosody knobs: espeak-ng uses rate (words/min), pitch (0-99) and word gap (10 ms
    units); flite and festival use the duration stretch and the mean f0 (Hz). festival's
    f0 and both engines' f0 spread ``f0_std`` apply only when ``f0_std`` is set (builds
    with an ``f0_range``), so older corpora rebuild byte for byte."""

    rate: int = 170
    pitch: int = 50
    gap: int = 0
    stretch: float = 1.0
    f0: float = 110.0
    f0_std: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def check_f0_range(f0_range: tuple[float, float] | None, field: str = "f0_range") -> None:
    """Raise :class:`ConfigError` naming ``field`` unless the range is ``LO < HI`` within 40-400 Hz."""
    if f0_range is not None and not 40.0 <= f0_range[0] < f0_range[1] <= 400.0:
        raise ConfigError(f"{field}: expected LO < HI within 40-400 Hz, got {f0_range[0]:g} {f0_range[1]:g}")


def random_params(voice: Voice, rng: np.random.Generator,
                  f0_range: tuple[float, float] | None = None) -> SynthParams:
    """Draw prosody for one utterance; the ranges stay within intelligible speech.

    ``f0_range`` (Hz) replaces the voice's own pitch range for flite and festival, drawn
    log-uniformly whatever the voice's sex, with a random spread: a male voice at a
    female pitch, with its formants unchanged, which resampling (``--speed``) can't give.

    >>> p = random_params(Voice("festival", "ked_diphone"), np.random.default_rng(0), (80, 260))
    >>> 80 <= p.f0 <= 260 and p.f0_std is not None
    True
    """
    female = voice.name in ("slt", "kal_diphone") or (voice.variant or "").startswith("f")
    # Every field is drawn, in the same order, with or without a range: the random stream, and so
    # every corpus built before ranges existed, stays the same; the range then replaces f0.
    params = SynthParams(
        rate=int(rng.integers(130, 201)),
        pitch=int(rng.integers(25, 76)),
        gap=int(rng.integers(0, 4)),
        stretch=round(float(rng.uniform(0.85, 1.2)), 3),
        f0=round(float(rng.uniform(170, 230) if female else rng.uniform(90, 140)), 1),
    )
    if f0_range is None or voice.engine == "espeak-ng":
        return params
    lo, hi = f0_range
    f0 = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 1)
    return replace(params, f0=f0, f0_std=round(float(rng.uniform(0.06, 0.2)) * f0, 1))


def synth_command(voice: Voice, text: str, out_path: str, params: SynthParams) -> list[str]:
    """The argv that renders ``text`` to ``out_path`` (festival reads text from a file
    next to ``out_path``, written by :func:`synthesize`)."""
    exe = ENGINE_BINARIES[voice.engine]
    if voice.engine == "espeak-ng":
        return [exe, "-v", voice.name, "-s", str(params.rate), "-p", str(params.pitch), "-g", str(params.gap),
                "-w", out_path, text]
    if voice.engine == "flite":
        spread = [] if params.f0_std is None else ["--setf", f"int_f0_target_stddev={params.f0_std}"]
        return [exe, "-voice", voice.name, "--setf", f"duration_stretch={params.stretch}",
                "--setf", f"int_f0_target_mean={params.f0}", *spread, "-t", text, "-o", out_path]
    if voice.engine == "festival":
        # Diphone voices take their f0 targets from int_lr_params (Int_Targets_LR); the
        # model_f0 pair is the value every festival diphone voice ships with.
        pitch = ("" if params.f0_std is None else
                 f" (set! int_lr_params '((target_f0_mean {params.f0}) (target_f0_std {params.f0_std})"
                 " (model_f0_mean 170) (model_f0_std 34)))")
        scheme = f"(begin (voice_{voice.name}) (Parameter.set 'Duration_Stretch {params.stretch}){pitch})"
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
