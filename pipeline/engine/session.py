"""One ONNX Runtime session per model, shared by every key.

The session checks the graph against its manifest, picks the execution provider (CUDA only
when it really initialises, otherwise CPU, said in one log line) and runs a batch of
steps: data input plus slot-major state in, outputs plus slot-major state out.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np

from rnnstream.errors import ModelError
from rnnstream.engine.manifest import Manifest, load_manifest
from rnnstream.engine.state import StateSpec

__all__ = ["Session", "load_session", "Provider"]

log = logging.getLogger(__name__)

Provider = Literal["auto", "cpu", "cuda"]

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64"}


class Session:
    """A verified model with its ONNX Runtime session.

    ``run`` takes and returns state slot-major (``[B, *per_key]``); the session converts to
    and from the graph's declared batch axes.
    """

    def __init__(
        self,
        manifest: Manifest,
        onnx_path: Path,
        *,
        provider: Provider = "auto",
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
    ) -> None:
        import onnxruntime as ort

        self.manifest = manifest
        self.path = onnx_path
        self.state_spec: StateSpec = manifest.state_spec()
        opts = ort.SessionOptions()
        # One thread by default: measured on 2 cores, a second intra-op thread gains nothing
        # at these model sizes and collapses when the other core is busy. Scale with processes.
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = inter_op_threads
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        self._sess, self.provider, why = _open(ort, str(onnx_path), opts, provider)
        log.info(
            "model %s (%s) runs on %s%s", manifest.name, manifest.sha256[:12], self.provider, f" ({why})" if why else ""
        )
        self._check_graph()
        self.input_name = manifest.data_inputs[0].name
        self.output_names = [o.name for o in manifest.data_outputs]
        self._state_out = [t.output for t in self.state_spec.tensors]
        self._fetch = self.output_names + self._state_out

    def zero_state(self, n: int) -> dict[str, np.ndarray]:
        """Fresh slot-major state for ``n`` streams, the layout :meth:`run` takes."""
        return {t.name: np.zeros((n, *t.per_key_shape), t.dtype) for t in self.state_spec.tensors}

    @property
    def sha256(self) -> str:
        return self.manifest.sha256

    def _check_graph(self) -> None:
        graph_in = {i.name: i for i in self._sess.get_inputs()}
        graph_out = {o.name: o for o in self._sess.get_outputs()}
        for kind, declared, actual in (
            ("input", self.manifest.inputs, graph_in),
            ("output", self.manifest.outputs, graph_out),
        ):
            if set(actual) != {d.name for d in declared}:
                raise ModelError(
                    f"model {self.path} {kind}s {sorted(actual)} disagree with its manifest {[d.name for d in declared]}"
                )
            for d in declared:
                got = _ORT_DTYPES.get(actual[d.name].type, actual[d.name].type)
                if got != d.dtype or len(actual[d.name].shape) != len(d.shape):
                    raise ModelError(
                        f"model {self.path} {kind} {d.name!r} is {got}{actual[d.name].shape}, "
                        f"manifest says {d.dtype}{d.shape}"
                    )
        for s in self.manifest.state:
            if s.input not in graph_in or s.output not in graph_out:
                raise ModelError(f"model {self.path}: state {s.input}->{s.output} is not in the graph")

    def run(
        self, x: np.ndarray, state: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One batched call. ``x`` is ``[B, T, ...]``; ``state`` maps state input names to slot-major arrays."""
        feeds = {self.input_name: x}
        for t in self.state_spec.tensors:
            feeds[t.name] = t.to_model(state[t.name])
        results = self._sess.run(self._fetch, feeds)
        n_out = len(self.output_names)
        outputs = dict(zip(self.output_names, results[:n_out]))
        new_state = {
            t.name: t.from_model(arr) for t, arr in zip(self.state_spec.tensors, results[n_out:])
        }
        return outputs, new_state

    def run_raw(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Bare ``session.run`` on graph-layout feeds (benchmarks compare against this)."""
        return self._sess.run(self._fetch, feeds)


def _open(ort, path: str, opts, provider: Provider):
    available = ort.get_available_providers()
    want_cuda = provider in ("auto", "cuda") and "CUDAExecutionProvider" in available
    if want_cuda:
        # Without CUDA libraries ORT prints a multi-line error before falling back; our own
        # log line says what happened, so keep ORT quiet for this attempt.
        ort.set_default_logger_severity(4)
        try:
            sess = ort.InferenceSession(path, opts, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
            # onnxruntime-gpu quietly falls back to CPU when the CUDA libraries or device are
            # missing; only the session's own provider list tells the truth.
            if sess.get_providers()[0] == "CUDAExecutionProvider":
                return sess, "CUDAExecutionProvider", ""
            why = "CUDA did not initialise"
        except Exception as exc:  # noqa: BLE001 - any CUDA failure means fall back to CPU
            why = f"CUDA failed: {str(exc).splitlines()[0][:120]}"
        finally:
            ort.set_default_logger_severity(3)
        if provider == "cuda":
            raise ModelError(f"provider 'cuda' requested but {why}")
    else:
        why = "CUDA not built in" if provider != "cpu" and "CUDAExecutionProvider" not in available else ""
        if provider == "cuda":
            raise ModelError("provider 'cuda' requested but this onnxruntime has no CUDAExecutionProvider")
    try:
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own non-Python exception types
        raise ModelError(f"cannot load model {path}: {str(exc).splitlines()[0][:200]}") from None
    return sess, "CPUExecutionProvider", why


def load_session(path: str | Path, **kwargs) -> Session:
    """Load a model by its ``.onnx`` or ``.json`` path, verified against the manifest."""
    manifest, onnx_path = load_manifest(path)
    return Session(manifest, onnx_path, **kwargs)
