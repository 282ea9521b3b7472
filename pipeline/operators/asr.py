"""Streaming speech recognition: audio chunks keyed by stream in, partial and final text out.

Each event is one chunk of 16 kHz samples (100 ms by default). Per key, the slab store
keeps the front end's leftover samples, the recurrent state, the greedy CTC decoder's last
label, the current utterance's labels with their frame numbers, and the endpointer's
counters, so many streams share one ONNX Runtime call per chunk. Outputs per chunk:
``text`` (the utterance so far), ``final`` (an endpoint closed it), ``start``/``end``
(seconds from the stream's start) and ``words`` (with times, on finals).

With ``rescore`` (a beam decoder) each key also keeps its open utterance's posteriors, and
finals are beam-decoded. A ``companion`` session is a second acoustic model on the same
frames: its recurrent state and posteriors are more per-key extras, and finals pool both
models' n-best lists (:mod:`rnnstream.asr.rescore`).
"""

from __future__ import annotations

import numpy as np

from rnnstream.asr.beam import BeamSearchDecoder
from rnnstream.asr.ctc import Hypothesis, Vocab, greedy_step_batch, log_softmax, words_from_tokens
from rnnstream.asr.endpoint import EndpointConfig, EndpointState, endpoint_step
from rnnstream.asr.rescore import DEFAULT_COMPANION_WEIGHT, NbestRescorer
from rnnstream.errors import ConfigError, ModelError
from rnnstream.operators.asr_frontend import AsrFrontend
from rnnstream.operators.base import Operator
from rnnstream.engine.session import Session
from rnnstream.engine.state import ExtraSpec, State, StateSpec

__all__ = ["AsrOperator", "MAX_TOKENS", "COMPANION_PREFIX"]

MAX_TOKENS = 400  # labels kept per utterance; 20 s at a fast 15 characters/s is 300
COMPANION_PREFIX = "companion."  # the companion model's state tensors, as named in the slab store


class AsrOperator(Operator):
    def __init__(
        self,
        session: Session,
        *,
        name: str = "asr",
        chunk_ms: float = 100.0,
        endpoint: EndpointConfig | None = None,
        rescore: BeamSearchDecoder | None = None,
        companion: Session | None = None,
        companion_weight: float = DEFAULT_COMPANION_WEIGHT,
    ) -> None:
        f = session.manifest.features
        if session.manifest.task != "asr" or "vocab" not in f:
            raise ModelError(f"model {session.manifest.name} is not an ASR model (task {session.manifest.task!r})")
        self.name = name
        self.session = session
        self.frontend = AsrFrontend(f)
        self.vocab = Vocab(symbols=tuple(f["vocab"]), blank=int(f.get("blank", 0)))
        self.chunk = self.frontend.chunk_samples(chunk_ms)
        self.shift = self.frontend.frame_shift
        ep = endpoint or EndpointConfig()
        self.endpoint = ep.model_copy(update={"frame_shift": self.shift})
        self.value_shape = (self.chunk,)
        self.rescore = rescore
        if rescore is not None and len(rescore.vocab) != len(self.vocab):
            raise ModelError(f"rescore decoder has {len(rescore.vocab)} labels, the model {len(self.vocab)}")
        # Room for the longest utterance the endpointer allows, plus the chunk it closes in.
        self.max_frames = self.endpoint.frames(self.endpoint.max_utterance) + self.chunk // self.frontend.step_samples + 2
        post = (ExtraSpec("post", (self.max_frames, len(self.vocab)), "float16"),) if rescore is not None else ()
        self.companion = companion
        self.finals: NbestRescorer | None = None
        if companion is not None:
            post += self._add_companion(companion, companion_weight)
        self._symbols = np.array(self.vocab.symbols, dtype=object)
        self._symbols[self.vocab.blank] = ""
        self.spec = StateSpec(
            session.state_spec.tensors,
            self.frontend.extras()
            + (
                ExtraSpec("dec_prev", (), "int64", self.vocab.blank),
                ExtraSpec("dec_frame", (), "int64"),
                ExtraSpec("utt_start", (), "int64"),
                ExtraSpec("n_tok", (), "int64"),
                ExtraSpec("tok", (MAX_TOKENS,), "int16"),
                ExtraSpec("tok_frame", (MAX_TOKENS,), "int32"),
                ExtraSpec("ep_frames", (), "int64"),
                ExtraSpec("ep_speech", (), "int64"),
                ExtraSpec("ep_trailing", (), "int64"),
            )
            + post,
        )

    def _add_companion(self, companion: Session, weight: float) -> tuple[ExtraSpec, ...]:
        """Check a second acoustic model for finals; its state and posteriors are extras."""
        f = companion.manifest.features
        if companion.manifest.task != "asr" or list(f.get("vocab", ())) != list(self.vocab.symbols) \
                or int(f.get("blank", 0)) != self.vocab.blank:
            raise ModelError(f"companion: model {companion.manifest.name} is not an ASR model with the same labels")
        self.companion_frontend = AsrFrontend(f)
        if not self.frontend.same_frames(self.companion_frontend):
            raise ModelError(f"companion: model {companion.manifest.name} cuts other log-mel frames or steps")
        if self.rescore is None:
            raise ConfigError("companion: needs beam-decoded finals (set beam or lm)")
        if not (0 <= weight < 1):
            raise ConfigError(f"companion_weight: must be >= 0 and < 1, got {weight}")
        self.finals = NbestRescorer(self.rescore, (1.0 - weight, weight))
        tensors = tuple(ExtraSpec(COMPANION_PREFIX + t.name, t.per_key_shape, t.dtype)
                        for t in companion.state_spec.tensors)
        return tensors + (ExtraSpec("companion_post", (self.max_frames, len(self.vocab)), "float16"),)

    def describe(self) -> dict:
        info = super().describe()
        if self.companion is not None:
            # Each key's state holds both models' recurrent states, so a snapshot is valid only
            # for this pair: the identity names both (a change of either resets the state).
            info["model"] += f"+{self.companion.manifest.name}"
            info["sha256"] += f"+{self.companion.sha256}"
        return info

    # -- one chunk for B streams ------------------------------------------------------------
    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        raw, left, nleft = self.frontend.push_logmel(values, state["fe_left"], state["fe_nleft"])
        out, new = self.session.run(self.frontend.model_input(raw), state)
        logp = log_softmax(out["y"].astype(np.float64))
        new.update(fe_left=left, fe_nleft=nleft)
        companion_logp = None if self.companion is None else self._run_companion(raw, state, new)
        return self._decode(logp, state, new, companion_logp)

    def _run_companion(self, raw: np.ndarray, state: State, new: State) -> np.ndarray:
        own = {t.name: state[COMPANION_PREFIX + t.name] for t in self.companion.state_spec.tensors}
        out, own_new = self.companion.run(self.companion_frontend.model_input(raw), own)
        new.update({COMPANION_PREFIX + k: v for k, v in own_new.items()})
        return log_softmax(out["y"].astype(np.float64))

    def _decode(self, logp: np.ndarray, state: State, new: State,
                companion_logp: np.ndarray | None = None) -> tuple[dict, State]:
        b, t, _ = logp.shape
        best, emit, prev = greedy_step_batch(logp, state["dec_prev"], blank=self.vocab.blank)
        frame0 = state["dec_frame"]
        tok, tok_frame, n_tok = state["tok"].copy(), state["tok_frame"].copy(), state["n_tok"].copy()
        rows, cols = np.nonzero(emit)
        pos = n_tok[rows] + (np.cumsum(emit, axis=1) - 1)[rows, cols]
        keep = pos < MAX_TOKENS
        tok[rows[keep], pos[keep]] = best[rows[keep], cols[keep]]
        tok_frame[rows[keep], pos[keep]] = (frame0[rows] + cols)[keep]
        n_tok = np.minimum(n_tok + emit.sum(axis=1), MAX_TOKENS)

        ep_state = EndpointState(state["ep_frames"], state["ep_speech"], state["ep_trailing"])
        blank_p = np.exp(logp[..., self.vocab.blank])
        ep_state, reasons = endpoint_step(self.endpoint, ep_state, blank_p)
        fired = reasons.any(axis=1)
        ep_frame = frame0 + np.where(fired, reasons.argmax(axis=1), t - 1)

        outputs = self._render(tok, tok_frame, n_tok, state["utt_start"], fired, ep_frame, frame0 + t)
        if self.rescore is not None:
            posts = [self._keep_posteriors(logp, state, new, "post")]
            if companion_logp is not None:
                posts.append(self._keep_posteriors(companion_logp, state, new, "companion_post"))
            self._rescore_finals(outputs, posts, frame0 + t - state["utt_start"], state["utt_start"])
        # An endpoint closes the utterance; the next one starts after this chunk.
        n_tok = np.where(fired, 0, n_tok)
        utt_start = np.where(fired, frame0 + t, state["utt_start"])
        new.update(dec_prev=prev, dec_frame=frame0 + t, utt_start=utt_start, n_tok=n_tok, tok=tok,
                   tok_frame=tok_frame, ep_frames=ep_state.n_frames, ep_speech=ep_state.n_speech,
                   ep_trailing=ep_state.trailing)
        return outputs, new

    def _keep_posteriors(self, logp: np.ndarray, state: State, new: State, name: str) -> np.ndarray:
        # The store's gather hands each call its own copy, so the largest array of the state
        # is written in place instead of being copied a third time per chunk.
        post = state[name]
        b, t, _ = logp.shape
        pos = (state["dec_frame"] - state["utt_start"])[:, None] + np.arange(t)
        ok = pos < self.max_frames  # the max-utterance rule fires long before this
        rows = np.broadcast_to(np.arange(b)[:, None], pos.shape)
        post[rows[ok], pos[ok]] = logp[ok]
        new[name] = post
        return post

    def decode_final(self, posts: list[np.ndarray]) -> Hypothesis:
        """One utterance's final from its kept posteriors (one ``[T, V]`` array per model)."""
        posts = [p.astype(np.float64) for p in posts]
        return self.rescore.decode(posts[0]) if self.finals is None else self.finals.decode(posts)

    def _rescore_finals(self, outputs: dict, posts: list[np.ndarray], n_frames: np.ndarray,
                        utt_start: np.ndarray) -> None:
        for i in np.flatnonzero(outputs["final"]).tolist():
            n = int(min(n_frames[i], self.max_frames))
            hyp = self.decode_final([p[i, :n] for p in posts])
            outputs["text"][i] = hyp.text
            outputs["words"][i] = self._word_dicts(hyp.tokens, hyp.frames + int(utt_start[i]))

    def _word_dicts(self, tokens: np.ndarray, frames: np.ndarray) -> list[dict]:
        ws = words_from_tokens(tokens, frames, self.vocab, self.shift)
        return [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in ws]

    def _render(self, tok, tok_frame, n_tok, utt_start, final, ep_frame, frame_end) -> dict[str, np.ndarray]:
        b = tok.shape[0]
        texts = np.empty(b, dtype=object)
        words = np.empty(b, dtype=object)
        width = int(n_tok.max(initial=0))
        chars = self._symbols[tok[:, :width].astype(np.int64)]
        for i in range(b):  # the serialisation boundary: one string per chunk and stream
            texts[i] = " ".join("".join(chars[i, : n_tok[i]]).split())
            words[i] = None
        for i in np.flatnonzero(final & (n_tok > 0)).tolist():
            words[i] = self._word_dicts(tok[i, : n_tok[i]], tok_frame[i, : n_tok[i]])
        last = np.where(n_tok > 0, tok_frame[np.arange(b), np.maximum(n_tok - 1, 0)] + 1, frame_end)
        end = np.where(final, np.minimum(ep_frame + 1, frame_end), last)
        return {
            "text": texts,
            "final": final & (n_tok > 0),
            "start": utt_start * self.shift,
            "end": end * self.shift,
            "words": words,
        }

    def finish(self, state: State) -> dict[str, np.ndarray]:
        """End of stream: the open utterance becomes final."""
        n = state["n_tok"]
        end = state["dec_frame"]
        out = self._render(state["tok"], state["tok_frame"], n, state["utt_start"], n > 0, end - 1, end)
        if self.rescore is not None:
            posts = [state[k] for k in ("post", "companion_post") if k in state]
            self._rescore_finals(out, posts, end - state["utt_start"], state["utt_start"])
        return out

    def whole_text(self, signal: np.ndarray) -> str:
        """The reference that streamed finals must equal: one model call per model over the
        whole signal (a whole number of chunks), then the same decoder and endpointer as in
        streaming, fed those posteriors a chunk's worth at a time, so that every final covers
        the frames it covers when streamed."""
        raw = self.frontend.logmel(signal)
        out, _ = self.session.run(self.frontend.model_input(raw)[None], self.session.zero_state(1))
        logp = log_softmax(out["y"].astype(np.float64))
        other = None
        if self.companion is not None:
            c = self.companion
            out, _ = c.run(self.companion_frontend.model_input(raw)[None], c.zero_state(1))
            other = log_softmax(out["y"].astype(np.float64))
        step = self.chunk // self.frontend.step_samples
        state, texts = self.init_state(1), []
        for f in range(0, logp.shape[1], step):
            part = None if other is None else other[:, f : f + step]
            outputs, new = self._decode(logp[:, f : f + step], state, {}, part)
            state = {**state, **new}
            texts += [outputs["text"][0]] if outputs["final"][0] else []
        last = self.finish(state)
        texts += [last["text"][0]] if last["final"][0] else []
        return " ".join(t for t in texts if t)
