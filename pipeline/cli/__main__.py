"""``python -m rnnstream.cli``: the same as the ``rnnstream`` command."""

from __future__ import annotations

import sys

from rnnstream.cli.main import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
