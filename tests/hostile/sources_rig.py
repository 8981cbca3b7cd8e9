"""What the hostile-source tests read from a running daemon: its process tree's RSS, fds and threads."""

from __future__ import annotations

import contextlib
import os
import resource

from tests.support.procs import process_fds, process_threads, rss_bytes

Sample = tuple[int, int, int]  # RSS bytes, fds, threads of the daemon and its capture processes


def tree(pid: int) -> list[int]:
    """A process and its descendants (the daemon and its capture processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(FileNotFoundError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(FileNotFoundError), open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
    return out


def sample(pid: int) -> Sample:
    """RSS, fds and threads summed over the daemon and its capture processes."""
    pids = tree(pid)
    return (
        sum(rss_bytes(p) for p in pids),
        sum(len(process_fds(p)) for p in pids),
        sum(process_threads(p) for p in pids),
    )


def limit_fds(pid: int, soft: int | None) -> None:
    """Set (or, with None, restore to the hard limit) RLIMIT_NOFILE of a running process and its children."""
    for p in tree(pid):
        _, hard = resource.prlimit(p, resource.RLIMIT_NOFILE)
        resource.prlimit(p, resource.RLIMIT_NOFILE, (hard if soft is None else soft, hard))
