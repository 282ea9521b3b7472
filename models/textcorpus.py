"""English text corpus for word language models, from a snapshot of Project Gutenberg books.

The source is a snapshot of github ``rcdm-uga/Gutenberg_Text`` (a bare git directory, a clone
or a plain folder of ``.txt`` files). A book is dropped when its blob is absent, it has no
``[EBook #N]`` id, its id was already taken by another file, its ``Language:`` is not English,
Project Gutenberg marks it copyrighted (:data:`COPYRIGHTED_IDS`) or it carries the World Library
notice (not public domain, no commercial use), no header end is found, or LibriSpeech evaluation
audio is read from it: its id is in the BOOK ID column of ``CHAPTERS.TXT`` for a held-out
subset, or it shares :data:`OVERLAP_N`-word sequences with held-out transcripts (the same work
can carry another id). Books are split by book, never by sentence, with a hash of the id; a
held-out book that shares long word sequences with the train text (a single volume beside its
complete edition) is dropped too. Words are :func:`rnnstream.text.tokens.tokenize` tokens other
than ``</s>``.

>>> body = strip_boilerplate("*** START OF THIS PROJECT GUTENBERG EBOOK X ***\\nIt was.\\n"
...                          "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\\nlicence")
>>> body.strip(), paragraphs("It  was\\na dark night.\\n\\n\\nChapter _one_.\\n")
('It was.', ['It was a dark night.', 'Chapter one.'])
>>> split_of(2726), parse_header("Posting Date: 2008 [EBook #2726]\\nLanguage: English\\n")
('train', (2726, 'English'))
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnnstream.errors import ConfigError
from rnnstream.text.tokens import EOS, tokenize

__all__ = [
    "COPYRIGHTED_IDS", "HELDOUT_SUBSETS", "OVERLAP_N", "SPLITS", "read_snapshot", "parse_header",
    "strip_boilerplate", "paragraphs", "split_of", "librispeech_books", "word_hashes", "ngram_keys",
    "build_gutenberg_corpus",
]

log = logging.getLogger(__name__)

COPYRIGHTED_IDS = frozenset({16, 58344, 5200, 7849, 2488, 4683})
# CHAPTERS.TXT lists every LibriSpeech subset; the -other ones are evaluation audio as well.
HELDOUT_SUBSETS = ("test-clean", "dev-clean", "test-other", "dev-other")
SPLITS = ("train", "dev", "test")
OVERLAP_N = 10
_HEAD_CHARS = 30_000
_START = re.compile(r"^[ \t]*(\*\*\*[ \t]*START OF (THIS|THE) PROJECT GUTENBERG.*"
                    r"|\**[ \t]*END[ *]+THE SMALL PRINT.*)$", re.M | re.I)
_END = re.compile(r"^[ \t]*(\*\*\*[ \t]*END OF (THIS|THE) PROJECT GUTENBERG"
                  r"|End of (the |this )?Project Gutenberg|End of this (Project Gutenberg )?E-?text).*$", re.M | re.I)
_ID = re.compile(r"\[E(?:Book|text) #(\d+)\]", re.I)
_LANG = re.compile(r"^[ \t]*Language:[ \t]*(.+?)[ \t]*$", re.M)
# Paragraphs that still talk about the edition rather than the book (notes, transcribers).
_BOILER = re.compile(r"gutenberg|e-?text|e-?book|https?:|www\.|transcriber|produced by|all rights reserved"
                     r"|copyright \N{COPYRIGHT SIGN}", re.I)


class _GitReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.commit = self._git("rev-parse", "HEAD").decode().strip()
        self._proc: subprocess.Popen | None = None

    def _git(self, *args: str) -> bytes:
        return subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, check=True).stdout

    def entries(self) -> list[tuple[str, str]]:
        out = []
        for rec in self._git("ls-tree", "-r", "-z", "HEAD").split(b"\0"):
            if rec:
                meta, name = rec.split(b"\t", 1)
                out.append((name.decode("utf-8", "surrogateescape"), meta.split()[2].decode()))
        return out

    def read(self, key: str) -> bytes | None:
        if self._proc is None:
            self._proc = subprocess.Popen(["git", "-C", str(self.path), "cat-file", "--batch"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._proc.stdin.write(key.encode() + b"\n")
        self._proc.stdin.flush()
        head = self._proc.stdout.readline()
        if head.endswith(b" missing\n"):  # a snapshot may list its largest blobs without them
            return None
        data = self._proc.stdout.read(int(head.split()[2]))
        self._proc.stdout.read(1)
        return data

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None


class _DirReader:
    commit = None

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[tuple[str, str]]:
        files = (p for p in self.path.rglob("*") if p.is_file() and ".git" not in p.parts)
        return sorted((p.relative_to(self.path).as_posix(), str(p)) for p in files)

    def read(self, key: str) -> bytes | None:
        return Path(key).read_bytes()

    def close(self) -> None:
        pass


def read_snapshot(path: Path):
    """A reader with ``entries() -> [(path, key)]``, ``read(key) -> bytes | None``, ``commit``."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"snapshot: {path} is not a directory")

    def rev_parse(flag: str) -> str | None:
        r = subprocess.run(["git", "-C", str(path), "rev-parse", flag], capture_output=True, text=True, check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    # A bare git directory or the top of a clone is read at HEAD; anything else as plain files.
    top = rev_parse("--show-toplevel")
    if rev_parse("--is-bare-repository") == "true" or (top and Path(top).resolve() == path.resolve()):
        return _GitReader(path)
    return _DirReader(path)


def _lf(text: str) -> str:
    """Line ends as \\n; a stray \\r (some files have \\r\\r\\n) is dropped so it neither sticks to a
    header value nor hides a blank line between paragraphs."""
    return text.replace("\r\n", "\n").replace("\r", "")


def parse_header(text: str) -> tuple[int | None, str | None]:
    """``(ebook id, language)`` from a file's header; None where it says nothing."""
    head = _lf(text[:_HEAD_CHARS])
    m, lang = _ID.search(head), _LANG.search(head)
    return (int(m.group(1)) if m else None), (lang.group(1) if lang else None)


def strip_boilerplate(text: str) -> str | None:
    """The text between the Project Gutenberg header and footer; None if no header end is found."""
    text = _lf(text)
    starts = [m for m in _START.finditer(text) if m.start() < len(text) // 2]
    if not starts:
        return None
    body = text[starts[-1].end():]
    end = _END.search(body)
    return body[: end.start()] if end else body


def paragraphs(body: str) -> list[str]:
    """Blank-line separated paragraphs, whitespace collapsed, underscores (italics) removed."""
    body = unicodedata.normalize("NFC", _lf(body).replace("_", ""))
    out = []
    for para in re.split(r"\n[ \t]*\n", body):
        para = " ".join(para.split())
        if para and not _BOILER.search(para) and re.search(r"[^\W\d_]", para):
            out.append(para)
    return out


def split_of(book_id: int, heldout_share: float = 0.02) -> str:
    """``train``, ``dev`` or ``test`` from a hash of the id: fixed whatever else is in the snapshot."""
    u = int.from_bytes(hashlib.sha256(f"gutenberg:{book_id}".encode()).digest()[:8], "big") / 2.0**64
    return "dev" if u < heldout_share else "test" if u < 2 * heldout_share else "train"


def _order_key(book_id: int) -> bytes:
    return hashlib.sha256(f"order:{book_id}".encode()).digest()


def librispeech_books(chapters: str, subsets=HELDOUT_SUBSETS) -> dict[int, list[str]]:
    """Book id -> the held-out subsets whose chapters were read from it (``CHAPTERS.TXT`` text)."""
    out: dict[int, set[str]] = {}
    for line in chapters.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if line.startswith(";") or len(cells) < 6 or not cells[5].isdigit():
            continue
        if cells[3] in subsets:
            out.setdefault(int(cells[5]), set()).add(cells[3])
    return {k: sorted(v) for k, v in sorted(out.items())}


def _words(lines: list[str]) -> pa.Array:
    flat, _ = tokenize(lines)
    return flat.filter(pc.not_equal(flat, EOS))


def word_hashes(words) -> np.ndarray:
    """A uint64 hash of each string (its UTF-8 bytes), vectorised and the same in every process."""
    arr = pa.array(words, type=pa.string()) if not isinstance(words, pa.Array) else words.cast(pa.string())
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offs[0]: offs[-1]].astype(np.uint64)
    lengths = np.diff(offs)
    if (lengths == 0).any():
        raise ConfigError("word_hashes: empty strings have no hash")
    pos = np.arange(len(data)) - np.repeat(offs[:-1] - offs[0], lengths)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        weights = np.cumprod(np.full(64, 0x100000001B3, dtype=np.uint64))
        h = np.add.reduceat((data + np.uint64(1)) * weights[pos % 64], offs[:-1] - offs[0])
        h ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)  # mix all bits (splitmix64)
        return h ^ (h >> np.uint64(29))


def ngram_keys(hashes: np.ndarray, n: int = OVERLAP_N) -> np.ndarray:
    """Sorted unique uint64 keys of the n-grams of a sequence of word hashes."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if len(hashes) < n:
        return np.zeros(0, dtype=np.uint64)
    win = np.lib.stride_tricks.sliding_window_view(hashes, n)
    h = np.zeros(len(win), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * np.uint64(0xC2B2AE3D27D4EB4F) + win[:, j]
    return np.unique(h)


def _read_librispeech(path: Path) -> tuple[str, list[str], str | None]:
    reader = read_snapshot(path)
    try:
        entries = reader.entries()
        chapters = [k for p, k in entries if p.rsplit("/", 1)[-1] == "CHAPTERS.TXT"]
        if not chapters:
            raise ConfigError(f"librispeech: no CHAPTERS.TXT in {path}")
        text = (reader.read(chapters[0]) or b"").decode("utf-8", "replace")
        trans = []
        for p, k in sorted(entries):  # utterances in order: neighbours are neighbouring text
            if p.endswith(".trans.txt") and any(f"/{s}/" in f"/{p}" for s in HELDOUT_SUBSETS):
                trans += [ln.partition(" ")[2] for ln in (reader.read(k) or b"").decode().splitlines()]
    finally:
        reader.close()
    if not librispeech_books(text):
        raise ConfigError(f"librispeech: {path} has a CHAPTERS.TXT that names no held-out book")
    return text, trans, reader.commit


def _candidates(reader, ls_books: dict[int, list[str]], excluded: list[dict]) -> list[tuple[int, str, str]]:
    """First pass over the snapshot: every file's id, language and notice; the rest are recorded."""
    seen: dict[int, str] = {}
    out = []
    for path, key in sorted(reader.entries()):
        if path.rsplit("/", 1)[-1].startswith(".") or path.endswith((".md", ".xls", ".csv")):
            continue
        data = reader.read(key)
        head = data[:_HEAD_CHARS].decode("utf-8", "replace") if data is not None else ""
        book_id, lang = parse_header(head)
        reason = ("absent from the snapshot" if data is None else "no [EBook #N] id" if book_id is None
                  else f"duplicate id (kept {seen[book_id]})" if book_id in seen
                  else f"language: {lang}" if lang is not None and lang != "English"
                  else "marked copyrighted by Project Gutenberg" if book_id in COPYRIGHTED_IDS
                  else "World Library notice: not public domain" if re.search(r"WORLD LIBRARY", head)
                  else f"LibriSpeech {', '.join(ls_books[book_id])} audio reads it" if book_id in ls_books
                  else None)
        if book_id is not None and book_id not in seen:
            seen[book_id] = path
        if reason:
            excluded.append({"id": book_id, "path": path, "reason": reason})
        else:
            out.append((book_id, path, key))
    return out


def _select(paras: list[str], counts: np.ndarray, cap: int) -> np.ndarray:
    """Mask of a contiguous run of paragraphs with at most ``cap`` words, from 10 % into the book."""
    keep = np.zeros(len(paras), dtype=bool)
    if counts.sum() <= cap:
        keep[:] = True
        return keep
    start = len(paras) // 10  # past the front matter
    within = np.cumsum(np.roll(counts, -start)) <= cap
    keep[(np.flatnonzero(within) + start) % len(paras)] = True
    return keep


def build_gutenberg_corpus(snapshot: Path, librispeech: Path, out: Path, *, max_books: int | None = None,
                           train_words: int | None = None, heldout_words: int | None = None,
                           book_words: int | None = None, max_transcript_overlap: int = 2,
                           max_train_overlap: float = 0.01) -> dict:
    """Write ``train.txt``, ``dev.txt``, ``test.txt`` (a paragraph a line) and ``corpus.json``.

    ``librispeech`` is a snapshot holding LibriSpeech's ``CHAPTERS.TXT`` and, best, the held-out
    ``*.trans.txt``. ``*_words`` cap each split, ``book_words`` each book. A book is dropped for
    more than ``max_transcript_overlap`` :data:`OVERLAP_N`-word sequences shared with the
    transcripts; a held-out book when more than ``max_train_overlap`` of its own occur in train.
    """
    for name, v in (("max_books", max_books), ("train_words", train_words),
                    ("heldout_words", heldout_words), ("book_words", book_words)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ConfigError(f"{name}: must be a positive int or None, got {v!r}")
    chapters, trans, ls_commit = _read_librispeech(Path(librispeech))
    ls_books = librispeech_books(chapters)
    trans_keys = ngram_keys(word_hashes(_words(trans)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reader = read_snapshot(Path(snapshot))
    excluded: list[dict] = []
    splits = {s: {"books": [], "words": 0, "lines": 0} for s in SPLITS}
    budget = {"train": train_words, "dev": heldout_words, "test": heldout_words}
    try:
        books = sorted(_candidates(reader, ls_books, excluded), key=lambda b: _order_key(b[0]))
        train_keys: list[np.ndarray] = []
        for split in SPLITS:  # train first: each held-out book is checked against the train text
            if split == "dev":
                train_keys = [np.unique(np.concatenate(train_keys or [np.zeros(0, np.uint64)]))]
            done = splits[split]
            with (out / f"{split}.txt").open("w", encoding="utf-8") as f:
                for book_id, path, key in books:
                    room = (budget[split] or 10**15) - done["words"]
                    if split_of(book_id) != split or room <= 0 or \
                            (max_books and sum(len(s["books"]) for s in splits.values()) >= max_books):
                        continue
                    body = strip_boilerplate(reader.read(key).decode("utf-8", "replace"))
                    if body is None:
                        excluded.append({"id": book_id, "path": path, "reason": "no Project Gutenberg header end"})
                        continue
                    paras = paragraphs(body)
                    flat, offs = tokenize(paras)
                    is_word = pc.not_equal(flat, EOS).to_numpy(zero_copy_only=False)
                    shared = int(np.isin(ngram_keys(word_hashes(flat.filter(is_word))), trans_keys).sum())
                    if shared > max_transcript_overlap:
                        excluded.append({"id": book_id, "path": path, "reason": f"shares {shared} "
                                         f"{OVERLAP_N}-word sequences with LibriSpeech transcripts"})
                        continue
                    para_of = np.repeat(np.arange(len(paras)), np.diff(offs))
                    counts = np.bincount(para_of[is_word], minlength=len(paras))
                    keep = _select(paras, counts, min(book_words or 10**15, room))
                    kept = flat.filter(keep[para_of] & is_word)
                    if len(kept) == 0:
                        if counts.sum() and room < (book_words or 10**15):
                            break  # the split's budget is spent: not even one paragraph fits
                        continue
                    mine = ngram_keys(word_hashes(kept))
                    if split == "train":
                        train_keys.append(mine)
                    elif len(mine) and (frac := float(np.isin(mine, train_keys[0]).mean())) > max_train_overlap:
                        excluded.append({"id": book_id, "path": path, "reason": f"{frac:.1%} of its "
                                         f"{OVERLAP_N}-word sequences occur in the train split"})
                        continue
                    f.write("".join(p + "\n" for p, k in zip(paras, keep) if k))
                    done["books"].append(book_id)
                    done["words"] += len(kept)
                    done["lines"] += int(keep.sum())
                    log.info("%s: book %d, %d words (split %d)", split, book_id, len(kept), done["words"])
    finally:
        reader.close()
    summary = {
        "source": {"repo": "github.com/rcdm-uga/Gutenberg_Text", "commit": reader.commit,
                   "licence": "public domain in the US; the Project Gutenberg header and footer are stripped, "
                              "so the Project Gutenberg licence no longer applies"},
        "librispeech": {"commit": ls_commit, "chapters_subsets": list(HELDOUT_SUBSETS),
                        "books_read": len(ls_books), "transcript_utterances": len(trans)},
        "tokenizer": "rnnstream.text.tokens.tokenize; words are its tokens other than </s>",
        "selection": {"max_books": max_books, "train_words": train_words, "heldout_words": heldout_words,
                      "book_words": book_words, "split": "sha256 of the book id: 2 % dev, 2 % test",
                      "overlap_n": OVERLAP_N, "max_transcript_overlap": max_transcript_overlap,
                      "max_train_overlap": max_train_overlap},
        "splits": splits,
        "excluded": sorted(excluded, key=lambda e: (e["id"] is None, e["id"] or 0, e["path"])),
    }
    tmp = out / "corpus.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / "corpus.json")
    return summary
