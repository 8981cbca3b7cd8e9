"""The HTTP port under the common soft limit of 1,024 open files: 1,100 idle clients (about 1,015
made /healthz time out with the server before). The daemon raises its own soft limit, holds up to
its bound of 1,024 connections (more descriptors than the limit it was started with), closes the
longest-idle to make room for the rest, answers /healthz meanwhile, gives every descriptor back
afterwards, and exits 0 at once on SIGTERM."""

from __future__ import annotations

import resource
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.attacks import Probe, open_many
from tests.integration.robust_rig import (
    Ports,
    Subscriber,
    config_data,
    file_stream,
    report,
    scrape,
    tiny_models,
    value,
    write_config,
)
from tests.support.media import Clips
from tests.support.procs import DaemonProcess, port_open, process_fds, process_threads, wait_until

pytestmark = pytest.mark.integration

CLIENTS = 1100


class LowLimitDaemon(DaemonProcess):
    def start(self) -> LowLimitDaemon:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # inherited by the child
        try:
            super().start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        return self


def test_idle_clients_past_the_common_fd_limit(tmp_path: Path, clips: Clips) -> None:
    ports = Ports()
    path = write_config(
        tmp_path / "c.toml",
        config_data(ports, tiny_models(tmp_path / "models"), [file_stream("a", clips.h264_long)]),
    )
    sub = Subscriber(ports.endpoint, decode=False)
    sub.start()
    proc = LowLimitDaemon([sys.executable, "-m", "streamer", "run", "--config", str(path)], log_dir=tmp_path / "log")
    proc.start()
    try:
        wait_until(lambda: port_open("127.0.0.1", ports.http_port), 30, 0.1, "metrics port")
        wait_until(lambda: sub.results("a"), 30, 0.1, "results")
        time.sleep(1.0)
        fds0, threads0 = len(process_fds(proc.pid)), process_threads(proc.pid)
        socks = open_many(ports.http_port, CLIENTS)
        wait_until(lambda: len(process_fds(proc.pid)) >= fds0 + 1000, 30, 0.2, "clients accepted")
        probe = Probe(ports.http_port)
        t0 = time.monotonic()
        probe.during(3.0)
        results = len([m for m in sub.results("a", t0) if m.t_recv < time.monotonic()])
        held = scrape(ports.listen)
        threads_held = process_threads(proc.pid)
        for s in socks:
            s.close()
        wait_until(lambda: len(process_fds(proc.pid)) <= fds0 + 1, 10, 0.2, "descriptors back")
        report("1,100 idle clients", healthz=probe.summary(), results_in_3s=results, threads=threads_held)
        assert probe.failures == 0 and max(probe.latencies) < 1.0, probe.summary()
        assert 1000 <= value(held, "streamer_http_connections") <= 1024
        assert value(held, "streamer_http_client_errors_total", reason="evicted") >= CLIENTS - 1024
        assert threads_held <= threads0 + 1, "a thread per connection"
        assert results > 40, results
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0 and time.monotonic() - t0 < 5
        assert "Traceback" not in proc.stderr_text()
    finally:
        sub.close()
        proc.stop()
