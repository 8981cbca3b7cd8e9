"""Alert rules and the example scrape config, checked and unit-tested by promtool."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.systemd.exprs import KNOWN_METRICS, RULES, SYSTEMD_DIR, Expr, metric_names, rule_exprs, without_threshold

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian package: prometheus)"
)
REQUIRED_ALERTS = {"StreamerDown", "StreamerStreamDown", "StreamerLatencyHigh", "StreamerFramesDropping"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, check=False)


def test_check_rules() -> None:
    proc = _promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The expression reader the other tests use sees exactly the rules promtool sees.
    found = re.search(r"SUCCESS: (\d+) rules found", proc.stdout)
    assert found and int(found.group(1)) == len(rule_exprs()), proc.stdout


def test_rules_unit_tests() -> None:
    proc = _promtool("test", "rules", str(SYSTEMD_DIR / "streamer-alerts.test.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_check_config() -> None:
    proc = _promtool("check", "config", str(SYSTEMD_DIR / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 rule files found" in proc.stdout


def test_scrape_job_is_streamer_with_several_instances() -> None:
    text = (SYSTEMD_DIR / "prometheus.yml").read_text()
    assert re.search(r"job_name:\s*streamer\b", text)
    assert len(re.findall(r"[\w.-]+:91\d\d", text)) >= 3


def test_required_alerts_present() -> None:
    names = {e.where.removeprefix("rule ") for e in rule_exprs()}
    assert names >= REQUIRED_ALERTS


@pytest.mark.parametrize("expr", rule_exprs(), ids=lambda e: e.where)
def test_rule_uses_known_metrics_and_a_threshold(expr: Expr) -> None:
    promql = expr.promql
    assert metric_names(promql) <= KNOWN_METRICS
    # The live test evaluates the expression without its threshold; make sure there is one to strip.
    assert without_threshold(promql) != promql
