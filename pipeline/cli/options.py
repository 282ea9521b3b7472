"""Options several commands take, each declared once with one default.

A command that takes the ASR model, ``--provider``, ``--chunk-ms``, the decoding flags, the
microphone flags, ``--bootstrap-servers``, ``--json`` or ``--max-seconds`` adds it from
here, so no default can drift between commands. The ASR defaults are the fields of
:class:`~rnnstream.config.AsrOperatorConfig`, and the ASR flags become one: the CLI, config
files and the library build the operator the same way, with the same checks, and an error
names the flag that caused it.

>>> p = argparse.ArgumentParser()
>>> add_asr_options(p)
>>> cfg = asr_config(p.parse_args(["--beam", "4"]))
>>> cfg.beam, cfg.provider, cfg.chunk_ms, cfg.model
(4, 'auto', 100.0, 'builtin:asr')
>>> asr_config(p.parse_args(["--lm-order", "7"]))
Traceback (most recent call last):
...
rnnstream.errors.ConfigError: --lm-order: Input should be less than or equal to 5 (got 7)
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from pydantic import ValidationError

from rnnstream.apps.transcribe import DEFAULT_ASR_MODEL
from rnnstream.config import AsrOperatorConfig
from rnnstream.errors import ConfigError, ModelError

__all__ = ["add_model_options", "add_chunk_ms", "add_decoder_args", "add_asr_options", "add_mic_options",
           "add_bootstrap_servers", "add_json_lines", "add_json_file", "add_max_seconds", "latency_arg",
           "asr_config", "build_asr", "flag_for", "open_capture", "kafka_producer", "quiet_kafka_client",
           "server_list", "PROVIDERS", "ASR_FIELDS", "DEFAULT_BOOTSTRAP_SERVERS"]

_ASR = AsrOperatorConfig.model_fields
PROVIDERS = ("auto", "cpu", "cuda")
# The AsrOperatorConfig fields a command line sets; each flag is the field with dashes.
ASR_FIELDS = ("model", "provider", "chunk_ms", "beam", "general_lm", "lm", "domain_weight", "lm_order", "lm_weight",
              "word_bonus", "blank_penalty", "companion", "companion_weight")
DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"


def flag_for(field: str) -> str:
    """The flag that sets a config field.

    >>> flag_for("companion_weight")
    '--companion-weight'
    """
    return "--" + field.replace("_", "-")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """``--model`` (an ASR model) and ``--provider``."""
    p.add_argument("--model", default=DEFAULT_ASR_MODEL, help=f"ASR model (.onnx) or builtin:asr "
                   f"(default {DEFAULT_ASR_MODEL})")
    p.add_argument("--provider", default=_ASR["provider"].default, choices=PROVIDERS,
                   help=f"where the model runs: auto uses CUDA when onnxruntime has it "
                   f"(default {_ASR['provider'].default})")


def add_chunk_ms(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--chunk-ms``; ``help`` where the chunk means something else than the recogniser's."""
    default = _ASR["chunk_ms"].default
    p.add_argument("--chunk-ms", type=float, default=default,
                   help=help or f"chunk length, a multiple of 20 ms (default {default:g})")


def add_decoder_args(p: argparse.ArgumentParser) -> None:
    """Flags that switch finals from greedy CTC to prefix beam search with a word LM."""
    from rnnstream.asr.beam import DEFAULT_BEAM

    g = p.add_argument_group("decoding (finals; partials stay greedy)")
    g.add_argument("--beam", type=int, default=_ASR["beam"].default,
                   help=f"prefix beam search with this many beams (default {DEFAULT_BEAM} with an LM)")
    g.add_argument("--general-lm", default=_ASR["general_lm"].default, metavar="LM",
                   help=f"word LM for finals: builtin:lm-en, a .npz from `rnnstream train lm`, or none for "
                   f"greedy finals (default {_ASR['general_lm'].default})")
    g.add_argument("--greedy", dest="general_lm", action="store_const", const=None,
                   help="greedy finals, no LM (same as --general-lm none)")
    g.add_argument("--lm", type=Path, default=_ASR["lm"].default, metavar="TEXT",
                   help="your domain: a text file, one sentence per line, whose word n-gram is interpolated "
                   "with the general LM (its words join the lexicon)")
    g.add_argument("--domain-weight", type=float, default=_ASR["domain_weight"].default,
                   help=f"the --lm model's share beside the general LM (default {_ASR['domain_weight'].default})")
    g.add_argument("--lm-order", type=int, default=_ASR["lm_order"].default,
                   help=f"n-gram order of the --lm model (1-5, default {_ASR['lm_order'].default})")
    g.add_argument("--lm-weight", type=float, default=_ASR["lm_weight"].default,
                   help=f"LM weight alpha (default {_ASR['lm_weight'].default})")
    g.add_argument("--word-bonus", type=float, default=_ASR["word_bonus"].default,
                   help=f"score added per word, beta (default {_ASR['word_bonus'].default})")
    g.add_argument("--blank-penalty", type=float, default=_ASR["blank_penalty"].default,
                   help=f"nats taken from the blank on every frame, with --lm "
                   f"(default {_ASR['blank_penalty'].default})")
    g.add_argument("--companion", default=_ASR["companion"].default, metavar="MODEL",
                   help="a second ASR model (.onnx or builtin:asr-companion) that also decodes each final; "
                   "the pooled n-best is rescored with both models (needs --beam or --lm)")
    g.add_argument("--companion-weight", type=float, default=_ASR["companion_weight"].default,
                   help=f"the companion's share of the acoustic score, 0 to <1 "
                   f"(default {_ASR['companion_weight'].default})")


def add_asr_options(p: argparse.ArgumentParser) -> None:
    """Everything :func:`asr_config` reads: model, provider, chunk length, decoding."""
    add_model_options(p)
    add_chunk_ms(p)
    add_decoder_args(p)


def latency_arg(value: str) -> str | float:
    """``low``, ``high`` or seconds, as PortAudio takes them.

    >>> latency_arg("low"), latency_arg("0.05")
    ('low', 0.05)
    """
    if value in ("low", "high"):
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not low, high or a number of seconds") from None
    if not 0 < seconds < 10:
        raise argparse.ArgumentTypeError(f"latency {seconds:g} s is out of range")
    return seconds


def add_mic_options(p: argparse.ArgumentParser, title: str = "microphone") -> None:
    """Capture options of every microphone command, as one group; :func:`open_capture` reads them."""
    g = p.add_argument_group(title)
    g.add_argument("--device", help="input device index or name (see `rnnstream devices`; default: the "
                   "default input)")
    g.add_argument("--capture-rate", type=int, default=None,
                   help="capture at this rate in Hz (default: 16000 if the device takes it, else its own rate)")
    g.add_argument("--channels", type=int, default=None, help="capture channels, downmixed to mono (default: fewest)")
    g.add_argument("--latency", type=latency_arg, default="high",
                   help="PortAudio input buffering: low, high or seconds (default high: robust under load)")
    g.add_argument("--buffer-s", type=float, default=20.0, help="ring buffer length in seconds (default 20)")


def add_bootstrap_servers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap-servers", default=DEFAULT_BOOTSTRAP_SERVERS,
                   help=f"Kafka brokers, comma-separated (default {DEFAULT_BOOTSTRAP_SERVERS})")


def add_json_lines(p: argparse.ArgumentParser, help: str) -> None:
    """``--json`` as a switch: print JSON lines instead of text."""
    p.add_argument("--json", action="store_true", help=help)


def add_json_file(p: argparse.ArgumentParser, help: str) -> None:
    """``--json FILE``: also write the result to this file."""
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help=help)


def add_max_seconds(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--max-seconds", type=float, default=None, help=help)


# A message that starts with a field ("lm_order: ..." or "operators[asr].lm: ...").
_FIELD_PREFIX = re.compile(r"^(?:operators\[[^\]]*\]\.)?([a-z_]+): ")


def _flag_message(message: str) -> str:
    """``message`` with a leading ASR config field named by its flag instead."""
    m = _FIELD_PREFIX.match(message)
    if m is None or m.group(1) not in ASR_FIELDS:
        return message
    return f"{flag_for(m.group(1))}: {message[m.end():]}"


def asr_config(args: argparse.Namespace, name: str = "asr") -> AsrOperatorConfig:
    """The validated operator config the ASR flags describe; an error names the flag.

    Flags a command does not have keep the config's defaults.
    """
    fields = {f: getattr(args, f) for f in ASR_FIELDS if hasattr(args, f)}
    fields.setdefault("model", DEFAULT_ASR_MODEL)
    try:
        return AsrOperatorConfig(type="asr", name=name, **fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "model"
        raise ConfigError(f"{flag_for(field)}: {err['msg']} (got {err['input']!r})") from None
    except ConfigError as exc:
        raise ConfigError(_flag_message(str(exc))) from None


def build_asr(cfg: AsrOperatorConfig):
    """The ASR operator of ``cfg`` (from :func:`asr_config`) through the runtime's one build path.

    Errors about a field (an unknown builtin, an unreadable ``--lm``, a chunk length the model
    cannot cut) name the flag rather than the config path.
    """
    from rnnstream.runtime.build import build_operator, resolve_model

    for field in ("model", "companion"):
        spec = getattr(cfg, field)
        if spec is None:
            continue
        try:
            resolve_model(spec)
        except ConfigError as exc:
            # resolve_model names its argument "model"; here it may be the companion.
            raise ConfigError(f"{flag_for(field)}: {str(exc).split(': ', 1)[-1]}") from None
    try:
        return build_operator(cfg)
    except (ConfigError, ModelError) as exc:
        raise type(exc)(_flag_message(str(exc))) from None


def open_capture(args: argparse.Namespace, metrics=None):
    """A started :class:`~rnnstream.connectors.audio_input.MicrophoneCapture` from :func:`add_mic_options` flags."""
    from rnnstream.connectors.audio_input import MicrophoneCapture

    capture = MicrophoneCapture(args.device, capture_rate=args.capture_rate, channels=args.channels,
                                buffer_s=args.buffer_s, latency=args.latency, metrics=metrics)
    capture.start()
    return capture


def server_list(text: str) -> list[str]:
    """``--bootstrap-servers`` as a list.

    >>> server_list("a:1, b:2,")
    ['a:1', 'b:2']
    """
    return [s.strip() for s in text.split(",") if s.strip()]


def quiet_kafka_client() -> None:
    """kafka-python logs every connection at INFO; a terminal user wants rnnstream's lines only."""
    kafka_log = logging.getLogger("kafka")
    if kafka_log.getEffectiveLevel() < logging.WARNING:
        kafka_log.setLevel(logging.WARNING)


def kafka_producer(args: argparse.Namespace):
    """A kafka-python producer for ``--bootstrap-servers``."""
    from rnnstream.connectors.kafka_client import load_backend

    quiet_kafka_client()
    return load_backend("kafka-python").producer(server_list(args.bootstrap_servers), {})
