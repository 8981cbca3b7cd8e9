"""PromQL expressions of the shipped dashboard and alert rules, and the metric names they use.

Shared by the static checks here and by the integration test that evaluates every expression
against a real Prometheus scraping a real daemon.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
DASHBOARD = SYSTEMD_DIR / "grafana-dashboard.json"
RULES = SYSTEMD_DIR / "streamer-alerts.yml"

HISTOGRAMS = {"streamer_inference_seconds", "streamer_batch_size", "streamer_latency_seconds"}
# Every metric family the daemon exports (the contract), plus Prometheus's own `up`.
KNOWN_METRICS = {
    "streamer_frames_captured_total",
    "streamer_frames_processed_total",
    "streamer_frames_dropped_total",
    "streamer_stream_up",
    "streamer_stream_state",
    "streamer_stream_reconnects_total",
    "streamer_messages_published_total",
    "streamer_build_info",
    "streamer_config_reloads_total",
    "streamer_line_crossings_total",
    "streamer_zone_objects",
    "streamer_zone_events_total",
    "streamer_tracks_alive",
    "streamer_clips_total",
    "streamer_clip_errors_total",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "up",
    *HISTOGRAMS,
}
# Values the dashboard variables take when "All" is selected; the job is the scrape job's name.
DEFAULT_VARIABLES = {"job": "streamer", "instance": ".*", "stream": ".*", "__rate_interval": "1m"}

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(r"(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)|(?P<id>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<call>\s*\()?")
_TRAILING_COMPARISON = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?[-+]?\d+(?:\.\d+)?\s*$")


@dataclass(frozen=True)
class Expr:
    """One PromQL expression and where it comes from (for test ids and failure messages)."""

    where: str
    promql: str


def dashboard() -> dict[str, Any]:
    """The dashboard JSON as shipped."""
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs() -> list[Expr]:
    """Every target expression of every panel (rows included, should they nest panels)."""
    found: list[Expr] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found.append(Expr(f"panel {panel['title']!r} {target['refId']}", target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard()["panels"])
    return found


_RULE_START = re.compile(r"^\s*- (?:alert|record):\s*(\S+)\s*$")
_EXPR = re.compile(r"^(\s*)expr:\s*(.*?)\s*$")


def rule_exprs(text: str | None = None) -> list[Expr]:
    """Every rule's name and expression as written (thresholds included).

    A small reader for the shape of a Prometheus rule file (plain or ``|`` block scalars), so the
    tests need no YAML library; test_rules checks it finds as many rules as promtool does.
    """
    lines = (RULES.read_text() if text is None else text).splitlines()
    found: list[Expr] = []
    name = ""
    i = 0
    while i < len(lines):
        if start := _RULE_START.match(lines[i]):
            name = start.group(1)
        elif expr := _EXPR.match(lines[i]):
            indent, value = len(expr.group(1)), expr.group(2)
            if value in {"|", "|-", ">", ">-"}:
                block: list[str] = []
                while i + 1 < len(lines) and (
                    not lines[i + 1].strip() or len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent
                ):
                    i += 1
                    block.append(lines[i].strip())
                value = " ".join(part for part in block if part)
            elif value[:1] in {"'", '"'}:
                value = value[1:-1]
            found.append(Expr(f"rule {name}", value))
        i += 1
    return found


def without_threshold(promql: str) -> str:
    """The expression minus its trailing comparison with a constant: what the alert measures.

    A healthy system makes ``x > 0.5`` return nothing, so a live check evaluates ``x`` instead:
    that still proves every selector in it matches real series.
    """
    return _TRAILING_COMPARISON.sub("", promql.strip())


def substitute(promql: str, variables: dict[str, str] | None = None) -> str:
    """Replace Grafana's ``$name`` / ``${name}`` variables (longest names first)."""
    values = {**DEFAULT_VARIABLES, **(variables or {})}
    for name in sorted(values, key=len, reverse=True):
        promql = promql.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    return promql


def metric_names(promql: str) -> set[str]:
    """Metric names an expression selects, with histogram ``_bucket/_sum/_count`` mapped to the family."""
    text = _STRING.sub('""', promql)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names: set[str] = set()
    for token in _TOKEN.finditer(text):
        name = token.group("id")
        if name is None or token.group("call") or name.lower() in _KEYWORDS:
            continue
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
                name = name[: -len(suffix)]
        names.add(name)
    return names
