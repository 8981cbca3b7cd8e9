"""The hostile cases, at two scales: ``ci`` (the standing suite, seconds each) and ``full`` (the campaign).

Each case is an attack on a running :class:`~tests.hostile.rig.Target` and the counters it must
move; the targets every case must meet are checked by the suite (``test_hostile.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tests.hostile import attacks
from tests.hostile.rig import Target
from tests.integration.robust_rig import file_stream
from tests.support.procs import wait_until


class Scale(StrEnum):
    CI = "ci"
    FULL = "full"


@dataclass(frozen=True)
class Case:
    name: str
    attack: Callable[[Target, Scale], str]
    counts: tuple[str, ...] = ()  # counters (as the rig names them) this case must move


def _n(scale: Scale, ci: int, full: int) -> int:
    return ci if scale is Scale.CI else full


def _bound(t: Target) -> int:
    return int(t.http["max_connections"])


def http_idle(t: Target, s: Scale) -> str:
    """As many idle connections as the bound allows (1,000 at the default bound), held, then timed out."""
    n = min(1000, _bound(t) - 20)
    return attacks.http_idle(t.ports.http_port, n, hold_s=_n(s, 2, 5), wait_close_s=t.http["header_timeout_s"] + 5)


def http_over_bound(t: Target, s: Scale) -> str:
    return attacks.http_over_the_bound(t.ports.http_port, _bound(t) * 3 // 2, hold_s=2)


def http_slowloris(t: Target, s: Scale) -> str:
    n = min(_n(s, 200, 800), _bound(t) - 20)
    return attacks.http_slowloris(t.ports.http_port, n, seconds=t.http["header_timeout_s"] + 3)


def http_bad(t: Target, s: Scale) -> str:
    return attacks.http_bad_requests(t.ports.http_port, _n(s, 300, 3000))


def http_disconnect(t: Target, s: Scale) -> str:
    return attacks.http_disconnects(t.ports.http_port, _n(s, 1000, 5000))


def zmtp_huge(t: Target, s: Scale) -> str:
    return attacks.zmtp_huge_frames(t.ports.zmq_port, _n(s, 4, 16), 64 << 20)


def zmtp_subs(t: Target, s: Scale) -> str:
    return attacks.zmtp_subscriptions(t.ports.zmq_port, _n(s, 20_000, 200_000))


def zmtp_garbage(t: Target, s: Scale) -> str:
    return attacks.zmtp_garbage(t.ports.zmq_port, _n(s, 300, 3000))


def reload_storm(t: Target, s: Scale) -> str:
    """SIGHUPs 20 ms apart, the config alternately adding and removing a third stream."""
    n = _n(s, 20, 50)
    extra = file_stream("c", t.clip)
    for i in range(n):
        t.write(extra_streams=(extra,) if i % 2 == 0 else ())
        t.proc.send_signal(signal.SIGHUP)
        time.sleep(0.02)
    t.write()
    t.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    return f"{n + 1} SIGHUPs 20 ms apart, a stream added and removed"


def unreadable_model(t: Target, s: Scale) -> str:
    """A reload pointing at a model the daemon's user cannot read."""
    locked = t.workdir / "locked"
    locked.mkdir(exist_ok=True)
    shutil.copy(t.models["cls"]["path"], locked / "cls.onnx")
    if os.geteuid() == 0:  # the daemon runs without root's override of file permissions (rig.Target)
        shutil.chown(locked, "nobody")
    locked.chmod(0o700 if os.geteuid() == 0 else 0o000)
    try:
        t.write(models={**t.models, "cls": {"path": str(locked / "cls.onnx")}})
        errors = len(t.sub.statuses("config_error"))
        t.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: len(t.sub.statuses("config_error")) > errors, 15, 0.05, "config_error")
    finally:
        t.write()
        locked.chmod(0o755)
    return "reload refused (permission denied, one line); old config kept"


CASES: tuple[Case, ...] = (
    Case("HTTP: idle connections", http_idle, ("http_client_errors{timeout}",)),
    Case("HTTP: more idle connections than the bound", http_over_bound, ("http_client_errors{evicted}",)),
    Case("HTTP: slowloris headers", http_slowloris, ("http_client_errors{timeout}",)),
    Case(
        "HTTP: malformed and oversized requests",
        http_bad,
        ("http_client_errors{malformed}", "http_client_errors{oversized}"),
    ),
    Case("HTTP: clients resetting mid-request", http_disconnect, ("http_client_errors{disconnected}",)),
    Case("ZMQ: SUB peers declaring 2 GiB frames", zmtp_huge),
    Case("ZMQ: one peer, many subscriptions", zmtp_subs),
    Case("ZMQ: garbage handshakes", zmtp_garbage, ("publish_peer_errors{handshake}",)),
    Case("operator: SIGHUP storm", reload_storm, ("config_reloads{ok}",)),
    Case("operator: reload to an unreadable model", unreadable_model, ("config_reloads{error}",)),
)
