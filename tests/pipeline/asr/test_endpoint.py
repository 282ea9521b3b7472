from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.endpoint import (
    EndpointConfig,
    Endpointer,
    EndpointReason,
    EndpointState,
    blank_probability,
    endpoint_step,
    frame_energy_db,
)
from rnnstream.errors import ConfigError, RnnstreamError

CFG = EndpointConfig(frame_shift=0.04, trailing_silence=0.8, no_speech_timeout=5.0, max_utterance=20.0)
SIL, SPEECH = 0.99, 0.2


def _run(pb: np.ndarray, cfg: EndpointConfig = CFG, energy: np.ndarray | None = None):
    return [(e.frame, e.reason) for e in Endpointer(cfg).push(pb, energy)]


def test_config_is_frozen_and_validated() -> None:
    with pytest.raises(Exception):
        CFG.trailing_silence = 1.0  # type: ignore[misc]
    for bad in ({"trailing_silence": 0}, {"blank_threshold": 1.5}, {"min_speech_frames": 0}, {"frame_shift": -1}):
        with pytest.raises(ConfigError):
            EndpointConfig(**bad)
    assert CFG.frames(0.8) == 20 and CFG.frames(5.0) == 125 and CFG.frames(20.0) == 500


def test_trailing_silence_after_speech() -> None:
    # 1 s of speech then silence: the endpoint is the 20th silent frame (0.8 s / 40 ms).
    pb = np.r_[np.full(25, SPEECH), np.full(40, SIL)]
    assert _run(pb) == [(25 + 20 - 1, EndpointReason.TRAILING_SILENCE)]
    # A pause shorter than 0.8 s does not end the utterance.
    pb = np.r_[np.full(10, SPEECH), np.full(19, SIL), np.full(10, SPEECH), np.full(5, SIL)]
    assert _run(pb) == []


def test_silence_without_speech() -> None:
    pb = np.full(130, SIL)
    assert _run(pb) == [(124, EndpointReason.NO_SPEECH)]
    # A single blip below min_speech_frames does not count as speech either.
    pb[50] = SPEECH
    assert _run(pb) == [(124, EndpointReason.NO_SPEECH)]


def test_maximum_utterance_length() -> None:
    pb = np.full(1100, SPEECH)
    hits = _run(pb)
    assert hits == [(499, EndpointReason.MAX_LENGTH), (999, EndpointReason.MAX_LENGTH)]
    ep = Endpointer(CFG)
    e = ep.push(pb[:500])[0]
    assert abs(e.time - 20.0) < 1e-9


def test_counters_restart_after_an_endpoint() -> None:
    # After the trailing-silence endpoint, 5 s of silence is needed for NO_SPEECH,
    # counted from the frame after the endpoint.
    pb = np.r_[np.full(10, SPEECH), np.full(200, SIL)]
    assert _run(pb) == [(29, EndpointReason.TRAILING_SILENCE), (29 + 125, EndpointReason.NO_SPEECH)]


def test_energy_gate_turns_quiet_frames_into_silence() -> None:
    cfg = CFG.model_copy(update={"energy_threshold_db": -40.0})
    pb = np.r_[np.full(10, SPEECH), np.full(30, SPEECH)]
    energy = np.r_[np.full(10, -20.0), np.full(30, -70.0)]
    assert _run(pb, cfg, energy) == [(29, EndpointReason.TRAILING_SILENCE)]
    assert _run(pb, CFG, energy) == []  # energy ignored when no threshold is set


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    cuts=st.lists(st.integers(0, 60), max_size=10),
)
def test_chunking_does_not_move_endpoints(seed: int, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    runs = rng.integers(1, 40, size=30)
    pb = np.concatenate([np.full(n, SPEECH if i % 2 else SIL) for i, n in enumerate(runs)])
    cfg = EndpointConfig(frame_shift=0.04, trailing_silence=0.6, no_speech_timeout=1.0, max_utterance=3.0)
    whole = _run(pb, cfg)
    ep = Endpointer(cfg)
    got, pos = [], 0
    for c in cuts:
        got += [(e.frame, e.reason) for e in ep.push(pb[pos : pos + c])]
        pos = min(pb.size, pos + c)
    got += [(e.frame, e.reason) for e in ep.push(pb[pos:])]
    assert got == whole and len(whole) > 0


def test_batch_step_matches_single_streams_and_is_pure() -> None:
    rng = np.random.default_rng(1)
    pb = np.where(rng.random((3, 300)) < 0.3, SPEECH, SIL)
    pb[1, :] = SIL
    lengths = np.array([300, 200, 0])
    state = EndpointState.zeros(3)
    keep = state.copy()
    new, reasons = endpoint_step(CFG, state, pb, lengths=lengths)
    assert np.array_equal(state.n_frames, keep.n_frames)
    for i in range(3):
        single = _run(pb[i, : lengths[i]])
        assert [(int(f), EndpointReason(int(reasons[i, f]))) for f in np.flatnonzero(reasons[i])] == single
    assert new.n_frames[2] == 0 and reasons[2].sum() == 0
    with pytest.raises(RnnstreamError):
        endpoint_step(CFG, state, pb[:2])


def test_blank_probability_and_energy_helpers() -> None:
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    assert np.allclose(blank_probability(logits + 3.0), [0.7, 0.1])
    x = np.r_[np.zeros(400), np.full(400, 0.1)]
    e = frame_energy_db(x, 400, 400)
    assert e.shape == (2,) and e[0] == -120.0 and abs(e[1] - (-20.0)) < 1e-9
