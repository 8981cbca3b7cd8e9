"""The monitoring assets against reality: a real Prometheus scrapes a real daemon, loads the shipped
alert rules, and every PromQL expression of the dashboard and the rules returns data.

Rule expressions are evaluated without their threshold (``x > 0.5`` is empty on a healthy system;
``x`` is not), which proves every selector matches real series; the rules themselves must load
and evaluate without error.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import DaemonFactory, PrometheusFactory
from tests.support.media import Clips
from tests.support.procs import free_port, wait_until
from tests.systemd.daemon import daemon_argv, file_stream, sample_sum, scrape, write_config
from tests.systemd.exprs import (
    RULES,
    dashboard,
    dashboard_exprs,
    metric_names,
    rule_exprs,
    substitute,
    without_threshold,
)

ZONE_METRICS = {"streamer_line_crossings_total", "streamer_zone_objects", "streamer_zone_events_total"}

pytestmark = pytest.mark.integration

STREAMS = ("cam-a", "cam-b")
START_TIMEOUT_S = 60.0


def _has_finite_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def test_every_dashboard_and_rule_expression_returns_data(
    tmp_path: Path, clips: Clips, daemon_process: DaemonFactory, prometheus_server: PrometheusFactory
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    cfg = write_config(
        tmp_path / "streamer.toml",
        streams=[file_stream(name, clips.h264) for name in STREAMS],
        endpoint=f"tcp://127.0.0.1:{free_port()}",
        metrics_listen=listen,
    )
    daemon = daemon_process(daemon_argv(cfg))

    def publishing() -> bool:
        try:
            return sample_sum(scrape(listen), "streamer_messages_published_total") > 0
        except OSError:
            return False

    wait_until(publishing, START_TIMEOUT_S, 0.2, f"results from the daemon\n{daemon.stderr_text()}")

    prom = prometheus_server([listen], rule_files=[RULES])
    # rate() needs two samples in its window: wait until a rate over every stream is there.
    prom.wait_for('count(rate(streamer_frames_processed_total{job="streamer"}[1m]) > 0) == 2', 40.0)
    prom.wait_for('count(rate(streamer_latency_seconds_count{job="streamer"}[1m]) > 0) == 2', 20.0)

    failures: list[str] = []
    # Zone and line series exist only for streams with zones (tests/integration/test_zones.py has them).
    checks = [(e.where, substitute(e.promql)) for e in dashboard_exprs() if not metric_names(e.promql) <= ZONE_METRICS]
    checks += [(e.where + " (without threshold)", without_threshold(e.promql)) for e in rule_exprs()]
    for where, promql in checks:
        result = prom.query(promql)
        if not result:
            failures.append(f"{where}: no data for {promql}")
        elif not _has_finite_value(result):
            failures.append(f"{where}: only NaN/Inf for {promql}: {result}")
    assert not failures, "\n".join(failures) + f"\ntargets: {prom.targets_health()}"

    # The dashboard's variables list the job, the instance and both streams.
    for var in dashboard()["templating"]["list"]:
        if var["type"] != "query":
            continue
        parsed = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["definition"])
        assert parsed, var["definition"]
        selector, label = parsed.groups()
        values = {sample["metric"].get(label) for sample in prom.query(substitute(selector))}
        assert values - {None}, f"variable {var['name']}: no {label} values from {selector}"
        if var["name"] == "stream":
            assert values >= set(STREAMS), values

    # The shipped rules load and evaluate cleanly, and nothing fires on a healthy daemon.
    wait_until(lambda: _rules_evaluated(prom.api("rules")), 20.0, 0.5, "every rule evaluated once")
    rules = [rule for group in prom.api("rules")["groups"] for rule in group["rules"]]
    assert {r["name"] for r in rules} == {e.where.removeprefix("rule ") for e in rule_exprs()}
    for rule in rules:
        assert rule["health"] == "ok", rule
    firing = [a for a in prom.api("alerts")["alerts"] if a["state"] == "firing"]
    assert not firing, firing
    assert daemon.running()


def _rules_evaluated(data: dict[str, Any]) -> bool:
    rules = [rule for group in data["groups"] for rule in group["rules"]]
    return bool(rules) and all(rule.get("health") in {"ok", "err"} for rule in rules)
