"""The Helm chart's console: what it renders is what the console reads and listens on."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from callscope_console.settings import ConsoleSettings
from callscope_core.settings import CoreSettings, load_settings

CHART = Path(__file__).resolve().parents[3] / "deploy" / "helm" / "callscope"
PRODUCTION = yaml.safe_load((CHART / "ci" / "production-values.yaml").read_text())
USERS = "users: [{token: a-token-long-enough, user: ada, role: admin}]"


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    helm = pytest.importorskip("helm_python")
    with helm.Chart.load(str(CHART)) as loaded:
        yield loaded


def rendered(chart: Any, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The console's resources by kind."""
    out = chart.render(values, name="cs", namespace="contact")
    docs = [
        yaml.safe_load(text)
        for path, text in out.items()
        if "/templates/console/" in path and text.strip()
    ]
    return {doc["kind"]: doc for doc in docs if doc}


def test_the_console_env_is_accepted_by_its_settings(
    chart: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered(chart, PRODUCTION)
    assert set(docs) == {
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ServiceMonitor",
    }
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["python", "-m", "callscope_console"]
    for name in list(os.environ):
        if name.startswith(("CALLSCOPE_", "OTEL_")):
            monkeypatch.delenv(name)
    for var in container["env"]:
        if "value" in var:
            value = var["value"]
        elif var["name"] == "CALLSCOPE_CONSOLE_USERS":
            assert var["valueFrom"]["secretKeyRef"] == {
                "name": "callscope-console-users",
                "key": "users.yaml",
            }
            value = USERS
        elif var["name"] == "CALLSCOPE_DATABASE_URL":
            value = "postgresql://callscope:secret@db:5432/callscope"
        else:
            value = "from-a-secret"
        monkeypatch.setenv(var["name"], value)
    load_settings(CoreSettings)
    settings = load_settings(ConsoleSettings)
    assert settings.analyzer_target == "cs-callscope-analyzer:50053"
    assert settings.users == USERS and settings.cookie_secure is True
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == settings.http_port and ports["grpc"] == settings.grpc_port
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"]["port"] == settings.grpc_port
    service_ports = {p["name"]: p["targetPort"] for p in docs["Service"]["spec"]["ports"]}
    assert service_ports["http"] == "http" and service_ports["grpc"] == "grpc"
    http_rules = [
        rule
        for rule in docs["NetworkPolicy"]["spec"]["ingress"]
        if {"port": settings.http_port, "protocol": "TCP"} in rule["ports"]
    ]
    assert http_rules[0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }


def test_the_console_is_refused_without_a_users_secret(chart: Any) -> None:
    values = copy.deepcopy(PRODUCTION)
    values["console"] = {"enabled": True}
    with pytest.raises(Exception, match=r"console\.usersSecret\.name is required"):
        chart.render(values, name="cs", namespace="contact")


def test_the_console_is_off_unless_enabled(chart: Any) -> None:
    values = copy.deepcopy(PRODUCTION)
    del values["console"]
    assert rendered(chart, values) == {}
