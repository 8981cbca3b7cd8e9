"""The Grafana dashboard: importable JSON, the expected variables, and only metrics the daemon exports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.systemd.exprs import KNOWN_METRICS, Expr, dashboard, dashboard_exprs, metric_names, substitute

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# What an operator must be able to see (the list); each needs at least one panel.
REQUIRED = {
    "streamer_frames_processed_total": "frames/s per stream",
    "streamer_frames_dropped_total": "drops by reason",
    "streamer_latency_seconds": "latency p50/p95/p99",
    "streamer_inference_seconds": "inference time per model",
    "streamer_batch_size": "batch size per model",
    "streamer_stream_up": "stream up/down",
    "streamer_stream_reconnects_total": "reconnects",
    "streamer_messages_published_total": "published messages",
    "streamer_line_crossings_total": "line counts",
    "streamer_zone_objects": "zone occupancy",
    "streamer_clips_total": "event clips",
    "process_cpu_seconds_total": "process CPU",
    "process_resident_memory_bytes": "process RSS",
}


def _variables() -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in dashboard()["templating"]["list"]}


def _panels() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def test_top_level_shape() -> None:
    dash = dashboard()
    assert dash["title"] and dash["uid"]
    assert isinstance(dash["schemaVersion"], int)
    # An id would clash with the importing Grafana's own dashboards; import assigns one.
    assert dash.get("id") is None


def test_datasource_variable() -> None:
    var = _variables()["datasource"]
    assert var["type"] == "datasource"
    assert var["query"] == "prometheus"


def test_stream_variable() -> None:
    var = _variables()["stream"]
    assert var["type"] == "query"
    assert var["datasource"] == DATASOURCE
    assert var["multi"] and var["includeAll"]
    assert "label_values(" in var["definition"] and var["definition"].rstrip(")").endswith("stream")


def test_panels_use_the_datasource_variable_and_do_not_overlap() -> None:
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for panel in _panels():
        assert panel["id"] not in ids, panel["title"]
        ids.add(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


@pytest.mark.parametrize("expr", dashboard_exprs(), ids=lambda e: e.where)
def test_exprs_use_only_known_metrics(expr: Expr) -> None:
    names = metric_names(expr.promql)
    assert names, f"no metric found in {expr.promql!r}"
    assert names <= KNOWN_METRICS, f"unknown metric(s) {names - KNOWN_METRICS} in {expr.where}"


def test_stream_panels_honour_the_stream_variable() -> None:
    for expr in dashboard_exprs():
        if metric_names(expr.promql) & {
            "streamer_frames_processed_total",
            "streamer_latency_seconds",
            "streamer_stream_up",
            "streamer_frames_dropped_total",
        }:
            assert 'stream=~"$stream"' in expr.promql, expr.where


def test_every_required_view_has_a_panel() -> None:
    used = set().union(*(metric_names(e.promql) for e in dashboard_exprs()))
    missing = {name: what for name, what in REQUIRED.items() if name not in used}
    assert not missing


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package: prometheus)")
def test_exprs_parse(tmp_path: Path) -> None:
    # promtool has no "parse this expression" command, but it parses every rule's expression:
    # wrap each panel query, variables substituted, in a recording rule.
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for n, expr in enumerate(dashboard_exprs()):
        flat = " ".join(substitute(expr.promql).split()).replace("'", "''")
        lines += [f"      - record: dashboard:expr_{n}", f"        expr: '{flat}'"]
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(dashboard_exprs())} rules found" in proc.stdout
