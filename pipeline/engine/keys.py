"""Stream keys as dense integer ids.

Sources intern each key string once, at decode time; from there on the hot path only moves
``int64`` ids, and the state store turns ids into slab slots with one fancy-index.

>>> t = KeyTable()
>>> ids = t.intern_many(["a", "b", "a"])
>>> ids.tolist(), t.names(ids).tolist()
([0, 1, 0], ['a', 'b', 'a'])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["KeyTable"]


class KeyTable:
    """Bidirectional map between key strings and dense ids.

    Ids are reused after :meth:`release`, so a daemon that sees keys come and go for months
    keeps a table the size of its live key set, not of its history.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._names: list[str | None] = []
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def capacity(self) -> int:
        """One past the largest id ever handed out."""
        return len(self._names)

    def intern(self, key: str) -> int:
        kid = self._ids.get(key)
        if kid is not None:
            return kid
        if self._free:
            kid = self._free.pop()
            self._names[kid] = key
        else:
            kid = len(self._names)
            self._names.append(key)
        self._ids[key] = kid
        return kid

    def intern_many(self, keys: Iterable[str]) -> np.ndarray:
        """Ids for many keys; unique keys are hashed once each."""
        # object dtype: a numpy unicode array would silently drop trailing NUL characters.
        arr = np.asarray(list(keys) if not isinstance(keys, np.ndarray) else keys, dtype=object)
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        uniq, inverse = np.unique(arr, return_inverse=True)
        return self.intern_unique([str(k) for k in uniq.tolist()])[inverse.reshape(-1)]

    def intern_unique(self, keys: list[str]) -> np.ndarray:
        """Ids for a list of distinct keys: known ones in one C-level pass of dict lookups."""
        ids = list(map(self._ids.get, keys))
        if None in ids:
            ids = [self.intern(k) if i is None else i for k, i in zip(keys, ids)]
        return np.array(ids, dtype=np.int64)

    def get(self, key: str) -> int | None:
        return self._ids.get(key)

    def name(self, kid: int) -> str:
        name = self._names[kid]
        if name is None:
            raise KeyError(kid)
        return name

    def names(self, ids: np.ndarray) -> np.ndarray:
        """Key strings for an id array (object dtype), looked up once per unique id."""
        ids = np.asarray(ids, dtype=np.int64)
        uniq, inverse = np.unique(ids, return_inverse=True)
        table = np.array(list(map(self._names.__getitem__, uniq.tolist())), dtype=object)
        return table[inverse.reshape(-1)]

    def release(self, ids: Iterable[int]) -> None:
        """Forget keys whose state is gone everywhere, so their ids can be reused."""
        for kid in ids:
            name = self._names[kid]
            if name is not None:
                del self._ids[name]
                self._names[kid] = None
                self._free.append(int(kid))
