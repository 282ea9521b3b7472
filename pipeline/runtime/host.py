"""The pipeline as the state host of a partitioned source, and the release of key ids.

A Kafka source owns partitions, not keys: when it gains one it restores that partition's
keys into the pipeline's stores, when it loses one it drains pending records and drops
those keys (not an eviction: they live on at another member). Key ids go back to the key
table only when no operator holds state for them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnstream.operators.base import SharesState

__all__ = ["KeyHost"]


class KeyHost:
    """Mixed into :class:`~rnnstream.runtime.loop.Pipeline`; implements
    :class:`~rnnstream.runtime.changelog.StateHost` over its schedulers."""

    schedulers: dict
    keys: object
    metrics: object
    _dropping: bool
    _release_listeners: list[Callable[[np.ndarray], None]]
    sinks: list
    dead_letters: object

    def flush(self) -> None:  # the pipeline's
        raise NotImplementedError

    def _make_release(self, op_name: str):
        def release(ids: np.ndarray, reason: str) -> None:
            if not self._dropping:  # a revoked partition's keys moved to another member; not evicted
                self.metrics.evictions.labels(op_name, reason).inc(ids.size)
            # A key id is free only when no operator holds state for it any more.
            held = np.zeros(ids.size, dtype=bool)
            for sched in self.schedulers.values():
                held |= sched.store.lookup(ids) >= 0
            free = ids[~held]
            self.keys.release(free.tolist())
            for listener in self._release_listeners:
                listener(free)

        return release

    def stores(self) -> dict[str, tuple]:
        """``{operator: (store, model sha256)}``."""
        return {n: (s.store, s.operator.describe()["sha256"]) for n, s in self.schedulers.items()}

    def shared_states(self) -> dict:
        """``{operator: operator}`` for operators with state shared by every key (mined templates)."""
        return {n: s.operator for n, s in self.schedulers.items() if isinstance(s.operator, SharesState)}

    def drop_keys(self, ids: np.ndarray) -> None:
        """Forget keys in every operator (their partition went elsewhere); not counted as evictions."""
        self._dropping = True
        try:
            for name, sched in self.schedulers.items():
                sched.store.end(np.asarray(ids, dtype=np.int64))
                self.metrics.live_keys.labels(name).set(sched.store.live_keys)
        finally:
            self._dropping = False

    def on_release(self, listener) -> None:
        """Call ``listener(ids)`` whenever key ids are released."""
        self._release_listeners.append(listener)

    def drain(self) -> None:
        """Process every pending record and flush sinks and dead letters (before giving partitions up)."""
        self.flush()
        for sink in self.sinks:
            sink.flush()
        self.dead_letters.flush()
