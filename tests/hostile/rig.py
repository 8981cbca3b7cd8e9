"""A daemon under attack: two camera-like streams, a subscriber counting their results, and
before/after readings (RSS, fds, threads, counters, log) around each hostile case."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tests.integration.robust_rig import (
    Ports,
    Samples,
    Subscriber,
    config_data,
    daemon_argv,
    file_stream,
    scrape,
    tiny_models,
    write_config,
)
from tests.support.procs import DaemonProcess, port_open, process_fds, process_threads, rss_bytes, wait_until

STREAMS = ("a", "b")
# The standing suite's HTTP settings: short timeouts so slow and idle clients are closed in seconds
# (the defaults are 10 s and 60 s), and a bound that a test reaches in a second on a loaded machine
# (the default is 1,024). The campaign runs the defaults.
SUITE_HTTP = {"max_connections": 300, "header_timeout_s": 3.0, "idle_timeout_s": 5.0}
DEFAULT_HTTP = {"max_connections": 1024, "header_timeout_s": 10.0, "idle_timeout_s": 60.0}
MIN_WINDOW_S = 2.0
BASE_WINDOW_S = 3.0  # the rate before an attack (150 results: one is 0.7 %)
LATE_S = 0.5  # how long a result may take to arrive and still count for its window


@dataclass(frozen=True)
class Reading:
    rss_mb: float
    fds: int
    threads: int

    def __str__(self) -> str:
        return f"{self.rss_mb:.0f} MB / {self.fds} / {self.threads}"


@dataclass(frozen=True)
class Outcome:
    """One row of the campaign table."""

    case: str
    did: str
    rate_pct: float  # the other streams' result rate during the attack, % of their rate just before
    before: Reading
    after: Reading
    counted: dict[str, float]  # abnormal-event counters that moved
    alive: bool
    tracebacks: int
    log_lines: int  # lines the daemon logged during the case

    def row(self) -> str:
        counted = ", ".join(f"{k} +{v:g}" for k, v in self.counted.items()) or "-"
        return f"| {self.case} | {self.did} | {self.rate_pct:.0f} % | {self.before} | {self.after} | {counted} |"


HEADER = (
    "| case | what the daemon did | other streams' rate | RSS / fds / threads before | after | counted |\n"
    "|---|---|---|---|---|---|"
)

_COUNTERS = ("streamer_http_client_errors_total", "streamer_config_reloads_total", "streamer_publish_peer_errors_total")


def _counters(samples: Samples) -> dict[str, float]:
    out = {}
    for (name, labels), v in samples.items():
        if name in _COUNTERS:
            out[f"{name.removeprefix('streamer_').removesuffix('_total')}{{{','.join(x[1] for x in labels)}}}"] = v
    return out


def unit_environment() -> dict[str, str]:
    """The environment systemd/streamer.service gives the daemon (its ``Environment=`` lines, the
    ones without specifiers), so the daemon under attack allocates memory as it does in service."""
    unit = Path(__file__).resolve().parents[2] / "systemd" / "streamer.service"
    env: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        if line.startswith("Environment="):
            for pair in line.removeprefix("Environment=").split():
                key, _, value = pair.partition("=")
                if "%" not in value:
                    env[key] = value
    return env


class Target:
    """The daemon under attack and what is needed to attack and measure it."""

    def __init__(
        self, workdir: Path, clip: Path, *, http: Mapping[str, float] = SUITE_HTTP, unprivileged: bool = False
    ) -> None:
        self.workdir = workdir
        self.http = dict(http)
        self.clip = clip
        self.ports = Ports()
        self.models = tiny_models(workdir / "models")
        self.streams = [file_stream(s, clip) for s in STREAMS]
        self.config_path = workdir / "hostile.toml"
        self.write()
        argv = daemon_argv(self.config_path)
        if unprivileged and os.geteuid() == 0 and shutil.which("setpriv"):
            argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *argv]
        self.sub = Subscriber(self.ports.endpoint, decode=False)
        self.sub.start()
        self.proc = DaemonProcess(argv, log_dir=workdir / "log", stop_timeout=10, env=unit_environment())

    def write(self, models: Mapping[str, Any] | None = None, extra_streams: tuple[dict[str, Any], ...] = ()) -> None:
        data = config_data(self.ports, models or self.models, [*self.streams, *extra_streams])
        data["metrics"].update(self.http)
        write_config(self.config_path, data)

    def start(self) -> Target:
        self.proc.start()
        wait_until(lambda: port_open("127.0.0.1", self.ports.http_port), 30, 0.1, "metrics port")
        for s in STREAMS:
            wait_until(partial(self.sub.results, s), 30, 0.1, f"first result of {s}")
        return self

    def stop(self) -> int:
        self.sub.close()
        return self.proc.stop()

    def reading(self) -> Reading:
        pid = self.proc.pid
        return Reading(rss_bytes(pid) / 2**20, len(process_fds(pid)), process_threads(pid))

    def rate(self, t0: float, t1: float) -> float:
        """Results per second of the other streams (together) for frames captured between two
        monotonic times. Counted by capture time, after waiting ``LATE_S`` for the last of them: a
        frame that arrives late but arrives is not lost, and a lag at the window's end would
        otherwise read as a loss of rate (one result of the 100 a 2 s window holds is 1 %)."""
        time.sleep(max(0.0, t1 + LATE_S - time.monotonic()))
        to_wall = time.time() - time.monotonic()
        w0, w1 = t0 + to_wall, t1 + to_wall
        n = 0
        for s in STREAMS:
            for m in self.sub.results(s, t0 - LATE_S):
                if m.t_recv < t1 + LATE_S:
                    n += w0 <= json.loads(m.raw)["t_capture"] < w1
        return n / (t1 - t0)

    def run(self, case: str, attack: Callable[[Target], str], settle_s: float = 8.0) -> Outcome:
        """Measure, attack, let the daemon settle, measure again."""
        log_at = len(self.proc.stderr_text())
        t_base = time.monotonic()
        time.sleep(BASE_WINDOW_S)
        before, counters0 = self.reading(), _counters(scrape(self.ports.listen))
        t0 = time.monotonic()
        did = attack(self)
        t1 = max(time.monotonic(), t0 + MIN_WINDOW_S)
        time.sleep(max(0.0, t1 - time.monotonic()))
        alive = self.proc.running()
        after = before
        if alive:
            # Back to baseline: descriptors and threads of the attack released (or settle_s passed).
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: self.reading().fds <= before.fds + 1, settle_s, 0.2, "fds back")
            time.sleep(0.5)
            after = self.reading()
        base_rate, rate = self.rate(t_base, t0), self.rate(t0, t1)
        counters1 = _counters(scrape(self.ports.listen)) if alive else counters0
        moved = {k: v - counters0.get(k, 0.0) for k, v in counters1.items() if v != counters0.get(k, 0.0)}
        log = self.proc.stderr_text()[log_at:]
        return Outcome(
            case,
            did,
            100 * rate / base_rate if base_rate else 0.0,
            before,
            after,
            moved,
            alive,
            log.count("Traceback"),
            len(log.splitlines()),
        )
