"""The long hostile campaign: every case at full scale against one daemon with the default HTTP
settings, then SIGTERM in the middle of abuse; prints the table of docs/reliability.md.

    PYTHONPATH=$PWD python -m tests.hostile.campaign [--scale full|ci] [--case PREFIX ...] [--json FILE]

Needs ffmpeg (the test clip is encoded once into a temporary directory). As root, the daemon runs
without root's override of file permissions (``setpriv``) so the unreadable-model case is real.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tests.hostile import attacks
from tests.hostile.cases import CASES, Case, Scale
from tests.hostile.rig import DEFAULT_HTTP, HEADER, SUITE_HTTP, Outcome, Target
from tests.support.media import build_clips


def sigterm_under_abuse(target: Target, idle: int) -> str:
    """SIGTERM while ``idle`` HTTP clients and a ZMTP peer hold connections; returns what happened."""
    socks = attacks.open_many(target.ports.http_port, idle)
    peer = attacks.RawSub("127.0.0.1", target.ports.zmq_port)
    t0 = time.monotonic()
    target.proc.send_signal(signal.SIGTERM)
    try:
        rc = target.proc.wait(20)
    except TimeoutError:
        rc = None
    took = time.monotonic() - t0
    for s in socks:
        s.close()
    peer.close()
    target.sub.close()
    return f"SIGTERM with {idle} idle HTTP clients and a ZMTP peer: exit {rc} in {took:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=[s.value for s in Scale], default=Scale.FULL.value)
    parser.add_argument("--case", action="append", default=[], help="only cases whose name starts with this")
    parser.add_argument("--json", type=Path, default=None, help="also write the outcomes as JSON")
    args = parser.parse_args(argv)
    scale = Scale(args.scale)
    cases = [c for c in CASES if not args.case or any(c.name.startswith(p) for p in args.case)]
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        work = Path(tmp)
        clips = build_clips(work / "clips")
        http = DEFAULT_HTTP if scale is Scale.FULL else SUITE_HTTP
        target = Target(work, clips.h264_long, http=http, unprivileged=True).start()
        time.sleep(2.0)
        start = target.reading()
        outcomes: list[Outcome] = []
        print(HEADER, flush=True)
        try:
            for case in cases:

                def attack(t: Target, c: Case = case) -> str:
                    return c.attack(t, scale)

                out = target.run(case.name, attack)
                outcomes.append(out)
                print(out.row(), flush=True)
                if not out.alive:
                    break
            end = target.reading()
            ended = sigterm_under_abuse(target, min(500, int(http["max_connections"]) - 20))
        finally:
            target.proc.stop()
        tracebacks = target.proc.stderr_text().count("Traceback")
        print(f"\nwhole run: {start} -> {end}; {ended}; tracebacks in the log: {tracebacks}")
        if args.json is not None:
            args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2, default=str))
        ok = all(o.alive and o.tracebacks == 0 for o in outcomes) and "exit 0" in ended and not tracebacks
        return 0 if ok else 1


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    sys.exit(main())
