"""1,000 idle HTTP clients against an HTTP server, the way the daemon's port meets them.

Compares the daemon's HTTP layer (streamer.http: aiohttp's server on one asyncio loop, with its
guard) with the server it replaced (http.server.ThreadingHTTPServer: a thread per connection, no
timeouts). Each server runs in a child process started with the common soft limit of 1,024 open
files, serving /healthz; the client opens N idle connections, probes /healthz meanwhile, then
closes them. Reported per server: /healthz latency while held, and the child's fds, threads, RSS
and CPU seconds before, while held, and after.

    PYTHONPATH=$PWD python scripts/bench_http_idle.py [--clients 1000] [--hold 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile.attacks import Probe, ensure_fds  # noqa: E402
from tests.support.procs import free_port, port_open, process_fds, process_threads, rss_bytes, wait_until  # noqa: E402

THREADED = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"healthy": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
s.serve_forever()
"""

GUARDED = """
import sys, threading
from streamer.http import HttpServer, Limits, Reply, raise_fd_limit
class Events:
    def http_connections(self, n): pass
    def http_client_error(self, r): pass
raise_fd_limit(1024 + 1024)  # as the daemon does at start-up
s = HttpServer("127.0.0.1", int(sys.argv[1]), Events(), Limits())
s.add_route("/healthz", lambda q: Reply(200, "application/json", b'{"healthy": true}'))
s.start()
threading.Event().wait()
"""


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reading(pid: int) -> str:
    return f"{len(process_fds(pid))} fds, {process_threads(pid)} threads, {rss_bytes(pid) / 2**20:.0f} MB"


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def bench(name: str, code: str, clients: int, hold: float) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code, str(port)], env=env, preexec_fn=_low_fd_limit)  # noqa: PLW1509
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 20, 0.05, name)
        time.sleep(0.5)
        before, cpu0 = _reading(child.pid), _cpu_s(child.pid)
        t_open = time.monotonic()
        # One after another, as a simple client would: the threaded server listens with a backlog
        # of 5, and parallel connects past it wait for SYN retries.
        socks = []
        for _ in range(clients):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        with contextlib.suppress(TimeoutError):  # the server may never take them all
            wait_until(lambda: len(process_fds(child.pid)) >= clients, 30, 0.2, "connections accepted")
        took = time.monotonic() - t_open
        probe = Probe(port)
        t0 = time.monotonic()
        probe.during(hold)
        held, cpu_held = _reading(child.pid), (_cpu_s(child.pid) - cpu0) / (time.monotonic() - t0)
        for s in socks:
            s.close()
        time.sleep(2.0)
        after = _reading(child.pid)
        print(
            f"| {name} | {len(socks)} in {took:.1f} s | {probe.summary()} | {before} | {held} | {after} "
            f"| {100 * cpu_held:.0f} % |"
        )
    finally:
        child.kill()
        child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=5.0)
    args = parser.parse_args()
    ensure_fds(args.clients + 100)
    print("| server | idle clients | /healthz while held | before | held | after | CPU while held |")
    print("|---|---|---|---|---|---|---|")
    bench("ThreadingHTTPServer (before)", THREADED, args.clients, args.hold)
    bench("streamer.http (aiohttp + guard)", GUARDED, args.clients, args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
