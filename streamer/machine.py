"""Facts about the machine the daemon runs on, read once where they are needed."""

from __future__ import annotations

import os


def cores() -> int:
    """Cores this process may run on (its CPU affinity, which systemd's CPUAffinity= narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
