"""Garbage-collector settings for a long-running daemon.

The hot path makes many short-lived objects (the Kafka client's message objects, header
lists), so CPython's cyclic collector runs often, and every full collection walks all
long-lived objects too: the key table, the models, the imported modules. Measured with the
Kafka benchmark, those full collections show up as tail latency. :func:`settle_heap` moves
everything that exists after start-up out of the collector's sight (``gc.freeze``) and makes
the young generation larger, so collections are rarer and short. Reference counting still
frees nearly everything at once; only cycles wait longer.

>>> import gc
>>> before = gc.get_threshold()
>>> settle_heap()
>>> gc.get_threshold()[0] >= 20000 and gc.get_freeze_count() > 0
True
>>> gc.unfreeze(); gc.set_threshold(*before)
"""

from __future__ import annotations

import gc

__all__ = ["settle_heap", "YOUNG_THRESHOLD"]

YOUNG_THRESHOLD = 20000
"""Allocations between young-generation collections (CPython's default is 700)."""


def settle_heap() -> None:
    """Collect once, freeze what survives, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 50, 1000)
