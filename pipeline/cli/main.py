"""The ``rnnstream`` command line. The only place that reads config files and the environment.

Each command lives in its own module that exposes ``register(subparsers)``; the handler
it sets (``func``) takes the parsed namespace and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from rnnstream import __version__
from rnnstream.errors import RnnstreamError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

# Order here is the order in --help.
COMMAND_MODULES = (
    "rnnstream.cli.run",
    "rnnstream.cli.transcribe",
    "rnnstream.cli.corpus",
    "rnnstream.cli.audio",
    "rnnstream.cli.train",
    "rnnstream.cli.eval",
    "rnnstream.cli.dashboard",
    "rnnstream.cli.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnstream",
        description="Real-time stateful RNN/LSTM/GRU stream processing with cross-key batching.",
    )
    parser.add_argument("--version", action="version", version=f"rnnstream {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from rnnstream.logs import setup_logging

    setup_logging(args.log_level, args.log_format)
    if not getattr(args, "func", None):
        if args.command is None:
            # No command: the embedded default, like `rnnstream run` with no file.
            args = parser.parse_args(["run", *(argv or [])])
        else:
            parser.print_help()
            return 2
    try:
        return int(args.func(args) or 0)
    except RnnstreamError as exc:
        print(f"rnnstream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `rnnstream demo | head` closes stdout early; that is not an error.
        logging.getLogger(__name__).debug("stdout closed")
        return 0


if __name__ == "__main__":
    sys.exit(main())
