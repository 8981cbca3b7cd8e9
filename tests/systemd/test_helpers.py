"""The small readers and writers the deployment tests rely on."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.systemd.daemon import sample_sum, toml_dumps
from tests.systemd.exprs import metric_names, rule_exprs, substitute, without_threshold


@pytest.mark.parametrize(
    ("promql", "names"),
    [
        ('up{job="streamer"} == 0', {"up"}),
        (
            'histogram_quantile(0.99, sum by (le, stream) (rate(streamer_latency_seconds_bucket{stream=~"a|b"}[5m])))',
            {"streamer_latency_seconds"},
        ),
        ("rate(x_total[1m]) / on (instance) group_left (version) y_info", {"x_total", "y_info"}),
        ('sum(1 - streamer_stream_up{stream=~"$stream"}) > 1e3', {"streamer_stream_up"}),
        ('count(foo{a="sum(bar)"}) without (instance)', {"foo"}),
    ],
)
def test_metric_names(promql: str, names: set[str]) -> None:
    assert metric_names(promql) == names


@pytest.mark.parametrize(
    ("promql", "lhs"),
    [
        ("up == 0", "up"),
        ("rate(a[5m]) > 0.5", "rate(a[5m])"),
        ("a / b\n  >= 10\n", "a / b"),
        ("a > bool 1", "a"),
        ("rate(a[5m])", "rate(a[5m])"),
    ],
)
def test_without_threshold(promql: str, lhs: str) -> None:
    assert without_threshold(promql) == lhs


def test_substitute_prefers_longer_variable_names() -> None:
    assert substitute('x{a=~"$stream", b=~"${job}"}[$__rate_interval]', {"stream": "s"}) == (
        'x{a=~"s", b=~"streamer"}[1m]'
    )


def test_rule_reader_handles_block_and_quoted_scalars() -> None:
    text = """groups:
  - name: g
    rules:
      - alert: One
        expr: up == 0
        for: 1m
      - alert: Two
        expr: |
          sum(rate(a[5m]))
            > 1
        labels: {severity: x}
      - record: three:sum
        expr: 'sum(b{c="d"})'
"""
    assert [(e.where, e.promql) for e in rule_exprs(text)] == [
        ("rule One", "up == 0"),
        ("rule Two", "sum(rate(a[5m])) > 1"),
        ("rule three:sum", 'sum(b{c="d"})'),
    ]


@pytest.mark.parametrize(
    "data",
    [
        {"a": 1, "b": {"c": 'x"y\\z', "d": [1.5, 2.0], "e": True}},
        {
            "models": {"cnn": {"path": "/m/cnn.onnx", "outputs": {"logits": "l"}}},
            "streams": [{"name": "a"}, {"name": "b", "source": 0}],
        },
    ],
)
def test_toml_round_trip(data: dict[str, Any]) -> None:
    assert tomllib.loads(toml_dumps(data)) == data


def test_sample_sum() -> None:
    text = """# HELP x_total help
# TYPE x_total counter
x_total{stream="a"} 2.0
x_total{stream="b"} 3.0
x_total_created{stream="a"} 1.7e9
x_totally 100
"""
    assert sample_sum(text, "x_total") == 5.0
