"""The Grafana dashboard (deploy/grafana/tokensync.json) and the Prometheus alert rules
(deploy/prometheus/tokensync.rules.yml) query only metrics tokensync writes
(src/tokensync/output/metrics.py), and the dashboard shows every one of them; the rules pass
`promtool check rules` and their unit tests (`promtool test rules`), as CI runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tokensync.output.metrics import HELP

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "tokensync.json"
RULES = ROOT / "deploy" / "prometheus" / "tokensync.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tokensync.rules.test.yml"
PROMTOOL = shutil.which("promtool")
_METRIC = re.compile(r"\btokensync_[a-z_]+\b")


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p["targets"]]


def rule_queries() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [str(r["expr"]) for g in groups for r in g["rules"]]


def named(queries: list[str]) -> set[str]:
    return {m for q in queries for m in _METRIC.findall(q)}


def test_the_dashboard_and_the_rules_name_only_metrics_tokensync_writes() -> None:
    assert named(dashboard_queries()) <= set(HELP), named(dashboard_queries()) - set(HELP)
    assert named(rule_queries()) <= set(HELP), named(rule_queries()) - set(HELP)
    # A metric renamed in metrics.py (or misspelt here) is caught: the check does look.
    assert not named(["rate(tokensync_refreshes_total[5m])"]) <= set(HELP)


def test_the_dashboard_shows_every_metric_and_every_panel_asks_prometheus() -> None:
    assert named(dashboard_queries()) == set(HELP)
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        assert panel["description"], panel["title"]


def test_every_alert_says_what_to_do() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@pytest.mark.skipif(
    PROMTOOL is None and os.environ.get("CI") != "true",  # CI installs it (.ci/operations)
    reason="needs promtool (Debian package prometheus)",
)
def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    check = subprocess.run(
        [PROMTOOL or "promtool", "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run(
        [PROMTOOL or "promtool", "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        cwd=RULE_TESTS.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    covered = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert covered == alerts, "every alert has a unit test"
