"""The Grafana dashboard and the Prometheus alert rules use only metrics the services emit
(callscope_core.metrics.REGISTRY, in their Prometheus names), and every alert has a runbook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from callscope_core import metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "callscope-dashboard.json"
ALERTS = REPO / "deploy" / "prometheus" / "callscope-alerts.yaml"
DOCS = REPO / "docs" / "observability.md"

# Series Prometheus itself makes for every scrape target.
PROMETHEUS_BUILTINS = {"up"}
# Labels every series has besides the declared ones: ours (service_name, from the resource),
# Prometheus' target labels, and histogram buckets.
COMMON_LABELS = {"service_name", "job", "instance", "le"}
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan",
}  # fmt: skip


def emitted_series() -> dict[str, metrics.MetricSpec]:
    return {name: spec for spec in metrics.REGISTRY.values() for name in spec.prometheus_series}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors, $__rate_interval included
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function
        if match.group().lower() not in KEYWORDS:
            names.add(match.group())
    return names


def label_names(expr: str) -> set[str]:
    labels = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        labels |= {label.strip() for label in clause.split(",") if label.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    return labels


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def check_expr(expr: str) -> None:
    series = emitted_series()
    names = metric_names(expr)
    assert names, f"no metric in {expr!r}"
    unknown = names - set(series) - PROMETHEUS_BUILTINS
    assert not unknown, f"{expr!r} uses metrics no service emits: {sorted(unknown)}"
    declared = {label for name in names if name in series for label in series[name].labels}
    unknown_labels = label_names(expr) - declared - COMMON_LABELS
    assert not unknown_labels, f"{expr!r} uses labels its metrics lack: {sorted(unknown_labels)}"


def test_the_promql_parser_finds_metric_names() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, topic) (rate(a_b_bucket{x="y(z)"}[5m])))'
        ' / clamp_min(sum(c_total) + 1e3, 1) > 0 and on (topic) up{job=~"r|t"} == 0'
    )
    assert metric_names(expr) == {"a_b_bucket", "c_total", "up"}
    assert label_names(expr) == {"le", "topic", "x", "job"}


@pytest.mark.parametrize("expr", dashboard_exprs())
def test_dashboard_queries_use_emitted_metrics(expr: str) -> None:
    check_expr(expr)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_rules_use_emitted_metrics_and_have_a_runbook(rule: dict) -> None:
    check_expr(rule["expr"])
    assert rule["labels"]["severity"] in ("critical", "warning", "info")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    anchor = rule["alert"].lower()
    assert rule["annotations"]["runbook_url"] == f"docs/observability.md#{anchor}"
    assert re.search(rf"^### {rule['alert']}\b", DOCS.read_text(), re.MULTILINE), (
        f"no runbook section for {rule['alert']} in docs/observability.md"
    )


def test_dashboard_shows_what_operators_need() -> None:
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    for spec in (
        metrics.RECORDER_CALLS_ACTIVE,
        metrics.RECORDER_RTP_PACKETS_LOST,
        metrics.TRANSCRIBER_REALTIME_FACTOR,
        metrics.TRANSCRIBER_LAG,
        metrics.KAFKA_CONSUMER_LAG,
        metrics.ANALYZER_ALERT_LATENCY,
        metrics.RETENTION_PURGE_BACKLOG,
    ):
        assert used & set(spec.prometheus_series), spec.name
    uids = [p["id"] for p in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(uids) == len(set(uids))


def test_every_metric_is_documented() -> None:
    docs = DOCS.read_text()
    for spec in metrics.REGISTRY.values():
        assert f"`{spec.prometheus_name}`" in docs, spec.name
        assert f"`{spec.name}`" in docs, spec.name
