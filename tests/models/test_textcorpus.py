"""The Gutenberg text corpus: header and footer stripping, exclusions, split by book, budgets."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from rnnstream.errors import ConfigError
from rnnstream.models.textcorpus import (
    build_gutenberg_corpus, librispeech_books, ngram_keys, paragraphs, parse_header, split_of,
    strip_boilerplate, word_hashes,
)
from rnnstream.text.tokens import EOS, tokenize

NEW = ("\ufeffThe Project Gutenberg EBook of {title}\r\n\r\nThis eBook is for the use of anyone anywhere\r\n\r\n"
       "Title: {title}\r\n\r\nRelease Date: 2008 [EBook #{id}]\r\n\r\nLanguage: {lang}\r\n\r\n"
       "*** START OF THIS PROJECT GUTENBERG EBOOK {title} ***\r\n\r\nProduced by Someone\r\n\r\n{body}\r\n"
       "End of the Project Gutenberg EBook of {title}\r\n\r\n*** END OF THIS PROJECT GUTENBERG EBOOK ***\r\n"
       "\r\nSection 1. General Terms of Use and Redistributing Project Gutenberg-tm electronic works\r\n")
OLD = ("Project Gutenberg Etext of {title}\n\nCopyright laws are changing all over the world.\n\n"
       "{title}\n\nSeptember, 1998  [Etext #{id}]\n\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*"
       "\n\n{body}\n\nEnd of Project Gutenberg Etext of {title}\n")
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "se", "pi", "du", "fe", "go"]
TRANSCRIPT = ("THE OLD MAN WALKED SLOWLY DOWN TO THE RIVER WHERE THE BOATS WERE WAITING FOR HIM AND HIS "
              "SONS IN THE GREY LIGHT OF A COLD MORNING")


def body(seed: int, paras: int = 8, words: int = 40) -> str:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(paras):
        ws = ["".join(rng.choice(SYLLABLES, size=3)) for _ in range(words)]
        text = " ".join(ws[:20]) + ". " + " ".join(ws[20:]) + "."
        out.append(text[:30] + "\r\n" + text[30:])  # wrapped lines, as in the files
    return "\r\n\r\n".join(out)


def ids_in(split: str, n: int, start: int = 100) -> list[int]:
    return [i for i in range(start, start + 5000) if split_of(i) == split][:n]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    root = tmp_path_factory.mktemp("snap")
    train, dev, test = ids_in("train", 6), ids_in("dev", 3), ids_in("test", 3)
    books = {f"A/t{i}.txt": NEW.format(title=f"T{i}", id=i, lang="English", body=body(i)) for i in train + dev + test}
    books["C/dup.txt"] = NEW.format(title="Dup", id=train[0], lang="English", body=body(1))
    books["B/french.txt"] = NEW.format(title="F", id=ids_in("train", 7)[6], lang="French", body=body(2))
    books["B/copyright.txt"] = NEW.format(title="C", id=16, lang="English", body=body(3))
    books["B/world.txt"] = NEW.format(title="THE WORLD LIBRARY EDITION", id=ids_in("train", 8)[7], lang="English",
                                      body=body(4))
    books["B/read.txt"] = NEW.format(title="R", id=ids_in("train", 9)[8], lang="English", body=body(5))
    books["B/heard.txt"] = NEW.format(title="H", id=ids_in("train", 10)[9], lang="English",
                                      body=body(6) + "\r\n\r\nThe old man walked slowly down to the river where the "
                                      "boats were waiting for him and his sons in the grey light of a cold morning.")
    books["B/old.txt"] = OLD.format(title="Old", id=ids_in("train", 11)[10], body=body(7))
    books["B/nomark.txt"] = "Title: N\n[EBook #%d]\n\nJust text.\n" % ids_in("train", 12)[11]
    books["B/noid.txt"] = "Some file without an id.\n"
    books["B/copy.txt"] = NEW.format(title="Copy", id=ids_in("dev", 4)[3], lang="English", body=body(train[1]))
    books[".DS_Store"] = "junk"
    plain = root / "plain"
    for path, text in books.items():
        (plain / path).parent.mkdir(parents=True, exist_ok=True)
        (plain / path).write_bytes(text.encode())
    git = root / "git"
    shutil.copytree(plain, git)
    run = lambda *a, cwd=git: subprocess.run(["git", *a], cwd=cwd, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "books")
    run("clone", "-q", "--bare", str(git), str(root / "bare"), cwd=root)
    ls = root / "ls" / "test-clean" / "LibriSpeech"
    (ls / "test-clean" / "1" / "2").mkdir(parents=True)
    (ls / "CHAPTERS.TXT").write_text(
        ";ID |READER|MINUTES| SUBSET | PROJ.|BOOK ID| CH. TITLE | PROJECT TITLE\n"
        f"2 | 1 | 9.1 | test-clean | 7 | {ids_in('train', 9)[8]} | One | R\n"
        f"3 | 1 | 9.1 | train-clean-100 | 8 | {train[2]} | Two | T\n")
    (ls / "test-clean" / "1" / "2" / "1-2.trans.txt").write_text(f"1-2-0000 {TRANSCRIPT}\n")
    return {"plain": plain, "git": git, "bare": root / "bare", "ls": root / "ls",
            "train": train, "dev": dev, "test": test}


def test_strip_boilerplate_new_and_old_headers():
    new = NEW.format(title="X", id=5, lang="English", body="Call me Ishmael.")
    assert strip_boilerplate(new).split() == ["Produced", "by", "Someone", "Call", "me", "Ishmael."]
    old = OLD.format(title="Y", id=6, body="It was a dark night.")
    assert strip_boilerplate(old).strip() == "It was a dark night."
    assert strip_boilerplate("No markers at all.\n") is None
    assert paragraphs(strip_boilerplate(new)) == ["Call me Ishmael."]  # "Produced by" is dropped


def test_parse_header():
    assert parse_header(NEW.format(title="X", id=42, lang="English", body="")) == (42, "English")
    assert parse_header(OLD.format(title="Y", id=7, body="")) == (7, None)
    assert parse_header("nothing here") == (None, None)
    assert parse_header("[EBook #9]\r\r\nLanguage: English\r\r\n") == (9, "English")  # stray \r


def test_paragraphs_collapse_whitespace_and_drop_edition_notes():
    text = ("First  line\r\nwraps _here_.\r\n\r\n   \r\n\r\nSee www.gutenberg.org\r\n\r\n123\r\n\r\n"
            "Copyright \u00a9 1910 by F. Warne. All rights reserved.\r\n\r\nLast.")
    assert paragraphs(text) == ["First line wraps here.", "Last."]


def test_split_is_a_fixed_function_of_the_id():
    splits = [split_of(i) for i in range(20000)]
    assert splits == [split_of(i) for i in range(20000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "dev", "test")}
    assert 0.015 < share["dev"] < 0.025 and 0.015 < share["test"] < 0.025
    assert split_of(7, heldout_share=0.5) in ("dev", "test") or split_of(7) == "train"


def test_librispeech_books_reads_the_book_id_column():
    chapters = ("; comment\n;ID |READER|MINUTES| SUBSET | PROJ.|BOOK ID| CH. TITLE | PROJECT TITLE\n"
                "1 | 2 | 3.0 | test-clean | 4 | 55 | a | b\n2 | 2 | 3.0 | dev-clean | 4 | 55 | a | b\n"
                "3 | 2 | 3.0 | train-clean-360 | 4 | 66 | a | b\n4 | 2 | 3.0 | dev-other | 4 | 77 | a | b\n")
    assert librispeech_books(chapters) == {55: ["dev-clean", "test-clean"], 77: ["dev-other"]}
    assert librispeech_books(chapters, subsets=("test-clean",)) == {55: ["test-clean"]}


def test_hashes_are_stable_and_ngram_keys_find_shared_runs():
    flat, _ = tokenize(["a b c d e f", "x a b c d e y"])
    h = word_hashes(flat)
    assert h.dtype == np.uint64 and h[0] == h[7] and len(set(h[:6].tolist())) == 6
    assert np.array_equal(word_hashes(flat[6:]), h[6:])  # a sliced array hashes the same
    shared = np.isin(ngram_keys(h[:6], 4), ngram_keys(h[6:], 4))
    assert shared.sum() == 2  # "a b c d" and "b c d e"


def test_build_excludes_and_splits_by_book(snapshots, tmp_path):
    s = build_gutenberg_corpus(snapshots["git"], snapshots["ls"], tmp_path / "c")
    got = {k: set(v["books"]) for k, v in s["splits"].items()}
    old_id = ids_in("train", 11)[10]
    assert got["train"] == set(snapshots["train"]) | {old_id}
    assert got["dev"] == set(snapshots["dev"]) and got["test"] == set(snapshots["test"])
    reasons = {(e["id"], e["path"]): e["reason"] for e in s["excluded"]}
    expect = {
        "C/dup.txt": "duplicate id", "B/french.txt": "language: French", "B/copyright.txt": "copyrighted",
        "B/world.txt": "World Library", "B/read.txt": "LibriSpeech test-clean", "B/heard.txt": "LibriSpeech transcripts",
        "B/nomark.txt": "no Project Gutenberg header end", "B/noid.txt": "no [EBook #N] id",
        "B/copy.txt": "occur in the train split",
    }
    for path, reason in expect.items():
        assert any(p == path and reason in r for (_, p), r in reasons.items()), (path, reasons)
    assert len(reasons) == len(expect)
    texts = {k: (tmp_path / "c" / f"{k}.txt").read_text() for k in got}
    for k, text in texts.items():
        assert "Gutenberg" not in text and "Produced by" not in text and "\r" not in text
        flat, _ = tokenize(text.splitlines())
        assert int((np.asarray(flat.to_pylist()) != EOS).sum()) == s["splits"][k]["words"]
        assert len(text.splitlines()) == s["splits"][k]["lines"]
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["splits"] == s["splits"]
    assert s["source"]["commit"] and s["librispeech"]["transcript_utterances"] == 1


def test_plain_folder_bare_repo_and_clone_give_the_same_corpus(snapshots, tmp_path):
    outs = {}
    for kind in ("plain", "bare", "git"):
        s = build_gutenberg_corpus(snapshots[kind], snapshots["ls"], tmp_path / kind)
        outs[kind] = (s["splits"], [(tmp_path / kind / f"{x}.txt").read_text() for x in ("train", "dev", "test")])
    assert outs["plain"] == outs["bare"] == outs["git"]


def test_budgets_cap_words_per_split_and_per_book(snapshots, tmp_path):
    s = build_gutenberg_corpus(snapshots["git"], snapshots["ls"], tmp_path / "b", train_words=500,
                               heldout_words=100, book_words=250)
    assert 400 <= s["splits"]["train"]["words"] <= 500 and len(s["splits"]["train"]["books"]) == 2
    assert 0 < s["splits"]["dev"]["words"] <= 100 and 0 < s["splits"]["test"]["words"] <= 100
    s = build_gutenberg_corpus(snapshots["git"], snapshots["ls"], tmp_path / "m", max_books=2)
    assert sum(len(v["books"]) for v in s["splits"].values()) == 2


def test_bad_inputs(snapshots, tmp_path):
    with pytest.raises(ConfigError, match="train_words"):
        build_gutenberg_corpus(snapshots["git"], snapshots["ls"], tmp_path, train_words=0)
    with pytest.raises(ConfigError, match="CHAPTERS.TXT"):
        build_gutenberg_corpus(snapshots["git"], snapshots["plain"], tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        build_gutenberg_corpus(tmp_path / "missing", snapshots["ls"], tmp_path)


def test_cli(snapshots, tmp_path, capsys):
    from rnnstream.cli.main import main

    rc = main(["corpus", "gutenberg", "--snapshot", str(snapshots["bare"]), "--librispeech", str(snapshots["ls"]),
               "--out", str(tmp_path / "cli"), "--train-words", "300"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary["train"]["words"] <= 300 and summary["dev"]["books"] in (3, 4)
    assert (tmp_path / "cli" / "corpus.json").exists()
