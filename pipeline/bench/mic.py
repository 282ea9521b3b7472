"""``rnnstream bench mic``: latency of live transcription through the real PortAudio path.

Speech (espeak-ng sentences with silences between them, or ``--wav``) is played on an
output device while the recogniser listens on an input device: a loopback (a PulseAudio
null sink's monitor, or a speaker next to a microphone). Latencies are measured from the
moment a chunk's last sample reached the process (its PortAudio callback):

- ``partial``: to each partial result the chunk produced;
- ``first_partial``: the same, for the first partial of each utterance;
- ``endpoint_to_final``: from the chunk in which the endpoint fired to the final;
- ``speech_end_to_final``: from the last word's audio to the final (this includes the
  endpointer's trailing-silence rule, a design delay rather than a processing one).

The device's own buffering (ADC to callback, as PortAudio reports it) is shown apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["run_mic_bench", "format_mic_table", "speech_program", "playback"]

SENTENCES = (
    "please turn on the kitchen lights",
    "set an alarm for seven thirty tomorrow morning",
    "what is the weather like in paris today",
    "play some quiet music in the living room",
    "remind me to call my sister at noon",
)


def speech_program(utterances: int, gap_s: float, wav: str | None = None) -> np.ndarray:
    """16 kHz speech: ``utterances`` sentences, each followed by ``gap_s`` of silence."""
    gap = np.zeros(int(gap_s * 16000), np.float32)
    if wav:
        from rnnstream.asr.wav import load_mono_16k

        return np.concatenate([gap[:8000], load_mono_16k(wav), gap])
    from rnnstream.models.corpus.synth import SynthParams, synthesize
    from rnnstream.models.corpus.voices import Voice

    parts = [gap[:8000]]
    for i in range(utterances):
        parts += [synthesize(Voice("espeak-ng", "en-us"), SENTENCES[i % len(SENTENCES)], SynthParams()), gap]
    return np.concatenate(parts).astype(np.float32)


def playback(program: np.ndarray, output_device: str | int | None = None) -> tuple[Callable, Callable]:
    """(start, stop) functions that play the 16 kHz ``program`` on an output device (the default: None)."""
    from rnnstream.connectors.audio_input import load_sounddevice

    sd = load_sounddevice()
    return (lambda: sd.play(program, 16000, device=output_device)), sd.stop


def _onsets(levels: np.ndarray, chunk_s: float, *, threshold_db: float = -45.0, quiet_s: float = 0.3) -> list[int]:
    """Chunks where the level rises above ``threshold_db`` after ``quiet_s`` below it."""
    loud = levels > threshold_db
    need = max(1, int(round(quiet_s / chunk_s)))
    return [i for i in range(need, loud.size) if loud[i] and not loud[i - need : i].any()]


def run_mic_bench(source, transcriber, *, seconds: float, player: Callable[[], None] | None = None) -> dict:
    """Listen for ``seconds`` of audio on a started capture ``source`` (a
    :class:`~rnnstream.connectors.audio_input.MicrophoneCapture`; it stays open);
    ``player()`` starts the playback."""
    from rnnstream.apps.live import LiveTranscription

    live = LiveTranscription(source, transcriber)
    results = []
    if player is not None:
        player()
    while live.seconds < seconds:
        results += live.step(0.1)
    results += live.finish()
    chunk_s = transcriber.chunk / 16000
    levels = np.array([r.peak_dbfs for r in results])
    first_partial_after_onset = []
    for i in _onsets(levels, chunk_s):
        t0 = results[i].arrival
        hit = next((r for r in results[i:] if any(e["type"] == "partial" for e in r.events)), None)
        if hit is not None and np.isfinite(t0) and not hit.at_end:
            first_partial_after_onset.append(hit.done - t0)
    s = live.latency.summary()
    delay = source.input_delay()
    row = {
        "device": source.device.name, "capture_rate": source.capture_rate, "chunk_ms": chunk_s * 1000,
        "seconds": round(live.seconds, 2), "overflows": source.overflows,
        "device_overflows": source.device_overflows,
        "input_delay_ms": round(delay * 1000, 2) if np.isfinite(delay) else None,
        "onset_to_first_partial_n": len(first_partial_after_onset),
        "onset_to_first_partial_p50_ms": _pct(first_partial_after_onset, 50),
        "onset_to_first_partial_p99_ms": _pct(first_partial_after_onset, 99),
    }
    for name, key in (("partial", "partial"), ("first_partial", "first_partial"),
                      ("endpoint_to_final", "final"), ("speech_end_to_final", "speech_end_to_final"),
                      ("processing", "processing")):
        row[f"{name}_n"] = s[f"{key}_n"]
        row[f"{name}_p50_ms"] = s[f"{key}_p50_ms"]
        row[f"{name}_p99_ms"] = s[f"{key}_p99_ms"]
    return row


def _pct(v: list[float], q: float):
    return round(float(np.percentile(v, q)) * 1000, 2) if v else None


def format_mic_table(row: dict) -> str:
    """A markdown table of the latency rows.

    >>> print(format_mic_table({"partial_n": 2, "partial_p50_ms": 3.0, "partial_p99_ms": 4.5}).splitlines()[2])
    | chunk arrival -> partial | 2 | 3.0 | 4.5 |
    """
    names = (("partial", "chunk arrival -> partial"), ("first_partial", "chunk arrival -> first partial"),
             ("onset_to_first_partial", "speech onset chunk -> first partial"),
             ("endpoint_to_final", "endpoint chunk -> final"), ("speech_end_to_final", "last word -> final"),
             ("processing", "recogniser time per chunk"))
    out = ["| latency | n | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    for key, label in names:
        if f"{key}_n" not in row:
            continue
        p50, p99 = row.get(f"{key}_p50_ms"), row.get(f"{key}_p99_ms")
        out.append(f"| {label} | {row[f'{key}_n']} | {'-' if p50 is None else p50} | {'-' if p99 is None else p99} |")
    return "\n".join(out)
