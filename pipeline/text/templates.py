"""Log lines to template ids: known templates first, streaming Drain mining for the rest.

A block of lines is handled in columns: Arrow extracts each line's message part (the
``content`` group of a header pattern), replaces every token that holds a digit with
``<*>`` and dictionary-encodes the result. Only the block's *distinct* masked messages
meet Python: each is matched against the known templates (the model's vocabulary, loghub
style ``<*>`` patterns) and, failing that, mined online with Drain (PyPI ``drain3``), so
the cost per event is Arrow's, whatever the rate. A masked message seen before is answered
from a bounded cache.

Mined templates are saved in rnnstream's own JSON (never drain3's jsonpickle state) with
the operator's snapshots and changelog, so a restart keeps their ids.

>>> book = TemplateBook([{"id": 5, "template": "<*>Receiving block<*>src:<*>dest:<*>"}], first_mined_id=100)
>>> ids = book.ids(np.array(["Receiving block blk_1 src: /10.0.0.1:5 dest: /10.0.0.2:5",
...                           "Served block blk_7 to /10.0.0.3", "Served block blk_9 to /10.0.0.4"], object))
>>> ids.tolist()
[5, 100, 100]
>>> book.text_of(ids)[1]
'Served block <*> to <*>'
>>> again = TemplateBook([{"id": 5, "template": "<*>Receiving block<*>src:<*>dest:<*>"}], first_mined_id=100)
>>> again.load(book.dump()); again.ids(np.array(["Served block blk_3 to /10.0.0.9"], object)).tolist()
[100]
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnnstream.errors import ModelError

__all__ = ["TemplateBook", "mask_digits"]

MASK = "<*>"
CACHE_SIZE = 100_000  # distinct masked messages remembered (bounded memory under junk input)


def mask_digits(lines: pa.Array) -> pa.Array:
    """Replace every number-like run (ids, addresses, sizes) with ``<*>``.

    Drain masks whole tokens with a digit; that would also swallow a word glued to an
    address (``10.0.0.1:50010:Got``), so the run stops at the first character that cannot
    be part of a number, path or id.

    >>> mask_digits(pa.array(["10.0.0.1:50010:Got blk_-42 from /10.0.0.2:5 size 64"])).to_pylist()
    ['<*>:Got <*> from <*> size <*>']
    """
    return pc.replace_substring_regex(lines, r"[\w./:-]*\d[\w.-]*", MASK)


def _pattern(template: str) -> re.Pattern:
    parts = [re.escape(" ".join(p.split())) for p in template.split(MASK)]
    return re.compile(r"\s*" + ".*?".join(parts) + r"\s*", re.S)


class TemplateBook:
    """Known templates (fixed ids) plus a Drain miner (ids from ``first_mined_id`` on)."""

    def __init__(self, known: list[dict], *, first_mined_id: int, content_pattern: str | None = None,
                 similarity: float = 0.4, depth: int = 4, max_clusters: int = 10_000) -> None:
        from drain3.drain import Drain

        try:
            entries = [(int(t["id"]), str(t["template"])) for t in known]
            self._content = None if content_pattern is None else re.compile(content_pattern)
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise ModelError(f"log templates: unusable template spec ({exc})") from None
        if self._content is not None and "content" not in self._content.groupindex:
            raise ModelError("log templates: content_pattern needs a named group (?P<content>...)")
        self.content_pattern = content_pattern
        # Most specific first: the template with the most literal text wins a tie.
        self._known = sorted(((i, t, _pattern(t)) for i, t in entries), key=lambda e: -len(e[1].replace(MASK, "")))
        self._text = {i: t for i, t in entries}
        self.first_mined_id = first_mined_id
        self._drain_args = dict(depth=depth, sim_th=similarity, max_children=100, max_clusters=max_clusters)
        self._drain = Drain(**self._drain_args)
        self._cache: OrderedDict[str, int] = OrderedDict()

    # -- mapping ------------------------------------------------------------------------------
    def content(self, lines: pa.Array) -> pa.Array:
        """The message part of each line (the whole line where the header pattern does not match)."""
        if self._content is None:
            return lines
        got = pc.struct_field(pc.extract_regex(lines, self.content_pattern), "content")
        return pc.if_else(pc.is_null(got), lines, got)

    def ids(self, lines) -> np.ndarray:
        """Template id per line (int64), mining new templates as needed."""
        arr = pa.array(lines, type=pa.string()) if not isinstance(lines, pa.Array) else lines
        if len(arr) == 0:
            return np.empty(0, np.int64)
        masked = mask_digits(pc.utf8_trim_whitespace(self.content(pc.fill_null(arr, ""))))
        enc = masked.dictionary_encode()
        distinct = enc.dictionary.to_pylist()
        table = np.fromiter((self._one(m) for m in distinct), np.int64, len(distinct))
        return table[enc.indices.to_numpy(zero_copy_only=False)]

    def _one(self, message: str) -> int:
        hit = self._cache.get(message)
        if hit is not None:
            self._cache.move_to_end(message)
            return hit
        tid = next((i for i, _, p in self._known if p.fullmatch(message)), None)
        if tid is None:
            cluster, _ = self._drain.add_log_message(" ".join(message.split()))
            tid = self.first_mined_id + cluster.cluster_id - 1
        self._cache[message] = tid
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return tid

    def text_of(self, ids: np.ndarray) -> np.ndarray:
        """Template text per id (object array); ``""`` for ids this book does not know."""
        uniq, inv = np.unique(np.asarray(ids, np.int64), return_inverse=True)
        names = np.array([self.template(int(u)) for u in uniq] + [""], dtype=object)
        return names[inv.reshape(-1)] if uniq.size else np.empty(0, object)

    def template(self, tid: int) -> str:
        if tid in self._text:
            return self._text[tid]
        cluster = self._drain.id_to_cluster.get(tid - self.first_mined_id + 1)
        return "" if cluster is None else cluster.get_template()

    @property
    def mined(self) -> int:
        return len(self._drain.clusters)

    # -- persistence (rnnstream's own format) -------------------------------------------------
    def dump(self) -> bytes:
        """The mined templates as JSON: ``{"format": 1, "counter": n, "clusters": [...]}``."""
        clusters = [{"id": c.cluster_id, "tokens": list(c.log_template_tokens), "size": c.size}
                    for c in sorted(self._drain.clusters, key=lambda c: c.cluster_id)]
        return json.dumps({"format": 1, "counter": self._drain.clusters_counter, "clusters": clusters}).encode()

    def load(self, data: bytes) -> None:
        """Add the mined templates of ``dump`` output; ids this miner already has keep its own."""
        from drain3.drain import LogCluster

        try:
            saved = json.loads(data)
            clusters = [(int(c["id"]), [str(t) for t in c["tokens"]], int(c["size"])) for c in saved["clusters"]]
            counter = int(saved["counter"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"log templates: unreadable saved templates ({exc})") from None
        drain = self._drain
        for cid, tokens, size in clusters:
            if cid in drain.id_to_cluster:
                continue
            cluster = LogCluster(tokens, cid)
            cluster.size = size
            drain.id_to_cluster[cid] = cluster
            drain.add_seq_to_prefix_tree(drain.root_node, cluster)
        drain.clusters_counter = max(drain.clusters_counter, counter)
        self._cache.clear()
