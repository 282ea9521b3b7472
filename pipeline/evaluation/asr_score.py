"""What ``eval asr`` scores: utterance subsets, and WER/CER per group and overall.

Manifests of real speech group by ``source`` and have a ``speaker``; the synthetic corpora
have a ``voice`` instead, which then stands in for both.

>>> rows = [{"id": i, "speaker": s, "source": "a"} for i, s in (("3", "x"), ("1", "x"), ("2", "y"), ("4", "x"))]
>>> [e["id"] for e in per_speaker(rows, 2)]
['1', '2', '3']
>>> r = score_system([{"id": "u", "text": "the cat sat", "source": "a"}], {"u": "the cat sad"})
>>> r["utterances"], round(r["wer"], 3), round(r["cer"], 3), list(r["groups"])
(1, 0.333, 0.091, ['a'])
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

__all__ = ["edit_distance", "group_of", "speaker_of", "group_field", "per_speaker", "score_system"]


def edit_distance(a: list, b: list) -> int:
    """Levenshtein distance. ``edit_distance("kitten", "sitting")`` is 3."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def group_field(entries: Iterable[dict[str, Any]]) -> str:
    """``source`` when every entry has one, else ``voice`` (the synthetic corpora)."""
    return "source" if all(e.get("source") for e in entries) else "voice"


def group_of(entry: dict[str, Any]) -> str:
    """The row an utterance is reported under."""
    return str(entry.get("source") or entry.get("voice") or "-")


def speaker_of(entry: dict[str, Any]) -> str:
    """The speaker; a synthetic voice is one speaker."""
    return str(entry.get("speaker") or entry.get("voice") or "-")


def per_speaker(entries: Iterable[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    """The first ``n`` utterances of each speaker by id (all with ``n`` None), sorted by id.

    Taking the same number from every speaker keeps a subset balanced: the first utterances
    of a manifest are one or two speakers' whole chapters.
    """
    ordered = sorted(entries, key=lambda e: e["id"])
    if n is None:
        return ordered
    taken: dict[str, int] = defaultdict(int)
    out = []
    for e in ordered:
        spk = speaker_of(e)
        if taken[spk] < n:
            taken[spk] += 1
            out.append(e)
    return out


def _rates(acc: dict[str, float]) -> dict[str, Any]:
    return {"utterances": int(acc["n"]), "wer": acc["word_err"] / max(1.0, acc["words"]),
            "cer": acc["char_err"] / max(1.0, acc["chars"])}


def score_system(entries: Iterable[dict[str, Any]], hyps: dict[str, str]) -> dict[str, Any]:
    """WER and CER over the entries (``text`` normalised) against ``hyps`` by id, per group and overall."""
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    total: dict[str, float] = defaultdict(float)
    for e in entries:
        ref, hyp = e["text"], hyps[e["id"]]
        counts = {"word_err": edit_distance(hyp.split(), ref.split()), "words": len(ref.split()),
                  "char_err": edit_distance(list(hyp), list(ref)), "chars": len(ref), "n": 1}
        for acc in (groups[group_of(e)], total):
            for k, v in counts.items():
                acc[k] += v
    return {**_rates(total), "groups": {g: _rates(acc) for g, acc in sorted(groups.items())}}
