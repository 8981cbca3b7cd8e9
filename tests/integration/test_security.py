"""Securing the outputs: CURVE-authenticated publishing, RTSP credentials never shown anywhere,
secrets from ``$CREDENTIALS_DIRECTORY``, listeners on 127.0.0.1 by default, JSON (never pickle) on
the wire."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
import zmq
import zmq.auth

from streamer.codec import schema
from tests.integration.robust_rig import (
    Ports,
    Subscriber,
    config_data,
    daemon_argv,
    parse_samples,
    report,
    start_daemon,
    tiny_models,
    value,
    write_config,
)
from tests.support.fixtures import DaemonFactory, RtspServerFactory
from tests.support.media import Clips
from tests.support.procs import port_open, wait_until

pytestmark = pytest.mark.integration

USER = "operator"
PASSWORD = "Pa55:w0rd/Zq#7"  # characters that need percent-encoding in a URL
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return tiny_models(tmp_path_factory.mktemp("models"))


def listening_addresses(pid: int) -> list[str]:
    """``ip:port`` of every TCP socket the process listens on (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except FileNotFoundError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    out = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hexip, hexport = local.split(":")
            if width == 8:
                ip = ".".join(str(int(hexip[i : i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                ip = "::1" if hexip == "0" * 24 + "01000000" else hexip
            out.append(f"{ip}:{int(hexport, 16)}")
    return out


# -- CURVE -----------------------------------------------------------------------------------


def test_curve_lets_in_only_authorized_clients(
    tmp_path: Path, models: dict[str, Any], clips: Clips, daemon_process: DaemonFactory
) -> None:
    creds = tmp_path / "credentials"  # what systemd's LoadCredential= would make
    keys = tmp_path / "authorized"
    other = tmp_path / "other"
    for d in (creds, keys, other):
        d.mkdir()
    server_public, _ = zmq.auth.create_certificates(creds, "server")
    client_public, client_secret = zmq.auth.create_certificates(tmp_path, "client")
    _, intruder_secret = zmq.auth.create_certificates(other, "intruder")
    Path(client_public).rename(keys / "client.key")

    ports = Ports()
    curve = {"secret_key_file": "${CREDENTIALS_DIRECTORY}/server.key_secret", "authorized_keys_dir": str(keys)}
    data = config_data(
        ports, models, [{"name": "cam", "source": str(clips.h264_long), "loop": True}], publish={"curve": curve}
    )
    path = write_config(tmp_path / "curve.toml", data)

    def curve_client(secret_file: str) -> Any:
        def configure(sock: zmq.Socket[bytes]) -> None:
            public, secret = zmq.auth.load_certificate(secret_file)
            server_key, _ = zmq.auth.load_certificate(server_public)
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_key

        return configure

    # Subscribers in place before the daemon starts, so each has the whole run to receive.
    plain = Subscriber(ports.endpoint)
    intruder = Subscriber(ports.endpoint, configure=curve_client(str(intruder_secret)))
    plain.start()
    intruder.start()
    running = start_daemon(daemon_process, path, ports, env={"CREDENTIALS_DIRECTORY": str(creds)}, wait_streams=())
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "streamer", "subscribe", "--endpoint", ports.endpoint, "--stream", "cam",
             "--count", "5", "--timeout", "20", "--curve-server-key", str(server_public),
             "--curve-client-cert", str(client_secret)],
            capture_output=True, text=True, timeout=40, check=False,
        )  # fmt: skip
        authorized = [json.loads(line) for line in cli.stdout.splitlines()]
        time.sleep(1.0)
        samples = running.scrape()
        published = value(samples, "streamer_messages_published_total", stream="cam")
        report(
            "curve",
            authorized_received=len(authorized),
            plain_received=len(plain.messages()),
            intruder_received=len(intruder.messages()),
            published=int(published),
        )
        assert cli.returncode == 0, cli.stderr
        assert len(authorized) == 5 and all(m["stream"] == "cam" for m in authorized)
        assert published > 25
        assert plain.messages() == [] and plain.bad == []
        assert intruder.messages() == [] and intruder.bad == []
        # The daemon's own test subscriber (plain) got nothing either.
        assert running.sub.messages() == []
    finally:
        for sub in (plain, intruder, running.sub):
            sub.close()


def test_curve_without_its_secret_key_is_a_config_error(tmp_path: Path, models: dict[str, Any], clips: Clips) -> None:
    keys = tmp_path / "authorized"
    keys.mkdir()
    curve = {"secret_key_file": "${CREDENTIALS_DIRECTORY}/server.key_secret", "authorized_keys_dir": str(keys)}
    data = config_data(Ports(), models, [{"name": "cam", "source": str(clips.h264)}], publish={"curve": curve})
    path = write_config(tmp_path / "curve.toml", data)
    proc = subprocess.run(
        daemon_argv(path), capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": str(tmp_path / "empty")},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "publish.curve.secret_key_file" in proc.stderr and "Traceback" not in proc.stderr


# -- credentials -----------------------------------------------------------------------------


def test_rtsp_password_never_shown(
    tmp_path: Path,
    models: dict[str, Any],
    rtsp_server: RtspServerFactory,
    daemon_process: DaemonFactory,
) -> None:
    server = rtsp_server(user=USER, password=PASSWORD)
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "cam-password").write_text(PASSWORD + "\n")
    (tmp_path / "cam.pass").write_text(PASSWORD)
    (tmp_path / "wrong.pass").write_text(PASSWORD + "-wrong")
    bare = server.url(credentials=False)
    streams = [
        {"name": "from_file", "source": bare, "username": USER, "password_file": "cam.pass"},
        {"name": "from_credential", "source": bare, "username": USER, "password_credential": "cam-password"},
        {"name": "inline", "source": server.url()},  # rtsp://operator:<encoded password>@...
        {"name": "wrong", "source": bare, "username": USER, "password_file": "wrong.pass"},
    ]
    capture = {"open_timeout_s": 2.0, "read_timeout_s": 1.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0}
    ports = Ports()
    path = write_config(tmp_path / "creds.toml", config_data(ports, models, streams, capture=capture))
    env = {"CREDENTIALS_DIRECTORY": str(creds)}

    check = subprocess.run(
        [sys.executable, "-m", "streamer", "check", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False, env={**_env(), **env},
    )  # fmt: skip
    assert check.returncode == 0, check.stderr

    proc = daemon_process([*daemon_argv(path), "--print"], env={**env, "STREAMER_LOG_LEVEL": "DEBUG"})
    sub = Subscriber(ports.endpoint)
    sub.start()
    try:
        wait_until(lambda: port_open("127.0.0.1", ports.http_port), 20, 0.1, "metrics")
        up = ("from_file", "from_credential", "inline")
        for name in up:
            wait_until(partial(sub.results, name), 20, 0.1, f"results of {name}")
        # A camera fault: reconnect paths log the source too.
        server.kill()
        time.sleep(1.5)
        t_back = time.monotonic()
        server.start()
        for name in up:
            wait_until(partial(sub.state_changes, name, "up", t_back), 10, 0.1, f"{name} back")
        metrics = _get(f"http://{ports.listen}/metrics")
        health = _get(f"http://{ports.listen}/healthz")
        samples = parse_samples(metrics)
        wrong_up = value(samples, "streamer_stream_up", stream="wrong")
        listening = listening_addresses(proc.pid)
    finally:
        sub.close()
        proc.stop()

    outputs = {
        "check stdout": check.stdout,
        "check stderr": check.stderr,
        "daemon stderr": proc.stderr_text(),
        "daemon stdout (--print)": proc.stdout_text(),
        "status messages": "\n".join(m.raw.decode() for m in sub.statuses()),
        "all messages": "\n".join(m.raw.decode() for m in sub.messages()),
        "metrics": metrics,
        "healthz": health,
        "config": path.read_text(),  # written by us with the bare URL, except the inline stream
    }
    forms = {PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)}
    leaks = {where: form for where, text in outputs.items() for form in forms if form in text and where != "config"}
    report(
        "credentials",
        sizes={k: len(v) for k, v in outputs.items()},
        leaks=leaks,
        streams_up={n: value(samples, "streamer_stream_up", stream=n) for n in (*up, "wrong")},
        listening=listening,
    )
    assert not leaks, leaks
    # The secrets were really used: every stream with the right password came up (twice) ...
    for name in up:
        assert value(samples, "streamer_stream_up", stream=name) == 1, name
    # ... the wrong one did not, and its failure is reported with the URL redacted.
    assert wrong_up == 0
    assert f"rtsp://{USER}:***@127.0.0.1:{server.port}/cam0" in outputs["daemon stderr"]
    assert "***" in outputs["check stdout"]
    # The listeners of the daemon: the configured ones, on 127.0.0.1 only.
    assert sorted(listening) == sorted([f"127.0.0.1:{ports.zmq_port}", f"127.0.0.1:{ports.http_port}"])


def _env() -> dict[str, str]:
    return dict(os.environ)


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:  # /healthz answers 503 while the wrong stream is down
        return str(exc.read().decode())


# -- defaults and the wire -------------------------------------------------------------------


def test_default_listeners_are_loopback_only(
    tmp_path: Path, models: dict[str, Any], clips: Clips, daemon_process: DaemonFactory
) -> None:
    data = config_data(Ports(), models, [{"name": "cam", "source": str(clips.h264_long), "loop": True}])
    del data["metrics"]  # the defaults: metrics on 127.0.0.1:9108, results on tcp://127.0.0.1:5556
    del data["publish"]
    path = write_config(tmp_path / "defaults.toml", data)
    if port_open("127.0.0.1", 9108) or port_open("127.0.0.1", 5556):
        pytest.skip("a default port (9108 or 5556) is taken on this machine")
    proc = daemon_process(daemon_argv(path))
    try:
        wait_until(lambda: not proc.running() or port_open("127.0.0.1", 9108), 20, 0.1, "default metrics port")
        assert proc.running(), proc.stderr_text()
        listening = listening_addresses(proc.pid)
    finally:
        proc.stop()
    report("default listeners", listening=listening)
    assert sorted(listening) == ["127.0.0.1:5556", "127.0.0.1:9108"]


def test_no_pickle_anywhere_every_message_is_schema_json(
    tmp_path: Path, models: dict[str, Any], clips: Clips, daemon_process: DaemonFactory
) -> None:
    unsafe = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
    for source in (REPO / "streamer").rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            elif isinstance(node, ast.Attribute):
                names = {node.attr} & {"send_pyobj", "recv_pyobj", "send_serialized", "recv_serialized"}
                assert not names, f"{source}:{node.lineno}: {names}"
                continue
            else:
                continue
            assert not names & unsafe, f"{source}:{node.lineno}: imports {names & unsafe}"
    ports = Ports()
    data = config_data(ports, models, [{"name": "cam", "source": str(clips.h264_long), "loop": True}])
    running = start_daemon(daemon_process, write_config(tmp_path / "c.toml", data), ports, wait_streams=("cam",))
    try:
        time.sleep(1.0)
    finally:
        running.sub.close()
    msgs = running.sub.messages()
    assert running.sub.bad == []
    for m in msgs:
        assert not m.raw.startswith(b"\x80")  # a pickle's protocol byte
        jsonschema.validate(m.body, schema("status" if m.topic == "_status" else "result"))
    assert sum(1 for m in msgs if m.topic == "cam") > 10
