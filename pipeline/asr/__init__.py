"""Speech decoding: features, CTC, beam search with a word LM, rescoring, endpointing, text, audio files.

Only what the runtime needs to turn audio into text lives here; building training corpora
is :mod:`rnnstream.models.corpus`, and the operator that runs a model is
:class:`~rnnstream.operators.asr.AsrOperator`.
"""

from __future__ import annotations

from rnnstream.asr.beam import BeamSearchDecoder
from rnnstream.asr.ctc import DEFAULT_VOCAB, GreedyDecoder, Vocab
from rnnstream.asr.endpoint import EndpointConfig, Endpointer
from rnnstream.asr.lm import Lexicon, NgramLM
from rnnstream.asr.lmmix import MixedLM
from rnnstream.asr.rescore import NbestRescorer
from rnnstream.asr.text import normalize_text
from rnnstream.asr.wav import audio_duration, load_mono_16k, read_audio, read_wav, write_wav
from rnnstream.asr.wordlm import WordLM

__all__ = ["BeamSearchDecoder", "DEFAULT_VOCAB", "GreedyDecoder", "Vocab", "EndpointConfig", "Endpointer",
           "Lexicon", "NgramLM", "MixedLM", "WordLM", "NbestRescorer", "normalize_text", "audio_duration",
           "load_mono_16k", "read_audio", "read_wav", "write_wav"]
