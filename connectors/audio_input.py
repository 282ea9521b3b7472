"""Live audio from a PortAudio input device (sounddevice), as mono 16 kHz float32.

The PortAudio callback runs on the audio thread and must never wait: it downmixes into a
scratch array allocated up front, copies the block into a :class:`RingBuffer` (no lock),
stamps its arrival time and pokes a non-blocking pipe so the reader wakes at once. A
block that does not fit is dropped and counted; the reader turns the counts into the
``rnnstream_audio_overflows_total`` metric (the callback never touches a metric, whose
lock could block). PortAudio's own input-overflow flag is counted separately.

The reader side does the expensive work off the audio thread: polyphase resampling from
the capture rate (the device's own rate when it cannot do 16 kHz), and rounding to the
16-bit grid, so the live path, a WAV written with ``--record`` and s16le Kafka chunks all
carry identical samples.

>>> devs = [InputDevice(0, "pulse", "ALSA", 32, 44100.0, False),
...         InputDevice(3, "USB Mic: Audio (hw:1,0)", "ALSA", 2, 48000.0, True)]
>>> resolve_device(None, devs).index, resolve_device("usb", devs).index, resolve_device("0", devs).name
(3, 3, 'pulse')
>>> choose_format(devs[1], lambda rate, ch: rate == 48000 and ch == 2, None, None)
(48000, 2)
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnstream.connectors.resampler import StreamResampler
from rnnstream.connectors.ringbuffer import RingBuffer
from rnnstream.errors import ConfigError, ConnectorError

__all__ = ["InputDevice", "MicrophoneCapture", "list_input_devices", "resolve_device", "choose_format", "load_sounddevice"]

TARGET_RATE = 16000


def load_sounddevice():
    """The sounddevice module, or one clear error naming the extra to install."""
    try:
        import sounddevice as sd
    except ImportError:
        raise ConnectorError("the microphone needs the audio extra: pip install 'rnnstream[audio]'") from None
    except OSError as exc:  # the module imports, but libportaudio is missing
        raise ConnectorError(f"PortAudio is not available ({exc}); install libportaudio2") from None
    return sd


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: float
    is_default: bool


def list_input_devices() -> list[InputDevice]:
    """Every PortAudio device with at least one input channel."""
    sd = load_sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise ConnectorError(f"cannot list audio devices: {exc}") from None
    if default_in is None or default_in < 0:
        try:
            default_in = sd.query_devices(kind="input")["index"]
        except sd.PortAudioError:
            default_in = -1
    return [
        InputDevice(d["index"], d["name"], apis[d["hostapi"]]["name"], int(d["max_input_channels"]),
                    float(d["default_samplerate"]), d["index"] == default_in)
        for d in devices
        if d["max_input_channels"] > 0
    ]


def resolve_device(spec: str | int | None, devices: list[InputDevice]) -> InputDevice:
    """By index, by (case-insensitive) name or name fragment, or the default input when None."""
    if not devices:
        raise ConnectorError("no audio input device found (see `rnnstream devices`)")
    if spec is None or spec == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        for d in devices:
            if d.index == int(text):
                return d
        raise ConfigError(f"--device {text}: no input device with that index (see `rnnstream devices`)")
    exact = [d for d in devices if d.name.lower() == text.lower()]
    if exact:
        return exact[0]
    found = [d for d in devices if text.lower() in d.name.lower()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(f"--device {text!r}: no input device matches (see `rnnstream devices`)")
    raise ConfigError(f"--device {text!r} is ambiguous: " + ", ".join(f"{d.index}: {d.name}" for d in found))


def choose_format(device: InputDevice, check: Callable[[int, int], bool], rate: int | None,
                  channels: int | None) -> tuple[int, int]:
    """(capture rate, channels): 16 kHz mono when the device takes it, else its own rate and
    the fewest channels it accepts (downmixed later). Explicit values are used as given."""
    if channels is None:
        channels = next((c for c in (1, 2, device.channels) if 0 < c <= device.channels
                         and check(rate or int(device.default_rate), c)), min(2, device.channels))
    if rate is None:
        rate = TARGET_RATE if check(TARGET_RATE, channels) else int(round(device.default_rate))
    if channels < 1 or channels > device.channels:
        raise ConfigError(f"--channels {channels}: {device.name} has {device.channels} input channels")
    return int(rate), int(channels)


class MicrophoneCapture:
    """Capture from ``device`` (index, name or None for the default) until :meth:`stop`.

    ``stream_factory(device_index, rate, channels, blocksize, latency, callback)`` replaces
    ``sounddevice.InputStream`` (tests drive the callback themselves); ``devices`` then
    replaces the device query.
    """

    def __init__(self, device: str | int | None = None, *, capture_rate: int | None = None,
                 channels: int | None = None, block_ms: float = 20.0, buffer_s: float = 20.0,
                 latency: str | float = "high", metrics: Any = None, quantize: bool = True,
                 stream_factory: Callable[..., Any] | None = None,
                 devices: list[InputDevice] | None = None) -> None:
        self.device = resolve_device(device, devices if devices is not None else list_input_devices())
        if stream_factory is None:
            sd = load_sounddevice()

            def check(rate: int, ch: int) -> bool:
                try:
                    sd.check_input_settings(self.device.index, channels=ch, samplerate=rate, dtype="float32")
                    return True
                except Exception:  # noqa: BLE001 - PortAudio says no in several ways
                    return False

            stream_factory = _sounddevice_stream
        else:
            def check(rate: int, ch: int) -> bool:
                return True
        self.capture_rate, self.channels = choose_format(self.device, check, capture_rate, channels)
        self.blocksize = max(1, int(round(self.capture_rate * block_ms / 1000.0)))
        self.ring = RingBuffer(max(int(buffer_s * self.capture_rate), 4 * self.blocksize))
        self.resampler = StreamResampler(self.capture_rate, TARGET_RATE)
        self.quantize = quantize
        self.latency = latency
        self.device_overflows = 0
        self.callback_errors = 0
        self.delivered = 0  # 16 kHz samples returned by read()
        self._factory = stream_factory
        self._mix = np.zeros(8 * self.blocksize, np.float32)
        self._inv_ch = np.float32(1.0 / self.channels)
        self._delays = np.full(256, np.nan)  # ADC-to-callback delays reported by PortAudio
        self._n_delays = 0
        self._stream = None
        self._wake_r, self._wake_w = os.pipe()
        self._fds: tuple[int, ...] = (self._wake_r, self._wake_w)
        os.set_blocking(self._wake_w, False)
        self._poke = b"\0"
        self._metric = metrics.audio_overflows.labels(self.device.name) if metrics is not None else None
        self._counted = 0

    # -- audio thread ----------------------------------------------------------------------
    def _callback(self, indata, frames, time_info, status) -> None:
        try:
            now = time.monotonic()
            if status.input_overflow:
                self.device_overflows += 1
            if self.channels == 1:
                block = indata[:, 0]
            elif frames <= self._mix.shape[0]:
                block = self._mix[:frames]
                np.sum(indata, axis=1, out=block)
                block *= self._inv_ch
            else:  # a block larger than PortAudio promised: correctness over the no-allocation rule
                block = indata.mean(axis=1).astype(np.float32)
            self.ring.write(block, stamp=now)
            adc = time_info.inputBufferAdcTime
            if adc > 0:
                self._delays[self._n_delays % 256] = time_info.currentTime - adc
                self._n_delays += 1
            os.write(self._wake_w, self._poke)
        except BlockingIOError:  # the wake-up pipe is full: the reader is awake anyway
            pass
        except Exception:  # noqa: BLE001 - an exception here would abort the PortAudio stream
            self.callback_errors += 1

    # -- reader thread ---------------------------------------------------------------------
    def start(self, first_block_timeout: float | None = 10.0) -> None:
        """Open and start the stream; return once the first block has arrived (unless the timeout is None).

        Some paths (ALSA's pulse plugin) deliver nothing for the first few hundred ms; waiting
        here means "listening" is only announced once audio really flows.
        """
        if self._stream is not None:
            return
        self._stream = self._factory(self.device.index, self.capture_rate, self.channels, self.blocksize,
                                     self.latency, self._callback)
        self._stream.start()
        if first_block_timeout is None:
            return
        deadline = time.monotonic() + first_block_timeout
        while self.ring.written == 0 and self.ring.overflows == 0:
            if time.monotonic() > deadline:
                self.stop()
                raise ConnectorError(f"{self.device.name}: no audio arrived within {first_block_timeout:g} s")
            self.wait(0.05)

    def wait(self, timeout: float) -> bool:
        """Sleep until the callback delivers a block (True) or ``timeout`` passes (False)."""
        ready, _, _ = select.select([self._wake_r], [], [], max(0.0, timeout))
        if ready:
            os.read(self._wake_r, 65536)
        return bool(ready)

    def read(self) -> np.ndarray:
        """Every 16 kHz sample available now (possibly none)."""
        self._sync_metric()
        return self._out(self.resampler.push(self.ring.read()))

    def stop(self) -> np.ndarray:
        """Stop capturing; returns the last samples (the resampler's tail included)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # noqa: BLE001 - the device may already be gone
                raise ConnectorError(f"{self.device.name}: stopping the stream failed: {exc}") from None
        self._sync_metric()
        tail = self.resampler.push(self.ring.read())
        return self._out(np.concatenate([tail, self.resampler.flush()]))

    def close(self) -> None:
        """Stop if still running and release the wake-up pipe; safe to call twice."""
        if self._stream is not None:
            self.stop()
        fds, self._fds = self._fds, ()
        for fd in fds:
            os.close(fd)

    def __enter__(self) -> MicrophoneCapture:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _out(self, y: np.ndarray) -> np.ndarray:
        if self.quantize and y.size:
            y = (np.clip(np.round(y * 32768.0), -32768.0, 32767.0) / 32768.0).astype(np.float32)
        self.delivered += y.size
        return y

    def _sync_metric(self) -> None:
        n = self.ring.overflows
        if n > self._counted and self._metric is not None:
            self._metric.inc(n - self._counted)
        self._counted = n

    # -- bookkeeping -----------------------------------------------------------------------
    @property
    def overflows(self) -> int:
        """Blocks dropped because the ring buffer was full."""
        return self.ring.overflows

    def arrival_time(self, index: int) -> float:
        """``time.monotonic()`` at which 16 kHz output sample ``index`` had fully arrived."""
        return self.ring.stamp_at(min(self.resampler.input_index(index), self.ring.written - 1))

    def input_delay(self) -> float:
        """Median seconds from the ADC to the callback (PortAudio's timing; NaN if not reported)."""
        d = self._delays[np.isfinite(self._delays)]
        d = d[(d >= 0) & (d < 2.0)]
        if d.size:
            return float(np.median(d))
        lat = getattr(self._stream, "latency", None)
        return float(lat) if isinstance(lat, (int, float)) else float("nan")


def _sounddevice_stream(index: int, rate: int, channels: int, blocksize: int, latency, callback):
    sd = load_sounddevice()
    try:
        return sd.InputStream(device=index, samplerate=rate, channels=channels, dtype="float32",
                              blocksize=blocksize, latency=latency, callback=callback)
    except sd.PortAudioError as exc:
        raise ConnectorError(f"cannot open input device {index} at {rate} Hz x {channels}: {exc}") from None
