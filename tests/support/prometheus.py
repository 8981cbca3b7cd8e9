"""A real Prometheus server for tests, scraping given targets every second, queried over its HTTP API."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.procs import alive, free_port, spawn, terminate

PROMETHEUS = "/usr/bin/prometheus"


def prometheus_path() -> str | None:
    """Path of the prometheus binary, or None if it is not installed."""
    return shutil.which(PROMETHEUS) or shutil.which("prometheus")


class PrometheusError(RuntimeError):
    """The server did not start, or a query failed."""


class PrometheusServer:
    """Prometheus on 127.0.0.1 with a throw-away TSDB, as a context manager.

    ``targets`` are ``host:port`` strings scraped at ``/metrics`` under job ``job``. The first
    samples become queryable only about 6 s after start (service discovery batches updates every
    5 s): use ``wait_for``.
    """

    def __init__(
        self,
        targets: Sequence[str],
        *,
        rule_files: Sequence[str | Path] = (),
        job: str = "streamer",
        scrape_interval: str = "1s",
        ready_timeout: float = 30.0,
    ) -> None:
        self.targets = list(targets)
        self.rule_files = [Path(path).resolve() for path in rule_files]
        self.job = job
        self.scrape_interval = scrape_interval
        self.ready_timeout = ready_timeout
        self.port = 0
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the web API, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        """The configuration written for the server (JSON is valid YAML)."""
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [{"job_name": self.job, "static_configs": [{"targets": self.targets}]}],
        }

    def start(self) -> PrometheusServer:
        """Start the server and wait until its API answers (PrometheusError otherwise)."""
        binary = prometheus_path()
        if binary is None:
            raise PrometheusError("prometheus is not installed")
        self._dir = Path(tempfile.mkdtemp(prefix="prometheus-"))
        config_path = self._dir / "prometheus.yml"
        config_path.write_text(json.dumps(self.config(), indent=2))
        deadline = time.monotonic() + self.ready_timeout
        # free_port() can race with another process taking the port: try a few ports.
        for _attempt in range(3):
            self.port = free_port()
            argv = [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ]
            with open(self._dir / "prometheus.log", "ab") as log:
                self._proc = spawn(argv, stdout=log, stderr=log)
            if self._wait_ready(deadline):
                return self
            if alive(self._proc):
                break  # running but not answering: no point trying another port
            terminate(self._proc, 0)  # exited (port taken?): reap it and try another port
        output = self.log_text()
        self.stop()
        raise PrometheusError(f"prometheus did not become ready\n{output}")

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._proc is None or not alive(self._proc):
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (SIGKILL after ``timeout``), then remove its directory; returns the exit status."""
        status = None
        if self._proc is not None:
            status = terminate(self._proc, timeout, signal.SIGTERM)
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        return status

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def api(self, endpoint: str, **params: str) -> Any:
        """GET ``/api/v1/<endpoint>`` and return its ``data`` (PrometheusError on an API error)."""
        query = urllib.parse.urlencode(params)
        request_url = f"{self.url}/api/v1/{endpoint}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(request_url, timeout=5) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400/422: bad expression; the body says why
            try:
                body = json.load(exc)
            except ValueError:
                raise PrometheusError(f"{endpoint} {params}: HTTP {exc.code}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{endpoint} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluate an instant query; returns the vector's samples (``metric`` labels, ``value``)."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            return [{"metric": {}, "value": data["result"]}]  # scalar or string
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(self, expr: str, timeout: float = 20.0, interval: float = 0.5) -> list[dict[str, Any]]:
        """Poll ``query(expr)`` until the result is non-empty; TimeoutError (with target health) if not."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no data for {expr!r} after {timeout} s; targets: {self.targets_health()}")
            time.sleep(interval)

    def targets_health(self) -> list[dict[str, Any]]:
        """Each active target's URL, health and last error (for failure messages)."""
        active = self.api("targets").get("activeTargets", [])
        return [{key: target.get(key) for key in ("scrapeUrl", "health", "lastError")} for target in active]

    def log_text(self) -> str:
        """The server's log so far."""
        if self._dir is None or not (self._dir / "prometheus.log").exists():
            return ""
        return (self._dir / "prometheus.log").read_text(errors="replace")
