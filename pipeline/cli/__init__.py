"""The ``rnnstream`` command line: one module per command, shared options in :mod:`.options`.

This package is the only place that imports argparse, sees a ``Namespace``, or reads
config files and the environment.
"""

from __future__ import annotations

from rnnstream.cli.main import COMMAND_MODULES, build_parser, main

__all__ = ["main", "build_parser", "COMMAND_MODULES"]
