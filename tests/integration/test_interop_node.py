"""The wire format is language-neutral: a Node.js subscriber on zeromq.js (libzmq, no pyzmq) reads
the daemon's messages, and every one validates against the JSON Schemas the package ships.

Also covers the ``zmq.proxy`` fan-in example: two publishers, one XSUB/XPUB proxy, one subscriber.
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import zmq
from jsonschema import Draft202012Validator

from tests.support.fixtures import DaemonFactory
from tests.support.media import Clips
from tests.support.procs import free_port, spawn, terminate, wait_for_port
from tests.support.tools import tools_required
from tests.systemd.daemon import REPO, SCHEMAS, daemon_argv, file_stream, write_config

pytestmark = pytest.mark.integration

NODE_DIR = REPO / "interop" / "node"
SUBSCRIBER = NODE_DIR / "subscribe.mjs"
FANIN = REPO / "interop" / "python" / "fanin.py"
START_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def node() -> str:
    """Path of node, with the subscriber's dependencies (zeromq@6, a prebuilt addon) installed."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        reason = "node/npm not found; apt-get install nodejs npm (Node.js >= 18)"
        if tools_required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    if not (NODE_DIR / "node_modules" / "zeromq").is_dir():
        subprocess.run(
            [npm_bin, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return node_bin


class Lines:
    """Reads a child's stdout line by line in a thread, so the test can wait with a timeout."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._queue.put(raw.decode("utf-8"))
        self._queue.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line, or None at end of output or after ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return None


def _subscriber(node: str, *args: str) -> tuple[subprocess.Popen[bytes], Lines]:
    proc = spawn([node, str(SUBSCRIBER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    return proc, Lines(proc.stdout)


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_node_subscriber_validates_daemon_messages(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory, node: str
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "streamer.toml",
        streams=[file_stream("cam-a", clips.h264), file_stream("cam-b", clips.h264)],
        endpoint=endpoint,
        metrics_listen=f"127.0.0.1:{free_port()}",
    )
    daemon = daemon_process(daemon_argv(cfg))
    proc, lines = _subscriber(node, "--endpoint", endpoint, "--stream", "cam-a", "--status")
    results: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    reloaded = False
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while (len(results) < 20 or not statuses) and time.monotonic() < deadline:
            line = lines.next(deadline - time.monotonic())
            if line is None:
                break
            record = json.loads(line)
            (statuses if record["topic"] == "_status" else results).append(record)
            if len(results) >= 5 and not reloaded:
                # A reload (config unchanged) publishes a status message while we listen.
                daemon.send_signal(signal.SIGHUP)
                reloaded = True
    finally:
        terminate(proc, timeout=2.0)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode in (0, -signal.SIGTERM), stderr
    assert len(results) >= 20, f"{len(results)} results; node: {stderr}; daemon: {daemon.stderr_text()}"
    assert statuses, "no status message after SIGHUP"

    result_schema, status_schema = _validator("result"), _validator("status")
    for record in results:
        assert record["topic"] == "cam-a"  # --stream filters exactly: nothing from cam-b
        result_schema.validate(record["message"])
        assert record["message"]["stream"] == "cam-a"
    seqs = [r["message"]["seq"] for r in results]
    assert seqs == sorted(seqs), "results of one stream arrive in order"
    for record in statuses:
        status_schema.validate(record["message"])


@pytest.fixture
def two_publishers() -> Iterator[list[str]]:
    """Two PUB sockets (as two daemons would be) publishing a message every 20 ms until teardown."""
    endpoints = [f"tcp://127.0.0.1:{free_port()}" for _ in range(2)]
    stop = threading.Event()

    def publish(endpoint: str, stream: str) -> None:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUB)
        sock.bind(endpoint)
        seq = 0
        while not stop.is_set():
            sock.send_multipart([stream.encode(), json.dumps({"stream": stream, "seq": seq}).encode()])
            seq += 1
            stop.wait(0.02)
        sock.close(linger=0)
        ctx.term()

    threads = [
        threading.Thread(target=publish, args=(ep, f"host{i}-cam"), daemon=True) for i, ep in enumerate(endpoints)
    ]
    for thread in threads:
        thread.start()
    yield endpoints
    stop.set()
    for thread in threads:
        thread.join(5)


def test_fanin_proxy_merges_instances(node: str, two_publishers: list[str]) -> None:
    port = free_port()
    proxy = spawn([sys.executable, str(FANIN), "--bind", f"tcp://127.0.0.1:{port}", *two_publishers])
    try:
        wait_for_port("127.0.0.1", port, 10.0)
        sub, lines = _subscriber(
            node, "--endpoint", f"tcp://127.0.0.1:{port}", "--count", "40", "--timeout-ms", "10000"
        )
        streams: set[str] = set()
        while (line := lines.next(15.0)) is not None:
            streams.add(json.loads(line)["topic"])
        assert sub.wait(5) == 0, sub.stderr.read().decode() if sub.stderr else ""
        assert streams == {"host0-cam", "host1-cam"}
    finally:
        terminate(proxy, timeout=2.0)
