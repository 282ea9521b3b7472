"""The operators every operator contract runs over, and the driver the checks share.

One entry of :data:`OPERATORS` per implementation: how to build it on a small fixture model,
what one key's events look like, and what "whole" means for it (the reference a stream
cut into micro-batches must equal). Adding an implementation is one more entry; every
check in ``test_operators.py`` then runs over it.

Everything is driven the way the runtime drives it: a :class:`Scheduler` over a
:class:`StateStore`, micro-batch after micro-batch, with ``housekeeping`` (TTL and
max-bytes eviction) after each one, and snapshots through the checkpoint module.

Loaded by ``conftest.py`` (pytest's importlib mode cannot import it by name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.session import load_session
from rnnstream.engine.store import StateStore
from rnnstream.operators.base import Operator

__all__ = ["OPERATORS", "OperatorImpl", "Built", "Workload", "workload", "drive", "per_key", "alone",
           "assert_same_rows", "chirp", "MAX_BATCHES", "ASR_CHUNK"]

MAX_BATCHES = (1, 2, 3, 64)
ASR_CHUNK = 1600  # samples per ASR event: 100 ms of 16 kHz audio


# -- implementations -------------------------------------------------------------------------
@dataclass(frozen=True)
class OperatorImpl:
    """One operator under contract.

    ``build(getfixture)`` returns a factory of fresh operators on one session (a restart
    builds a new operator) and, optionally, a whole-sequence reference ``whole(seq) -> rows``;
    ``events(rng, n)`` is one key's ``n`` event values.
    ``streamed_text`` marks ASR: there "whole" is ``op.whole_text`` of the key's signal.
    """

    id: str
    build: Callable[[Callable[[str], Any]], tuple[Callable[[], Operator], Callable | None]]
    events: Callable[[np.random.Generator, int], np.ndarray]
    max_len: int
    atol: float = 1e-5
    streamed_text: bool = False


@dataclass
class Built:
    """An implementation with its model loaded: ``make()`` builds a fresh operator on it."""

    impl: OperatorImpl
    make: Callable[[], Operator]
    whole: Callable | None = None

    def __post_init__(self) -> None:
        self.op = self.make()


def _torch_whole(net, chunk: int):
    """Whole-sequence ``y`` from the torch network the ONNX model was exported from."""
    import torch

    def whole(seq: np.ndarray) -> list[dict]:
        x = seq.reshape(-1, seq.shape[-1]) if chunk else seq
        with torch.no_grad():
            y, _ = net(torch.from_numpy(np.ascontiguousarray(x))[None])
        y = y[0].numpy()
        if chunk:
            y = y.reshape(seq.shape[0], chunk, -1)
        return [{"y": row} for row in y]

    return whole


def _rnn(cell: str, chunk: int = 0):
    def build(getfixture):
        from rnnstream.operators.rnn import RnnOperator

        net, path = getfixture("model_factory")(cell=cell, layers=1 if cell == "gru" else 2, input_size=3,
                                                 hidden=8, output_size=2)
        session = load_session(path, provider="cpu")
        return (lambda: RnnOperator(session, chunk=chunk)), _torch_whole(net, chunk)

    def events(rng, n):
        shape = (n, chunk, 3) if chunk else (n, 3)
        return rng.standard_normal(shape).astype(np.float32)

    return build, events


def _series(rng: np.random.Generator, n: int) -> np.ndarray:
    """A sensor-like series: level, slow wave, noise, and now and then a spike (anomaly scores move)."""
    t = np.arange(n)
    x = rng.uniform(-20, 20) + 3 * np.sin(t / rng.uniform(2, 6)) + 0.3 * rng.standard_normal(n)
    spikes = rng.random(n) < 0.1
    x[spikes] += rng.choice([-15.0, 15.0], size=int(spikes.sum()))
    return x.astype(np.float32)[:, None]


def _quantile(kind: str):
    def build(getfixture):
        from rnnstream.operators.anomaly import AnomalyOperator
        from rnnstream.operators.forecast import ForecastOperator

        session = load_session(getfixture(f"{kind}_model"), provider="cpu")
        cls = ForecastOperator if kind == "forecast" else AnomalyOperator
        return (lambda: cls(session)), None

    return build


def chirp(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Tones of changing pitch with bursts of noise (as in tests/pipeline/operators): a random
    ASR model emits labels on it."""
    t = np.arange(samples) / 16000
    return (0.3 * np.sin(2 * np.pi * (200 + 300 * rng.random()) * t * (1 + t))
            + 0.1 * rng.standard_normal(t.size) * (np.sin(3 * t) > 0)).astype(np.float32)


def _asr(beam: int | None, companion: bool = False):
    def build(getfixture):
        from rnnstream.asr.endpoint import EndpointConfig
        from rnnstream.operators.asr_build import asr_operator

        session = load_session(getfixture("asr_model"), provider="cpu")
        second = load_session(getfixture("asr_companion_model"), provider="cpu") if companion else None
        # Short endpoint rules, so a second of audio already holds finals mid-stream.
        ep = EndpointConfig(trailing_silence=0.2, no_speech_timeout=0.6, max_utterance=0.8)
        def make():
            return asr_operator(session, endpoint=ep, beam=beam, companion=second)

        assert make().chunk == ASR_CHUNK, "events are 100 ms chunks of 16 kHz audio"
        return make, None

    def events(rng, n):
        return chirp(rng, n * ASR_CHUNK).reshape(n, ASR_CHUNK)

    return build, events


def _token_whole(net, fields):
    """Per-event outputs of a token model from torch on the whole sequence (``fields`` shapes rows)."""
    import torch

    def whole(seq: np.ndarray) -> list[dict]:
        raw = seq[:, 0].astype(np.int64)
        ids = torch.from_numpy(np.where(raw < net.config.vocab, raw, 0))[None]  # unknown ids read as 0
        with torch.no_grad():
            before = torch.log_softmax(net(ids), dim=-1)[0]
            out, _ = net.rnn(net.embed(ids), net._to_rnn(net.zero_state(1)))
            after = torch.log_softmax(net.head(out[0]), dim=-1)
        chosen = before.gather(1, ids[0, :, None])[:, 0]
        rank = (before > chosen[:, None]).sum(dim=1)
        _, top_ids = torch.topk(after - 1e9 * (torch.arange(after.shape[1]) == 0), 4, dim=-1)
        top_logp = after.gather(1, top_ids)
        return [fields(int(raw[t]), float(chosen[t]), int(rank[t]), top_logp[t].numpy(), top_ids[t].numpy())
                for t in range(ids.shape[1])]

    return whole


def _logkeys(getfixture):
    from rnnstream.operators.logkeys import LogkeysOperator

    net, path = getfixture("logkeys_model")
    session = load_session(path, provider="cpu")
    book = LogkeysOperator(session).book

    def fields(tid, logp, rank, top_logp, top_ids):
        known = 0 < tid < 8  # 0 and 8 are templates the model never saw: always anomalies
        rank = rank if known else 8
        return {"template": np.int64(tid), "template_text": book.template(tid),
                "p": np.float32(np.exp(logp) if known else 0.0), "rank": np.int64(rank),
                "expected": top_ids[:3].astype(np.int64), "anomaly": bool(rank >= 3)}

    return (lambda: LogkeysOperator(session, top_k=3)), _token_whole(net, fields)


def _nextword(getfixture):
    from rnnstream.operators.nextword import NextwordOperator

    net, path = getfixture("nextword_model")
    session = load_session(path, provider="cpu")
    vocab = NextwordOperator(session).vocab

    def fields(tid, logp, rank, top_logp, top_ids):
        return {"surprisal": np.float32(-logp / np.log(2.0)), "next": vocab.decode(top_ids[:3]),
                "next_p": np.exp(top_logp[:3]).astype(np.float32)}

    return (lambda: NextwordOperator(session)), _token_whole(net, fields)


def _log_events(rng, n):
    return rng.integers(0, 9, size=(n, 1)).astype(np.float32)  # 0 and 8: templates the model never saw


_GRU, _GRU_EV = _rnn("gru")
_LSTM, _LSTM_EV = _rnn("lstm")
_CHUNK, _CHUNK_EV = _rnn("gru", chunk=4)
_ASR, _ASR_EV = _asr(None)
_BEAM, _BEAM_EV = _asr(4)
_PAIR, _PAIR_EV = _asr(4, companion=True)

OPERATORS: list[OperatorImpl] = [
    OperatorImpl("rnn-gru", _GRU, _GRU_EV, max_len=10),
    OperatorImpl("rnn-lstm2", _LSTM, _LSTM_EV, max_len=10),
    OperatorImpl("rnn-gru-chunk4", _CHUNK, _CHUNK_EV, max_len=6),
    OperatorImpl("forecast", _quantile("forecast"), _series, max_len=16),
    OperatorImpl("anomaly", _quantile("anomaly"), _series, max_len=16),
    OperatorImpl("asr-greedy", _ASR, _ASR_EV, max_len=12, streamed_text=True),
    OperatorImpl("asr-beam4", _BEAM, _BEAM_EV, max_len=12, streamed_text=True),
    OperatorImpl("asr-beam4-companion", _PAIR, _PAIR_EV, max_len=12, streamed_text=True),
    OperatorImpl("logkeys", _logkeys, _log_events, max_len=12, atol=1e-4),
    OperatorImpl("nextword", _nextword, lambda rng, n: rng.integers(0, 12, size=(n, 1)).astype(np.float32),
                 max_len=12, atol=1e-4),
]


# -- workloads -------------------------------------------------------------------------------
@dataclass
class Workload:
    """Keys' event sequences, interleaved in arrival order (each key's order kept), each key
    closed by an END row, plus micro-batch cuts and a ``max_batch``."""

    names: list[str]
    seqs: list[np.ndarray]
    key: np.ndarray  # key index of each row
    values: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    cuts: np.ndarray
    max_batch: int
    ids: np.ndarray = field(default=None)  # key ids (from ``keys``)
    keys: KeyTable = field(default_factory=KeyTable)

    def __post_init__(self) -> None:
        self.ids = self.keys.intern_many([self.names[k] for k in self.key.tolist()])

    def rows_of(self, k: int) -> np.ndarray:
        return np.flatnonzero(self.key == k)


def workload(impl: OperatorImpl, seed: int, *, min_keys: int = 1, max_keys: int = 4) -> Workload:
    rng = np.random.default_rng(seed)
    n_keys = int(rng.integers(min_keys, max_keys + 1))
    lengths = rng.integers(1, impl.max_len + 1, size=n_keys)
    seqs = [impl.events(rng, int(n)) for n in lengths]
    order = rng.permutation(np.repeat(np.arange(n_keys), lengths + 1))
    values = np.zeros((order.size, *seqs[0].shape[1:]), np.float32)
    kind = np.full(order.size, DATA, np.int8)
    for k in range(n_keys):  # a key's rows keep its order; its END row comes last
        rows = np.flatnonzero(order == k)
        values[rows[: lengths[k]]] = seqs[k]
        kind[rows[-1]] = END
    n = order.size
    cuts = np.unique(rng.integers(1, max(2, n), size=int(rng.integers(0, max(1, n)))))
    max_batch = int(rng.choice(MAX_BATCHES))
    return Workload([f"k{k}" for k in range(n_keys)], seqs, order.astype(np.int64), values, kind,
                    np.arange(n, dtype=np.float64), cuts, max_batch)


# -- driving ---------------------------------------------------------------------------------
def drive(sched: Scheduler, ids, ts, values, kind, cuts, *, hook=None, start: int = 0,
          stop: int | None = None) -> list[dict | None]:
    """Rows ``start:stop`` in micro-batches cut at ``cuts``, housekeeping after each one (as
    the runtime's loop does). Returns each row's outputs (None where the row emitted nothing)."""
    stop = len(ids) if stop is None else stop
    out_rows: list[dict | None] = [None] * len(ids)
    watermark = -np.inf
    inner = [c for c in np.asarray(cuts).tolist() if start < c < stop]
    for lo, hi in zip([start, *inner], [*inner, stop]):
        if lo >= hi:
            continue
        if hook is not None:
            hook(sched, lo)
        out, emitted = sched.process(ids[lo:hi], ts[lo:hi], values[lo:hi], kind[lo:hi])
        for i in np.flatnonzero(emitted).tolist():
            out_rows[lo + i] = {f: a[i] for f, a in out.items()}
        watermark = max(watermark, float(ts[lo:hi].max()))
        sched.housekeeping(watermark)
    return out_rows


def per_key(rows: list[dict | None], key: np.ndarray, only: np.ndarray | None = None) -> dict[int, list[dict]]:
    """Emitted rows grouped by key index, in row order."""
    out: dict[int, list[dict]] = {int(k): [] for k in np.unique(key)}
    for i, r in enumerate(rows):
        if r is not None and (only is None or only[i]):
            out[int(key[i])].append(r)
    return out


def alone(built: Built, w: Workload, k: int, rows: np.ndarray | None = None, *, live: bool = False) -> list[dict]:
    """Key ``k``'s outputs with no other key around: a fresh store, one event per call.

    ``live``: the key starts live with a fresh state (as a RESET leaves it), not unknown."""
    rows = w.rows_of(k) if rows is None else rows
    if rows.size == 0:
        return []
    sched = Scheduler(built.make(), StateStore(built.op.spec), max_batch=1)
    if live:
        sched.store.slots_for(w.ids[rows[:1]])
    got = drive(sched, w.ids[rows], w.ts[rows], w.values[rows], w.kind[rows], np.arange(1, rows.size))
    return [r for r in got if r is not None]


# -- comparing -------------------------------------------------------------------------------
def _same(a: Any, b: Any, atol: float) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or isinstance(a, (float, np.floating)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            return bool(np.allclose(a, b, atol=atol, rtol=atol, equal_nan=True))
        return bool(np.array_equal(a, b))
    return a == b


def assert_same_rows(got: list[dict], want: list[dict], atol: float, what: str) -> None:
    """Every output field of every row equal (floats within ``atol``; text and words with ==)."""
    assert len(got) == len(want), f"{what}: {len(got)} output rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert sorted(g) == sorted(w), f"{what}: row {i} has fields {sorted(g)}, expected {sorted(w)}"
        for name in w:
            assert _same(g[name], w[name], atol), f"{what}: row {i} field {name!r}: {g[name]!r} != {w[name]!r}"
