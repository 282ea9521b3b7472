"""Snapshots of every operator's state together with the source positions they reflect.

File layout: ``MAGIC``, a 4-byte header length, a JSON header, then an ``.npz`` payload.
The header holds the payload's sha256, each operator's model sha256 and the source
positions. Writes are atomic (temp file, fsync, rename, fsync of the directory), so a
crash leaves either the old snapshot or the new one, never half of one. A snapshot taken
with another model resets that operator's state instead of feeding it foreign state.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnstream.errors import SnapshotError
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.store import StateStore
from rnnstream.operators.base import SharesState

__all__ = [
    "write_snapshot", "read_snapshot", "restore_snapshot", "Snapshot", "encode_snapshot", "encode_exported", "encode_named",
    "decode_snapshot",
]

log = logging.getLogger(__name__)

MAGIC = b"RNNSNAP1"
SHARED = "_shared"  # the array holding an operator's shared (not per-key) state


@dataclass
class Snapshot:
    header: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def positions(self) -> dict[str, Any]:
        return self.header.get("positions", {})


def encode_snapshot(
    stores: dict[str, tuple[StateStore, str]], keys: KeyTable, positions: dict[str, Any], *,
    shared: dict[str, SharesState] | None = None,
) -> bytes:
    """Serialise ``{operator: (store, model_sha256)}``, source positions and shared operator state."""
    return encode_exported({op: (store.export(), sha) for op, (store, sha) in stores.items()}, keys, positions,
                           shared=shared)


def encode_exported(
    exports: dict[str, tuple[dict[str, np.ndarray], str]], keys: KeyTable, positions: dict[str, Any], *,
    shared: dict[str, SharesState] | None = None,
) -> bytes:
    """Serialise ``{operator: (StateStore.export() arrays, model_sha256)}``, possibly a subset of keys.

    ``shared`` operators' state (mined templates) goes in whole, as ``<operator>/_shared`` bytes.
    """
    named = {}
    for op, (exported, sha) in exports.items():
        arrays = dict(exported)
        ids = arrays.pop("key_ids")
        named[op] = (keys.names(ids) if ids.size else np.empty(0, dtype="U1"), arrays, sha)
    return encode_named(named, positions, shared={op: o.dump_shared() for op, o in (shared or {}).items()})


def encode_named(
    named: dict[str, tuple[np.ndarray, dict[str, np.ndarray], str]], positions: dict[str, Any], *,
    shared: dict[str, bytes] | None = None,
) -> bytes:
    """Serialise ``{operator: (key names, state arrays, model_sha256)}``; needs no key table, so
    another thread may run it on copies."""
    arrays: dict[str, np.ndarray] = {}
    for op, data in (shared or {}).items():
        arrays[f"{op}/{SHARED}"] = np.frombuffer(data, dtype=np.uint8)
    ops: dict[str, Any] = {}
    for op, (names, state, sha) in named.items():
        arrays[f"{op}/keys"] = np.asarray(names).astype(str) if len(names) else np.empty(0, dtype="U1")
        for name, arr in state.items():
            arrays[f"{op}/{name}"] = arr
        ops[op] = {"model_sha256": sha, "keys": int(len(names))}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getvalue()
    header = {
        "format": 1,
        "created": time.time(),
        "operators": ops,
        "positions": positions,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    head = json.dumps(header, sort_keys=True, default=str).encode()
    return MAGIC + struct.pack(">I", len(head)) + head + payload


def decode_snapshot(data: bytes, *, origin: str = "snapshot") -> Snapshot:
    if len(data) < len(MAGIC) + 4 or not data.startswith(MAGIC):
        raise SnapshotError(f"{origin}: not an rnnstream snapshot (bad magic)")
    (n,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + n])
    except ValueError:
        raise SnapshotError(f"{origin}: corrupt header") from None
    payload = data[start + n :]
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise SnapshotError(f"{origin}: checksum mismatch (truncated or corrupt)")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as exc:
        raise SnapshotError(f"{origin}: unreadable payload: {exc}") from None
    return Snapshot(header, arrays)


def write_snapshot(path: str | Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_snapshot(path: str | Path) -> Snapshot | None:
    """The snapshot at ``path``, or None if there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    return decode_snapshot(path.read_bytes(), origin=str(path))


def restore_snapshot(
    snap: Snapshot, stores: dict[str, tuple[StateStore, str]], keys: KeyTable, *,
    shared: dict[str, SharesState] | None = None,
) -> dict[str, str]:
    """Load each operator's keys into its store. Returns ``{operator: outcome}``.

    Outcomes: ``restored``, ``model_changed`` (state dropped, logged), ``absent``. Shared
    state (mined templates) does not depend on the model's weights and is always loaded.
    """
    for op, owner in (shared or {}).items():
        saved = snap.arrays.get(f"{op}/{SHARED}")
        if saved is not None:
            owner.load_shared(saved.tobytes())
    outcome: dict[str, str] = {}
    saved_ops = snap.header.get("operators", {})
    for op, (store, sha) in stores.items():
        saved = saved_ops.get(op)
        if saved is None:
            outcome[op] = "absent"
            continue
        if saved.get("model_sha256") != sha:
            log.warning(
                "operator %s: snapshot was taken with model %s, now %s; its state starts fresh",
                op, str(saved.get("model_sha256"))[:12], sha[:12],
            )
            outcome[op] = "model_changed"
            continue
        names = snap.arrays.get(f"{op}/keys")
        if names is None:
            raise SnapshotError(f"snapshot lacks keys for operator {op!r}")
        prefix = f"{op}/"
        arrays = {k[len(prefix) :]: v for k, v in snap.arrays.items() if k.startswith(prefix) and k != prefix + SHARED}
        ids = keys.intern_many(names) if names.size else np.empty(0, np.int64)
        store.load(ids, arrays)
        outcome[op] = "restored"
    return outcome
