"""sd_notify(3) for the daemon: READY, STATUS, WATCHDOG and STOPPING, with no dependency on libsystemd.

Every function is a no-op that returns False when ``NOTIFY_SOCKET`` is unset (not started by systemd,
or started with ``Type=simple``), so the supervisor can call them unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)

__all__ = ["notify", "ready", "status", "stopping", "watchdog", "watchdog_interval"]


def _address(raw: str) -> str | None:
    """Turn ``NOTIFY_SOCKET`` into an address ``socket.connect`` accepts, or None if unsupported."""
    if raw.startswith("@"):
        # Abstract namespace: systemd writes '@', the kernel wants a leading NUL byte.
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # systemd >= 254 may hand out "vsock:CID:PORT" for VMs; we only run on the host itself.
    return None


def notify(*assignments: str) -> bool:
    """Send ``VAR=value`` assignments to the service manager as one datagram.

    Returns True when the datagram was sent, False when there is no socket to send to or the send
    failed. Never raises: a notification is advice to systemd, and losing one must not stop the
    pipeline (a missed WATCHDOG=1 is already what systemd reacts to).
    """
    raw = os.environ.get("NOTIFY_SOCKET")
    if not raw or not assignments:
        return False
    address = _address(raw)
    if address is None:
        logger.debug("unsupported NOTIFY_SOCKET %r; notification dropped", raw)
        return False
    payload = "\n".join(assignments).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(payload)
    except OSError as exc:
        logger.debug("sd_notify %r failed: %s", payload, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """The watchdog timeout in seconds from ``WATCHDOG_USEC``, or None if no watchdog applies to us.

    ``WATCHDOG_PID``, when set, names the process the watchdog is meant for; a child that inherited
    the environment must not ping on its parent's behalf. Callers should ping at half this interval.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            logger.debug("ignoring malformed WATCHDOG_PID %r", pid)
            return None
    try:
        value = int(usec)
    except ValueError:
        logger.debug("ignoring malformed WATCHDOG_USEC %r", usec)
        return None
    if value <= 0:
        return None
    return value / 1_000_000


def _one_line(text: str) -> str:
    # A newline inside STATUS= would start a new assignment in the datagram.
    return " ".join(text.splitlines())


def ready(status: str = "") -> bool:
    """Tell systemd start-up is complete (``READY=1``), with an optional status line."""
    if status:
        return notify("READY=1", "STATUS=" + _one_line(status))
    return notify("READY=1")


def status(text: str) -> bool:
    """Update the free-form status line shown by ``systemctl status``."""
    return notify("STATUS=" + _one_line(text))


def watchdog() -> bool:
    """Ping the watchdog (``WATCHDOG=1``). Call only while every pipeline heartbeat is fresh."""
    return notify("WATCHDOG=1")


def stopping() -> bool:
    """Tell systemd the daemon is shutting down (``STOPPING=1``)."""
    return notify("STOPPING=1")
