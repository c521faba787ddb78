"""The Helm chart (deploy/helm/callscope) and the Dockerfile: what breaks real deployments.

Everything runs offline and fast: helm-python-sdk renders and lints the chart with Helm's own Go
code (no helm binary, no cluster), kubernetes-validate checks each manifest against the
Kubernetes OpenAPI schemas, and the services' own settings classes judge the environment the
chart gives them. Nothing here is skipped: a missing tool fails with the command to install it.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from callscope_analyzer.settings import AnalyzerSettings
from callscope_core.settings import ConfigurationError, CoreSettings, load_settings
from callscope_core.topics import ALL_TOPICS, AUDIO_SEGMENTS
from callscope_recorder.settings import RecorderSettings
from callscope_retention.settings import RetentionSettings
from callscope_transcriber.settings import TranscriberSettings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "callscope"
DOCKERFILE = REPO / "Dockerfile"
RELEASE, NAMESPACE = "cs", "callscope"


def _kube_minimum() -> str:
    """The oldest Kubernetes the chart supports (Chart.yaml kubeVersion ">=X.Y.Z-0")."""
    found = re.search(r'^kubeVersion:\s*">=\s*([0-9.]+)', (CHART / "Chart.yaml").read_text(), re.M)
    assert found, "Chart.yaml declares no minimum kubeVersion"
    return found.group(1)


# Lint and validate against the oldest supported version and the newest one
# kubernetes-validate ships.
KUBE_MINIMUM = _kube_minimum()

SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "recorder": RecorderSettings,
    "transcriber": TranscriberSettings,
    "analyzer": AnalyzerSettings,
    "retention": RetentionSettings,
}
# Kinds that come from CRDs (Prometheus Operator, KEDA): no Kubernetes schema to validate against.
CRD_KINDS = {"ServiceMonitor", "ScaledObject", "TriggerAuthentication"}
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}


def _require(module: str, pip_name: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as exc:  # the native Helm library can fail to load, not only to import
        pytest.fail(
            f"{pip_name} is needed for the chart tests and cannot be loaded ({exc!r}); "
            f"install it: .venv/bin/pip install {pip_name}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def helm() -> Any:
    return _require("helm_python", "helm-python-sdk==0.2.2")


@pytest.fixture(scope="session")
def kubernetes_validate() -> Any:
    return _require("kubernetes_validate", "kubernetes-validate")


@pytest.fixture(scope="session")
def chart(helm: Any) -> Iterator[Any]:
    with helm.Chart.load(str(CHART)) as loaded:
        yield loaded


# ---- scenarios -------------------------------------------------------------------------------


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _ci_values() -> dict[str, dict[str, Any]]:
    return {
        path.name.removesuffix("-values.yaml"): yaml.safe_load(path.read_text())
        for path in sorted((CHART / "ci").glob("*-values.yaml"))
    }


CI = _ci_values()
_MINIMAL = CI.get("minimal", {})
# Test-only variations of the minimal install, so that every template renders in some scenario.
EXTRA = {
    "hostnetwork-daemonset": _merge(
        _MINIMAL,
        {
            "recorder": {
                "networkMode": "hostNetwork",
                "kind": "DaemonSet",
                "rtpPortMax": 29999,
                "pdb": {"minAvailable": 2},
            }
        },
    ),
    "nodeport": _merge(
        _MINIMAL,
        {
            "recorder": {
                "service": {"type": "NodePort"},
                "sipPort": 30060,
                "rtpPortMin": 30100,
                "rtpPortMax": 30139,
            }
        },
    ),
    "loadbalancer-tcp": _merge(
        _MINIMAL,
        {
            "recorder": {
                "service": {"type": "LoadBalancer", "loadBalancerIP": "203.0.113.10"},
                "sipTcp": True,
            }
        },
    ),
    "hpa-sasl-dev": _merge(
        _MINIMAL,
        {
            "kafka": {
                "securityProtocol": "SASL_PLAINTEXT",
                "saslMechanism": "SCRAM-SHA-256",
                "saslUsername": "callscope",
            },
            "auth": {"kafkaSaslPassword": "dev-only-kafka-password"},
            "transcriber": {"autoscaling": {"enabled": True, "maxReplicas": 6}},
            "tracing": {"enabled": True, "otlpEndpoint": "http://otel-collector:4317"},
            "networkPolicy": {"enabled": True},
            "metrics": {"enabled": True},
            "extraEnvVarsCM": "callscope-extra",
        },
    ),
}
SCENARIOS = {**CI, **EXTRA}


@cache
def _render_cached(chart: Any, scenario: str) -> dict[str, str]:
    return chart.render(SCENARIOS[scenario], name=RELEASE, namespace=NAMESPACE)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def manifests(chart: Any, scenario: str) -> list[dict[str, Any]]:
    """The rendered resources of a scenario (parsed once; tests only read them)."""
    docs = []
    for path, text in sorted(_render_cached(chart, scenario).items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.load_all(text, Loader=_LOADER):
            if doc:
                doc.setdefault("__template__", path)
                docs.append(doc)
    return docs


def clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "__template__"}


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"].get("app.kubernetes.io/component", "")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def service_containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(service name, its main container) for every service workload rendered."""
    for workload in workloads(docs):
        for container in pod_spec(workload)["containers"]:
            if container["name"] in SERVICE_SETTINGS:
                yield container["name"], container


def the_workload(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [w for w in workloads(docs) if component(w) == name]
    return found


def env_of(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Name -> EnvVar, including the keys of rendered ConfigMaps pulled in with envFrom."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(docs, "ConfigMap")}
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        for key, value in config_maps.get(ref, {}).items():
            env[key] = {"name": key, "value": value}
    for var in container.get("env", []):
        env[var["name"]] = var
    return env


def settings_env_names(cls: type[BaseSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{field}".upper() for field in cls.model_fields}


def otel_env_names() -> set[str]:
    from opentelemetry.sdk import environment_variables

    return {name for name in dir(environment_variables) if name.startswith("OTEL_")}


def render_error(chart: Any, helm: Any, values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return str(caught.value)


# ---- the chart as Helm sees it -----------------------------------------------------------------


def test_ci_scenarios_exist() -> None:
    assert {"minimal", "gpu-transcriber", "production"} <= set(CI), sorted(CI)


@pytest.mark.parametrize("scenario", [None, *CI])
def test_chart_lints_without_errors(helm: Any, scenario: str | None) -> None:
    values = CI[scenario] if scenario else None
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_MINIMUM}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_renders_the_four_services(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    assert {component(w) for w in workloads(docs)} >= set(SERVICE_SETTINGS)
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), f"duplicate resources: {names}"
    for doc in docs:
        assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


def test_every_template_renders_in_some_scenario(chart: Any) -> None:
    rendered = {
        path.split("templates/", 1)[1]
        for scenario in SCENARIOS
        for path, text in _render_cached(chart, scenario).items()
        if text.strip()
    }
    templates = {
        str(p.relative_to(CHART / "templates"))
        for p in (CHART / "templates").rglob("*")
        if p.is_file() and not p.name.startswith("_")
    }
    assert templates - rendered == set(), "templates no scenario renders"


def test_one_resource_per_template_file(chart: Any) -> None:
    for scenario in SCENARIOS:
        for path, text in _render_cached(chart, scenario).items():
            docs = (
                [d for d in yaml.load_all(text, Loader=_LOADER) if d]
                if path.endswith(".yaml")
                else []
            )
            assert len(docs) <= 1, f"{path} renders {len(docs)} resources"


@pytest.mark.parametrize("which", ["oldest-supported", "newest"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_manifests_validate_against_kubernetes_schemas(
    chart: Any, kubernetes_validate: Any, scenario: str, which: str
) -> None:
    from kubernetes_validate.utils import latest_version

    version = KUBE_MINIMUM if which == "oldest-supported" else f"{latest_version()}.0"
    errors = []
    for doc in manifests(chart, scenario):
        if doc["kind"] in CRD_KINDS:
            continue  # checked field by field in test_custom_resources_are_well_formed
        try:
            # strict: unknown fields are errors too
            kubernetes_validate.validate(clean(doc), version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            errors.append(f"{doc['__template__']}: {doc['kind']} at {where}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_custom_resources_are_well_formed(chart: Any) -> None:
    docs = manifests(chart, "production")
    kinds = {d["kind"] for d in docs} - WORKLOAD_KINDS
    assert {"ServiceMonitor", "ScaledObject", "TriggerAuthentication"} <= kinds
    services = {s["metadata"]["name"]: s for s in of_kind(docs, "Service")}
    for monitor in of_kind(docs, "ServiceMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        spec = monitor["spec"]
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        [endpoint] = spec["endpoints"]
        assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
        selected = [
            s
            for s in services.values()
            if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
            and any(p["name"] == "metrics" for p in s["spec"]["ports"])
        ]
        assert selected, f"ServiceMonitor {monitor['metadata']['name']} selects no metrics port"
    [scaled] = of_kind(docs, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    [auth] = of_kind(docs, "TriggerAuthentication")
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["triggers"][0]["authenticationRef"]["name"] == auth["metadata"]["name"]


# ---- values: documented, typed, and refused when wrong -------------------------------------------


def _leaf_paths(values: Any, stop: set[str], prefix: str = "") -> set[str]:
    """Paths of the values, not descending into `stop` (free-form Kubernetes objects)."""
    if isinstance(values, dict) and values and prefix not in stop:
        paths: set[str] = set()
        for key, value in values.items():
            paths |= _leaf_paths(value, stop, f"{prefix}.{key}" if prefix else key)
        return paths
    return {prefix}


def _documented() -> dict[str, str]:
    """`## @param path description` lines of values.yaml."""
    text = (CHART / "values.yaml").read_text()
    return dict(re.findall(r"^## @param (\S+) (\S.*)$", text, flags=re.MULTILINE))


def test_every_value_is_documented_with_a_param_line() -> None:
    documented = set(_documented())
    leaves = _leaf_paths(yaml.safe_load((CHART / "values.yaml").read_text()), documented)
    assert leaves - documented == set(), "values without a ## @param line"
    assert documented - leaves == set(), "## @param lines naming no value"


def test_schema_and_readme_are_generated_from_values_yaml() -> None:
    spec = importlib.util.spec_from_file_location("chart_generate", CHART / "tools/generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    stale = [p.name for p, text in generate.outputs().items() if p.read_text() != text]
    assert not stale, f"stale {stale}: run python deploy/helm/callscope/tools/generate.py"


def test_chart_readme_lists_every_parameter() -> None:
    readme = (CHART / "README.md").read_text()
    missing = sorted(p for p in _documented() if f"| `{p}` |" not in readme)
    assert not missing, "parameters missing from deploy/helm/callscope/README.md"


def test_schema_types_every_value_and_refuses_unknown_keys(chart: Any) -> None:
    schema = chart.schema
    assert schema is not None, "values.schema.json is missing"

    def walk(node: dict[str, Any], path: str) -> None:
        if "properties" in node:
            assert node.get("additionalProperties") is not None, path
            for key, child in node["properties"].items():
                walk(child, f"{path}.{key}" if path else key)
        else:
            assert "type" in node, f"{path} has no type in values.schema.json"

    walk(schema, "")
    assert schema["additionalProperties"] is False
    documented = _documented()
    for leaf in _leaf_paths(chart.values, set(documented)):
        node = schema
        for key in leaf.split("."):
            assert key in node.get("properties", {}), f"{leaf} is not in values.schema.json"
            node = node["properties"][key]
        assert node.get("description") == documented[leaf], f"{leaf}: schema description stale"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"recorder": {"sipPort": "5060/udp"}}, "/recorder/sipPort"),
        ({"recorder": {"sipPrt": 5060}}, "sipPrt"),
        ({"transcribr": {"device": "cuda"}}, "transcribr"),
        ({"transcriber": {"device": "gpu"}}, "/transcriber/device"),
        ({"transcriber": {"gpu": {"enabled": "yes"}}}, "/transcriber/gpu/enabled"),
        ({"kafka": {"idempotence": "true"}}, "/kafka/idempotence"),
        ({"objectStore": {"s3Endpoint": "https://s3.example.com"}}, "/objectStore/s3Endpoint"),
        ({"kafka": {"bootstrapServers": "kafka:9092, kafka2"}}, "/kafka/bootstrapServers"),
        ({"recorder": {"rtpPortMin": 80}}, "/recorder/rtpPortMin"),
        ({"retention": {"periodsDays": {"proof": "ten years"}}}, "/retention/periodsDays/proof"),
    ],
)
def test_schema_refuses_bad_values_naming_the_key(
    chart: Any, helm: Any, values: dict[str, Any], named: str
) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(named)):
        chart.validate_schema(_merge(_MINIMAL, values))
    assert named in render_error(chart, helm, _merge(_MINIMAL, values))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"kafka": {"bootstrapServers": ""}}, "kafka.bootstrapServers"),
        ({"auth": {"createSecret": False}}, "database.existingSecret"),
        ({"recorder": {"kind": "DaemonSet"}}, "recorder.networkMode=hostNetwork"),
        ({"recorder": {"rtpPortMin": 20000, "rtpPortMax": 20003}}, "recorder.rtpPortMax"),
        ({"recorder": {"rtpPortMax": 21000}}, "networkMode=hostNetwork"),
        ({"recorder": {"service": {"type": "NodePort"}}}, "node port range"),
        ({"recorder": {"service": {"type": "LoadBalancer"}}}, "recorder.service.loadBalancerIP"),
        ({"transcriber": {"computeType": "float16"}}, "transcriber.computeType=float16"),
        ({"transcriber": {"gpu": {"enabled": True}}}, "transcriber.device=cuda"),
        ({"transcriber": {"device": "cuda"}}, "transcriber.gpu.enabled=true"),
        ({"transcriber": {"liveModel": "whisper-large"}}, "transcriber.liveModel=whisper-large"),
        ({"metrics": {"serviceMonitor": {"enabled": True}}}, "metrics.enabled=true"),
        (
            {"recorder": {"networkMode": "hostNetwork", "kind": "DaemonSet"}},
            "recorder.pdb.minAvailable",
        ),
    ],
)
def test_inconsistent_values_fail_with_a_message_naming_them(
    chart: Any, helm: Any, values: dict[str, Any], named: str
) -> None:
    assert named in render_error(chart, helm, _merge(_MINIMAL, values))


def test_chart_refuses_the_rtp_range_the_recorder_refuses(chart: Any, helm: Any) -> None:
    with pytest.raises(ValidationError, match="two streams"):
        RecorderSettings(rtp_port_min=20000, rtp_port_max=20003)
    RecorderSettings(rtp_port_min=20000, rtp_port_max=20004)
    render_error(chart, helm, _merge(_MINIMAL, {"recorder": {"rtpPortMax": 20003}}))
    chart.render(_merge(_MINIMAL, {"recorder": {"rtpPortMax": 20004}}), name=RELEASE)


# ---- environment: exactly the settings the services read -----------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_env_names_are_settings_the_services_read(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    core, otel = settings_env_names(CoreSettings), otel_env_names()
    unknown = []
    for service, container in service_containers(docs):
        known = core | settings_env_names(SERVICE_SETTINGS[service]) | otel
        for name in env_of(container, docs):
            if name not in known:
                unknown.append(f"{service}: {name}")
    for job in of_kind(docs, "Job"):
        for container in pod_spec(job)["containers"]:
            unknown += [
                f"job {container['name']}: {name}"
                for name in env_of(container, docs)
                if name not in core
            ]
    assert not unknown, "environment variables no service reads (a typo?):\n" + "\n".join(unknown)


def _placeholder(name: str, var: dict[str, Any]) -> str:
    """A value for variables filled by Kubernetes (Secrets, downward API) in a real pod."""
    if "value" in var:
        return str(var["value"])
    source = var["valueFrom"]
    if "fieldRef" in source:
        return "10.1.2.3"
    if name == "CALLSCOPE_DATABASE_URL":
        return "postgresql://callscope:secret@db:5432/callscope"
    return "from-a-secret"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_env_values_are_accepted_by_the_services_settings(
    chart: Any, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = manifests(chart, scenario)
    for service, container in service_containers(docs):
        with monkeypatch.context() as env:
            for name in list(os.environ):
                if name.startswith(("CALLSCOPE_", "OTEL_")):
                    env.delenv(name)
            for name, var in env_of(container, docs).items():
                env.setenv(name, _placeholder(name, var))
            try:
                core = load_settings(CoreSettings)
                settings = load_settings(SERVICE_SETTINGS[service])
            except ConfigurationError as exc:
                pytest.fail(f"{scenario}/{service}: the service would exit with:\n{exc}")
            assert core.object_store_backend == "s3"
            assert core.kafka_idempotence is True, "a real Kafka needs idempotent producers"
            assert settings.grpc_port == container["startupProbe"]["grpc"]["port"]


SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE_URL|CREDENTIAL", re.I)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_literal_secrets_in_rendered_env(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    auth = SCENARIOS[scenario].get("auth", {})
    secret_values = [v for k, v in auth.items() if k != "createSecret" and v]
    leaks = []
    for workload in workloads(docs):
        spec = pod_spec(workload)
        for container in spec.get("initContainers", []) + spec["containers"]:
            for name, var in env_of(container, docs).items():
                where = f"{workload['metadata']['name']}/{container['name']}: {name}"
                if SECRET_NAME.search(name) and "secretKeyRef" not in var.get("valueFrom", {}):
                    leaks.append(f"{where} is not read from a Secret")
                value = str(var.get("value", ""))
                if URL_WITH_PASSWORD.search(value) or any(s in value for s in secret_values):
                    leaks.append(f"{where} carries a credential in plain text")
    for config_map in of_kind(docs, "ConfigMap"):
        text = yaml.safe_dump(config_map.get("data", {}))
        if URL_WITH_PASSWORD.search(text) or any(s in text for s in secret_values):
            leaks.append(f"ConfigMap {config_map['metadata']['name']} carries a credential")
    assert not leaks, "\n".join(leaks)
    if secret_values:  # chart-created credentials live in the Secret only
        [secret] = [s for s in of_kind(docs, "Secret") if s["metadata"]["name"].endswith("-auth")]
        assert secret["type"] == "Opaque" and "stringData" not in secret


def test_production_reads_every_credential_from_the_existing_secrets(chart: Any) -> None:
    docs = manifests(chart, "production")
    assert not of_kind(docs, "Secret"), "production must not create Secrets from values"
    values = CI["production"]
    expected = {
        "CALLSCOPE_DATABASE_URL": (values["database"]["existingSecret"], "url"),
        "CALLSCOPE_S3_ACCESS_KEY": (values["objectStore"]["existingSecret"], "access-key-id"),
        "CALLSCOPE_S3_SECRET_KEY": (values["objectStore"]["existingSecret"], "secret-access-key"),
        "CALLSCOPE_KAFKA_SASL_PASSWORD": (values["kafka"]["existingSecret"], "password"),
        "CALLSCOPE_KAFKA_SASL_USERNAME": (values["kafka"]["existingSecret"], "username"),
    }
    for service, container in service_containers(docs):
        env = env_of(container, docs)
        for name, (secret, key) in expected.items():
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (secret, key), f"{service}: {name}"


# ---- probes and ports ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_probes_point_at_the_grpc_port_the_service_listens_on(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    for service, container in service_containers(docs):
        env = env_of(container, docs)
        variable = f"CALLSCOPE_{service.upper()}_GRPC_PORT"
        listens_on = int(
            env[variable]["value"]
            if variable in env
            else SERVICE_SETTINGS[service].model_fields["grpc_port"].default
        )
        declared = {p["containerPort"] for p in container["ports"] if p["protocol"] == "TCP"}
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(kind)
            assert probe is not None, f"{service} has no {kind}"
            # Native gRPC health checking: SERVING only once the service is ready.
            assert set(probe) >= {"grpc"} and "httpGet" not in probe and "exec" not in probe
            assert probe["grpc"]["port"] == listens_on, f"{service} {kind} on the wrong port"
            assert listens_on in declared, f"{service} does not declare port {listens_on}"
        assert (
            container["startupProbe"]["failureThreshold"]
            * container["startupProbe"]["periodSeconds"]
            >= 120
        ), f"{service}: startup (migrations, model loading, partition assignment) needs time"
        # The Prometheus endpoint: declared where it listens, or turned off (port 0).
        metrics = int(
            env["CALLSCOPE_METRICS_PORT"]["value"]
            if "CALLSCOPE_METRICS_PORT" in env
            else CoreSettings.model_fields["metrics_port"].default
        )
        declared_metrics = [
            p["containerPort"] for p in container["ports"] if p["name"] == "metrics"
        ]
        assert declared_metrics == ([metrics] if metrics else []), f"{service} metrics port"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_services_route_to_declared_container_ports(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    pods = [(w["spec"]["template"]["metadata"]["labels"], pod_spec(w)) for w in workloads(docs)]
    for service in of_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        matched = [spec for labels, spec in pods if selector.items() <= labels.items()]
        assert matched, f"Service {service['metadata']['name']} selects no pod"
        ports = {
            (p.get("name"), p["containerPort"], p["protocol"])
            for spec in matched
            for c in spec["containers"]
            for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert any(
                (name == target or number == target) and protocol == port["protocol"]
                for name, number, protocol in ports
            ), f"{service['metadata']['name']}: {port} targets no declared container port"


# ---- pods ----------------------------------------------------------------------------------------


def _dockerfile_user() -> int:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert users, "the Dockerfile sets no USER"
    return int(users[-1].split(":")[0])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_pods_run_non_root_with_a_read_only_root_filesystem(chart: Any, scenario: str) -> None:
    uid = _dockerfile_user()
    for workload in workloads(manifests(chart, scenario)):
        spec, name = pod_spec(workload), workload["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == uid, name
        assert spec["automountServiceAccountToken"] is False, name
        emptydirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, f"{name}/{container['name']}"
            assert context["allowPrivilegeEscalation"] is False, f"{name}/{container['name']}"
            assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
            assert context["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in emptydirs, f"{name}/{container['name']}: /tmp not writable"
            assert container.get("resources", {}).get("requests"), f"{name}: no requests"
            assert container["resources"].get("limits", {}).get("memory"), f"{name}: no limit"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_directory_a_service_writes_is_a_volume(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    for service, container in service_containers(docs):
        env = env_of(container, docs)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        writable = {
            "recorder": ["CALLSCOPE_RECORDER_SPOOL_DIR"],
            "transcriber": ["CALLSCOPE_TRANSCRIBER_MODELS_DIR"],
        }.get(service, [])
        for name in writable:
            assert env[name]["value"] in mounts, f"{service}: {name} is on the read-only root"


# ---- recorder: networking and live calls ---------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_recorder_has_a_pdb_a_prestop_hook_and_a_long_grace_period(
    chart: Any, scenario: str
) -> None:
    docs = manifests(chart, scenario)
    recorder = the_workload(docs, "recorder")
    spec = pod_spec(recorder)
    [container] = spec["containers"]
    assert container["lifecycle"]["preStop"], "the recorder needs a preStop hook"
    # SIGTERM: refuse new calls (503), finish the calls in progress; give them time.
    assert spec["terminationGracePeriodSeconds"] >= 1800
    [pdb] = [p for p in of_kind(docs, "PodDisruptionBudget") if component(p) == "recorder"]
    labels = recorder["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    if recorder["kind"] == "DaemonSet":
        assert isinstance(pdb["spec"].get("minAvailable"), int), "DaemonSet PDBs need minAvailable"
        assert recorder["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] == 0
    else:
        assert "maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"]
        if spec.get("hostNetwork") and recorder["kind"] == "Deployment":
            # The replacement cannot bind the node's ports before the old pod has drained.
            assert recorder["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


@pytest.mark.parametrize("scenario", ["production", "hostnetwork-daemonset"])
def test_recorder_host_network_mode(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    recorder = the_workload(docs, "recorder")
    spec = pod_spec(recorder)
    [container] = spec["containers"]
    env = env_of(container, docs)
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    advertised = env["CALLSCOPE_RECORDER_ADVERTISED_IP"]["valueFrom"]["fieldRef"]
    assert advertised["fieldPath"] == "status.hostIP", "SDP must carry the node's address"
    assert not any(p["name"].startswith("rtp-") for p in container["ports"])
    assert not [s for s in of_kind(docs, "Service") if s["metadata"]["name"].endswith("-sip")]
    if recorder["kind"] != "DaemonSet":
        [term] = spec["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert term["topologyKey"] == "kubernetes.io/hostname", "one recorder per node"
    if scenario == "production":
        assert spec["nodeSelector"] and spec["tolerations"], "dedicated recorder node pool"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_recorder_spool_is_mounted_where_the_recorder_writes_it(chart: Any, scenario: str) -> None:
    """A StatefulSet keeps each replica's spool on its own claim (a replica rescheduled after a
    crash finishes what it had spooled); a Deployment or DaemonSet has a bounded emptyDir,
    which survives a container restart only."""
    docs = manifests(chart, scenario)
    recorder = the_workload(docs, "recorder")
    spec = pod_spec(recorder)
    [container] = spec["containers"]
    spool_dir = env_of(container, docs)["CALLSCOPE_RECORDER_SPOOL_DIR"]["value"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "spool"]
    assert mount["mountPath"] == spool_dir and not mount.get("readOnly")
    pod_volumes = {v["name"]: v for v in spec["volumes"]}
    if recorder["kind"] == "StatefulSet":
        assert "spool" not in pod_volumes
        [claim] = recorder["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "spool"
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        values = SCENARIOS[scenario]["recorder"]["spoolPersistence"]
        assert claim["spec"]["resources"]["requests"]["storage"] == values["size"]
        assert claim["spec"].get("storageClassName", "") == values.get("storageClass", "")
        services = {s["metadata"]["name"] for s in of_kind(docs, "Service")}
        assert recorder["spec"]["serviceName"] in services
    else:
        assert pod_volumes["spool"]["emptyDir"]["sizeLimit"]


def _rtp_ports(rtp_min: int, rtp_max: int) -> list[int]:
    """The ports the recorder's RtpPortPool can hand out (stream k of a call on base+2k)."""
    from callscope_recorder.ingest.rtp_server import RtpPortPool

    pool = RtpPortPool("127.0.0.1", rtp_min, rtp_max, 1 << 16)
    return list(range(pool._min, rtp_max + 1, 2))


@pytest.mark.parametrize("scenario", ["minimal", "nodeport", "loadbalancer-tcp"])
def test_recorder_service_mode_exposes_sip_and_every_rtp_port(chart: Any, scenario: str) -> None:
    docs = manifests(chart, scenario)
    recorder = the_workload(docs, "recorder")
    [container] = pod_spec(recorder)["containers"]
    env = env_of(container, docs)
    rtp = _rtp_ports(
        int(env["CALLSCOPE_RECORDER_RTP_PORT_MIN"]["value"]),
        int(env["CALLSCOPE_RECORDER_RTP_PORT_MAX"]["value"]),
    )
    sip_port = int(env["CALLSCOPE_RECORDER_SIP_PORT"]["value"])
    [sip] = [s for s in of_kind(docs, "Service") if s["metadata"]["name"].endswith("-sip")]
    udp = {p["port"]: p for p in sip["spec"]["ports"] if p["protocol"] == "UDP"}
    assert set(udp) == {sip_port, *rtp}
    declared = {p["containerPort"] for p in container["ports"] if p["protocol"] == "UDP"}
    assert declared == {sip_port, *rtp}
    kind = sip["spec"]["type"]
    advertised = env["CALLSCOPE_RECORDER_ADVERTISED_IP"]
    if kind == "NodePort":
        # The SDP and Contact carry the pod's ports: the node must answer on the same ones.
        assert all(p["nodePort"] == p["port"] for p in sip["spec"]["ports"])
        assert advertised["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    if kind == "LoadBalancer":
        assert advertised["value"] == sip["spec"]["loadBalancerIP"]
        assert any(p["protocol"] == "TCP" and p["port"] == sip_port for p in sip["spec"]["ports"])
    if kind != "ClusterIP":
        assert sip["spec"]["externalTrafficPolicy"] == "Local"
    assert sip["spec"]["sessionAffinity"] == "ClientIP"


def test_recorder_network_policy_admits_sip_and_rtp_from_the_sbcs(chart: Any) -> None:
    docs = manifests(chart, "production")
    [policy] = [p for p in of_kind(docs, "NetworkPolicy") if component(p) == "recorder"]
    values = CI["production"]
    media = [
        rule
        for rule in policy["spec"]["ingress"]
        if any(p["protocol"] == "UDP" for p in rule.get("ports", []))
    ]
    [rule] = media
    ports = {(p["port"], p.get("endPort"), p["protocol"]) for p in rule["ports"]}
    recorder = values["recorder"]
    assert (recorder.get("sipPort", 5060), None, "UDP") in ports
    assert (recorder["rtpPortMin"], recorder["rtpPortMax"], "UDP") in ports
    assert rule["from"] == [
        {"ipBlock": {"cidr": c}} for c in values["networkPolicy"]["sipSourceCIDRs"]
    ]


# ---- transcriber: GPU, models, autoscaling -------------------------------------------------------


def test_gpu_scenario_requests_a_gpu_and_runs_cuda(chart: Any) -> None:
    docs = manifests(chart, "gpu-transcriber")
    transcriber = the_workload(docs, "transcriber")
    spec = pod_spec(transcriber)
    [container] = spec["containers"]
    env = env_of(container, docs)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert env["CALLSCOPE_TRANSCRIBER_DEVICE"]["value"] == "cuda"
    assert env["CALLSCOPE_TRANSCRIBER_COMPUTE_TYPE"]["value"] == "float16"
    assert spec["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert container["image"].endswith("-cuda"), "the CUDA build of the image"
    for other in workloads(docs):
        if component(other) != "transcriber":
            for c in pod_spec(other)["containers"]:
                assert "nvidia.com/gpu" not in c.get("resources", {}).get("limits", {})


@pytest.mark.parametrize("scenario", sorted(s for s in SCENARIOS if s != "gpu-transcriber"))
def test_cpu_transcriber_uses_a_compute_type_ctranslate2_runs_on_cpu(
    chart: Any, scenario: str
) -> None:
    ctranslate2 = _require("ctranslate2", "ctranslate2 (a dependency of callscope-transcriber)")
    docs = manifests(chart, scenario)
    [container] = pod_spec(the_workload(docs, "transcriber"))["containers"]
    env = env_of(container, docs)
    assert env["CALLSCOPE_TRANSCRIBER_DEVICE"]["value"] == "cpu"
    compute = env["CALLSCOPE_TRANSCRIBER_COMPUTE_TYPE"]["value"]
    assert compute in ctranslate2.get_supported_compute_types("cpu")


def _cli_parses(argv: list[str]) -> None:
    """Parse a `callscope ...` command line with the real CLI, without running it."""
    import typer

    from callscope_core import cli

    command = typer.main.get_command(cli.app)
    context = command.make_context("callscope", list(argv[1:]))
    while words := [*getattr(context, "_protected_args", []), *context.args]:
        sub = context.command.get_command(context, words[0])  # type: ignore[attr-defined]
        assert sub is not None, f"no command {words[0]!r} in {argv}"
        context = sub.make_context(words[0], words[1:], parent=context)
        if not hasattr(sub, "get_command"):
            break


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_model_init_container_installs_a_model_the_image_ships(chart: Any, scenario: str) -> None:
    from callscope_transcriber.models import KNOWN_MODELS

    docs = manifests(chart, scenario)
    spec = pod_spec(the_workload(docs, "transcriber"))
    [init] = spec["initContainers"]
    [container] = spec["containers"]
    env = env_of(container, docs)
    command = init["command"]
    _cli_parses(command)
    assert command[:3] == ["callscope", "models", "install"]
    assert command[3] == env["CALLSCOPE_TRANSCRIBER_LIVE_MODEL"]["value"] in KNOWN_MODELS
    models_dir = command[command.index("--models-dir") + 1]
    assert models_dir == env["CALLSCOPE_TRANSCRIBER_MODELS_DIR"]["value"]
    shared = {m["name"] for m in init["volumeMounts"] if m["mountPath"] == models_dir}
    assert shared & {m["name"] for m in container["volumeMounts"] if m["mountPath"] == models_dir}


def test_chart_lists_the_models_the_image_can_install() -> None:
    from callscope_transcriber.models import KNOWN_MODELS

    text = (CHART / "templates" / "_validate.tpl").read_text()
    block = re.search(r'define "callscope.knownModels".*?list ((?:"[^"]+" ?)+)', text, re.S)
    assert block, "callscope.knownModels is missing"
    assert set(re.findall(r'"([^"]+)"', block.group(1))) == set(KNOWN_MODELS)


def _transcriber_group() -> str:
    """The consumer group that reads the audio segments (the lag that matters for scaling)."""
    return importlib.import_module("callscope_transcriber.app").LIVE_GROUP


def test_keda_scales_the_transcriber_on_its_consumer_lag(chart: Any) -> None:
    docs = manifests(chart, "production")
    transcriber = the_workload(docs, "transcriber")
    assert "replicas" not in transcriber["spec"], "KEDA owns the replica count"
    assert not of_kind(docs, "HorizontalPodAutoscaler"), "one autoscaler, not two"
    [scaled] = of_kind(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == transcriber["metadata"]["name"]
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["topic"] == AUDIO_SEGMENTS.name
    assert trigger["metadata"]["consumerGroup"] == _transcriber_group()
    assert trigger["metadata"]["bootstrapServers"] == CI["production"]["kafka"]["bootstrapServers"]
    assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
    assert scaled["spec"]["maxReplicaCount"] <= AUDIO_SEGMENTS.partitions


def test_hpa_scales_the_transcriber_on_an_external_lag_metric(chart: Any) -> None:
    docs = manifests(chart, "hpa-sasl-dev")
    transcriber = the_workload(docs, "transcriber")
    assert "replicas" not in transcriber["spec"]
    [hpa] = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == transcriber["metadata"]["name"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    selector = metric["external"]["metric"]["selector"]["matchLabels"]
    # The services' own lag gauge (docs/observability.md) and its labels.
    assert metric["external"]["metric"]["name"] == "callscope_kafka_consumer_lag"
    assert selector == {"consumer_group": _transcriber_group(), "topic": AUDIO_SEGMENTS.name}


# ---- topics --------------------------------------------------------------------------------------


def test_topic_job_runs_before_the_services_with_a_working_command(chart: Any) -> None:
    from callscope_core.kafka import ensure_topics

    docs = manifests(chart, "production")
    [job] = of_kind(docs, "Job")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"pre-install", "pre-upgrade"}
    [container] = pod_spec(job)["containers"]
    python, flag, script = container["command"]
    assert (python, flag) == ("python", "-c")
    tree = ast.parse(script)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name} does not exist"
    assert "replication_factor" in inspect.signature(ensure_topics).parameters
    assert "replication_factor=3" in script
    assert {t.name for t in ALL_TOPICS} >= {AUDIO_SEGMENTS.name}


@pytest.mark.integration
async def test_topic_job_command_creates_every_topic_on_a_broker(
    chart: Any, kafka_bootstrap: str
) -> None:
    """Run the Job's exact command and environment against the local Kafka-protocol broker."""
    import asyncio
    import sys

    from aiokafka.admin import AIOKafkaAdminClient

    [job] = of_kind(manifests(chart, "minimal"), "Job")
    [container] = pod_spec(job)["containers"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCOPE_")}
    env.update({var["name"]: var["value"] for var in container["env"]})
    env |= {"CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    python, *args = container["command"]
    assert python == "python"
    # The session broker is shared: topics other tests made first keep their partitions (the
    # Job never alters an existing topic), so only the ones the Job creates are compared.
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        existed = set(await admin.list_topics())
    finally:
        await admin.close()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"topics ready" in out
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([t.name for t in ALL_TOPICS])
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    assert set(partitions) == {t.name for t in ALL_TOPICS}
    created = {t.name: t.partitions for t in ALL_TOPICS if t.name not in existed}
    assert {name: partitions[name] for name in created} == created


def test_topic_job_gets_the_sasl_password_from_a_hook_secret(chart: Any) -> None:
    docs = manifests(chart, "hpa-sasl-dev")
    [job] = of_kind(docs, "Job")
    secrets = {s["metadata"]["name"]: s for s in of_kind(docs, "Secret")}
    [container] = pod_spec(job)["containers"]
    ref = env_of(container, docs)["CALLSCOPE_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    hook_secret = secrets[ref["name"]]
    # Both are pre-install hooks; the Secret must exist first.
    weight = int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert ref["key"] in hook_secret["data"]


# ---- retention -----------------------------------------------------------------------------------


def test_retention_policy_comes_from_a_configmap(chart: Any) -> None:
    docs = manifests(chart, "production")
    [container] = pod_spec(the_workload(docs, "retention"))["containers"]
    env = env_of(container, docs)
    values = CI["production"]["retention"]
    assert json.loads(env["CALLSCOPE_RETENTION_PERIODS_DAYS"]["value"]) == values["periodsDays"]
    assert env["CALLSCOPE_RETENTION_POLICY_VERSION"]["value"] == str(values["policyVersion"])
    assert env["CALLSCOPE_RETENTION_PURGE_SCHEDULE"]["value"] == values["purgeSchedule"]
    annotations = the_workload(docs, "retention")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/policy" in annotations, "a policy change must restart the pods"


# ---- Dockerfile ----------------------------------------------------------------------------------


def _dockerfile() -> Any:
    parser = _require("dockerfile_parse", "dockerfile-parse")
    return parser.DockerfileParser(str(DOCKERFILE))


def _stages(instructions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _dockerignore_excludes(path: str) -> bool:
    excluded = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or pattern == "**" for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerfile_builds_one_non_root_image_from_the_lock() -> None:
    dockerfile = _dockerfile()
    stages = _stages(dockerfile.structure)
    assert len(stages) >= 2, "multi-stage: a builder and a runtime"
    assert all(p.startswith("python:3.11-slim") for p in dockerfile.parent_images)
    runtime = stages[-1]
    [user] = [i["value"] for i in runtime if i["instruction"] == "USER"]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0, "numeric non-root USER"
    builder_text = "\n".join(i["value"] for i in stages[0])
    assert "--constraint requirements.lock" in builder_text, "wheels pinned by requirements.lock"
    # What the builder copies exists and is not hidden by .dockerignore.
    for instruction in stages[0]:
        if instruction["instruction"] == "COPY":
            *sources, _ = shlex.split(instruction["value"])
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: no such path"
                assert not _dockerignore_excludes(source), f".dockerignore hides {source}"
    assert _dockerignore_excludes(".venv/bin/python") and _dockerignore_excludes(".git/HEAD")
    assert _dockerignore_excludes("services/recorder/src/callscope_recorder/__pycache__/x.pyc")


def _project(pyproject: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(pyproject.read_text())["project"]


def test_image_installs_every_service_with_locked_dependencies() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pyprojects = [REPO / "packages/core/pyproject.toml"] + [
        REPO / "services" / name / "pyproject.toml" for name in SERVICE_SETTINGS
    ]
    projects = [_project(p) for p in pyprojects]
    text = DOCKERFILE.read_text()
    for project in projects:
        assert project["name"] in text, f"the image does not install {project['name']}"
    scripts = {s for p in projects for s in p.get("scripts", {})}
    assert "callscope" in scripts, "the init container and topic Job need the callscope CLI"
    for name in SERVICE_SETTINGS:
        assert importlib.util.find_spec(f"callscope_{name}.__main__"), f"python -m callscope_{name}"
    locked = {
        canonicalize_name(name): version.strip()
        for name, _, version in (
            line.partition("==")
            for line in (REPO / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.startswith("#")
        )
    }
    own = {canonicalize_name(p["name"]) for p in projects}
    problems = []
    for project in projects:
        for dep in project.get("dependencies", []):
            requirement = Requirement(dep)
            name = canonicalize_name(requirement.name)
            if name in own:
                continue
            if name not in locked:
                problems.append(f"{project['name']}: {dep} is not in requirements.lock")
            elif not requirement.specifier.contains(locked[name], prereleases=True):
                problems.append(f"{project['name']}: {dep} but the lock pins {locked[name]}")
    assert not problems, (
        "the image is built with `pip wheel --constraint requirements.lock`; regenerate the lock "
        "(.venv/bin/pip freeze --exclude-editable > requirements.lock):\n" + "\n".join(problems)
    )


def test_chart_commands_and_paths_match_the_image(chart: Any) -> None:
    text = DOCKERFILE.read_text()
    docs = manifests(chart, "production")
    for service, container in service_containers(docs):
        assert container["command"] == ["python", "-m", f"callscope_{service}"]
        if service == "analyzer":
            cache_dir = env_of(container, docs)["CALLSCOPE_ANALYZER_CACHE_DIR"]["value"]
            assert f"Path('{cache_dir}')" in text, "the image precomputes the sentiment cache there"
