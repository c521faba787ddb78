"""Generate values.schema.json and README.md of the chart from values.yaml.

values.yaml is the source: its `## @section` and `## @param path description` lines (bitnami
readme-generator format) give the README tables and the schema descriptions, its defaults give
the types, and CONSTRAINTS below adds what a default cannot say (enums, ranges, patterns,
free-form Kubernetes objects). Every object the chart defines refuses unknown keys.

    python deploy/helm/callscope/tools/generate.py          # rewrite both files
    python deploy/helm/callscope/tools/generate.py --check  # exit 1 when they are stale

tests/deploy/test_helm_chart.py fails when the committed files differ from what this produces.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1]

# Reusable schema fragments.
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
QTY = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"}
PDB_N = {"type": ["integer", "string"], "pattern": r"^$|^[0-9]+%?$", "minimum": 0}
FREE_OBJ = {"type": "object"}
FREE_ARR = {"type": "array"}
STR_ARR = {"type": "array", "items": {"type": "string"}}
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IP = {  # empty, IPv4 or IPv6
    "type": "string",
    "pattern": rf"^$|^({_OCTET}\.){{3}}{_OCTET}$|^[0-9A-Fa-f:]*:[0-9A-Fa-f:]+$",
}
NON_NEGATIVE = {"type": "integer", "minimum": 0}
POSITIVE = {"type": "integer", "minimum": 1}
ENV_ARR = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}},
    },
}

CONSTRAINTS: dict[str, dict[str, Any]] = {
    "global.imagePullSecrets": STR_ARR,
    "image.pullSecrets": STR_ARR,
    "image.pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
    "image.digest": {"type": "string", "pattern": r"^$|^sha256:[0-9a-f]{64}$"},
    "commonLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "commonAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "logLevel": {"type": "string", "enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
    "logFormat": {"type": "string", "enum": ["json", "text"]},
    "tenant": {"type": "string", "minLength": 1},
    "kafka.bootstrapServers": {
        "type": "string",
        "pattern": r"^$|^[^,\s/:]+:[0-9]{1,5}(,[^,\s/:]+:[0-9]{1,5})*$",
    },
    "kafka.securityProtocol": {
        "type": "string",
        "enum": ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
    },
    "kafka.saslMechanism": {
        "type": "string",
        "enum": ["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
    },
    "kafka.fetchMaxWaitMs": {"type": "integer", "minimum": 1, "maximum": 10000},
    "kafka.producerBatchBytes": {"type": "integer", "minimum": 16384, "maximum": 4194304},
    "database.poolMax": {"type": "integer", "minimum": 1, "maximum": 100},
    "objectStore.s3Endpoint": {"type": "string", "pattern": r"^$|^[A-Za-z0-9.-]+(:[0-9]{1,5})?$"},
    "objectStore.recordingsBucket": {
        "type": "string",
        "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    },
    "topics.replicationFactor": {"type": "integer", "minimum": 1, "maximum": 10},
    "topics.backoffLimit": NON_NEGATIVE,
    "topics.activeDeadlineSeconds": POSITIVE,
    "topics.podAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "topics.resources": FREE_OBJ,
    "metrics.port": PORT,
    "metrics.serviceMonitor.labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "metrics.serviceMonitor.interval": {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"},
    "metrics.serviceMonitor.scrapeTimeout": {"type": "string", "pattern": r"^$|^[0-9]+(ms|s|m|h)$"},
    "metrics.serviceMonitor.relabelings": FREE_ARR,
    "metrics.serviceMonitor.metricRelabelings": FREE_ARR,
    "tracing.otlpEndpoint": {"type": "string", "pattern": r"^$|^https?://"},
    "tracing.sampler": {
        "type": "string",
        "enum": [
            "always_on",
            "always_off",
            "traceidratio",
            "parentbased_always_on",
            "parentbased_always_off",
            "parentbased_traceidratio",
        ],
    },
    "tracing.resourceAttributes": {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    },
    "serviceAccount.annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "podSecurityContext.runAsUser": {"type": "integer", "minimum": 1},
    "containerSecurityContext.runAsUser": {"type": "integer", "minimum": 1},
    "containerSecurityContext.capabilities.drop": STR_ARR,
    "tmpSizeLimit": QTY,
    "extraEnvVars": ENV_ARR,
    "networkPolicy.sipSourceCIDRs": {
        "type": "array",
        "items": {"type": "string", "pattern": r"^[0-9A-Fa-f.:]+/[0-9]{1,3}$"},
    },
    "networkPolicy.metricsNamespaceSelector": FREE_OBJ,
    "networkPolicy.extraIngress": FREE_ARR,
    "networkPolicy.extraEgress": FREE_ARR,
    "keda.pollingInterval": POSITIVE,
    "keda.cooldownPeriod": NON_NEGATIVE,
    # recorder
    "recorder.networkMode": {"type": "string", "enum": ["service", "hostNetwork"]},
    "recorder.kind": {"type": "string", "enum": ["Deployment", "DaemonSet", "StatefulSet"]},
    "recorder.advertisedIP": IP,
    "recorder.sipPort": PORT,
    "recorder.rtpPortMin": {"type": "integer", "minimum": 1024, "maximum": 65535},
    "recorder.rtpPortMax": {"type": "integer", "minimum": 1024, "maximum": 65535},
    "recorder.mediaTimeoutSeconds": {"type": "number", "exclusiveMinimum": 0},
    "recorder.spoolSizeLimit": QTY,
    "recorder.spoolPersistence.size": QTY,
    "recorder.service.type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
    "recorder.service.annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "recorder.service.loadBalancerIP": IP,
    "recorder.service.loadBalancerSourceRanges": STR_ARR,
    "recorder.service.externalTrafficPolicy": {"type": "string", "enum": ["Local", "Cluster"]},
    "recorder.service.sessionAffinity": {"type": "string", "enum": ["None", "ClientIP"]},
    "recorder.service.sessionAffinityTimeoutSeconds": {
        "type": "integer",
        "minimum": 1,
        "maximum": 86400,
    },
    "recorder.preStopSleepSeconds": NON_NEGATIVE,
    "recorder.replicaCount": POSITIVE,
    # transcriber
    "transcriber.device": {"type": "string", "enum": ["cpu", "cuda", "auto"]},
    "transcriber.computeType": {
        "type": "string",
        "enum": [
            "default",
            "auto",
            "int8",
            "int8_float32",
            "int8_float16",
            "int8_bfloat16",
            "int16",
            "float16",
            "bfloat16",
            "float32",
        ],
    },
    "transcriber.cpuThreads": {"type": "integer", "minimum": 1, "maximum": 64},
    "transcriber.beamSize": {"type": "integer", "minimum": 1, "maximum": 10},
    "transcriber.liveModel": {"type": "string", "minLength": 1},
    "transcriber.languages": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "pattern": r"^[a-z]{2,3}$"},
    },
    "transcriber.chineseScript": {
        "type": "string",
        "enum": ["simplified", "traditional", "original"],
    },
    "transcriber.minSilenceMs": {"type": "integer", "minimum": 100, "maximum": 5000},
    "transcriber.idleFlushSeconds": {"type": "number", "exclusiveMinimum": 0},
    "transcriber.models.mountPath": {"type": "string", "pattern": r"^/"},
    "transcriber.models.sizeLimit": QTY,
    "transcriber.gpu.count": POSITIVE,
    "transcriber.autoscaling.minReplicas": POSITIVE,
    "transcriber.autoscaling.maxReplicas": POSITIVE,
    "transcriber.autoscaling.lagThreshold": POSITIVE,
    "transcriber.replicaCount": NON_NEGATIVE,
    "transcriber.autoscaling.externalMetricName": {
        "type": "string",
        "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
    },
    "transcriber.autoscaling.externalMetricGroupLabel": {
        "type": "string",
        "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$",
    },
    "transcriber.autoscaling.externalMetricTopicLabel": {
        "type": "string",
        "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$",
    },
    "transcriber.initResources": FREE_OBJ,
    # analyzer
    "analyzer.humanRequestThreshold": {"type": "integer", "minimum": 1, "maximum": 20},
    "analyzer.humanRequestWindowSeconds": NON_NEGATIVE,
    "analyzer.cacheDir": {"type": "string", "pattern": r"^$|^/"},
    "analyzer.replicaCount": NON_NEGATIVE,
    # retention
    "retention.defaultPurposes": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "pattern": r"^[a-z_]+$"},
    },
    "retention.policyVersion": POSITIVE,
    "retention.periodsDays": {
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"pattern": r"^[a-z_]+$"},
        "additionalProperties": {"type": "integer", "minimum": 1},
    },
    "retention.purgeSchedule": {"type": "string", "pattern": r"^$|^@every\s+\S+$|^\S+(\s+\S+){4}$"},
    "retention.replicaCount": NON_NEGATIVE,
}
COMPONENT_COMMON = {
    "grpcPort": PORT,
    "pdb.minAvailable": PDB_N,
    "pdb.maxUnavailable": PDB_N,
    "updateStrategy": FREE_OBJ,
    "terminationGracePeriodSeconds": NON_NEGATIVE,
    "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
    "tolerations": FREE_ARR,
    "affinity": FREE_OBJ,
    "topologySpreadConstraints": FREE_ARR,
    "podLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "podAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "resources": FREE_OBJ,
    "extraEnvVars": ENV_ARR,
    "extraVolumes": FREE_ARR,
    "extraVolumeMounts": FREE_ARR,
    "image.digest": {"type": "string", "pattern": r"^$|^sha256:[0-9a-f]{64}$"},
}
for c in ("recorder", "transcriber", "analyzer", "retention"):
    for k, v in COMPONENT_COMMON.items():
        CONSTRAINTS.setdefault(f"{c}.{k}", v)
    for p in ("startupProbe", "livenessProbe", "readinessProbe"):
        for f in ("periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"):
            CONSTRAINTS[f"{c}.{p}.{f}"] = POSITIVE
        CONSTRAINTS[f"{c}.{p}.initialDelaySeconds"] = NON_NEGATIVE

# Security contexts: known keys typed, other Kubernetes fields allowed.
OPEN_OBJECTS = {
    "podSecurityContext",
    "containerSecurityContext",
    "containerSecurityContext.capabilities",
    "podSecurityContext.seccompProfile",
    "containerSecurityContext.seccompProfile",
}


def param_docs(values_text: str) -> dict[str, str]:
    """`## @param path description` lines."""
    return dict(re.findall(r"^## @param (\S+) (\S.*)$", values_text, flags=re.MULTILINE))


def build_schema(values_text: str) -> dict[str, Any]:
    values = yaml.safe_load(values_text)
    docs = param_docs(values_text)
    used: set[str] = set()

    def build(path: str, value: Any) -> dict[str, Any]:
        if path in CONSTRAINTS:
            used.add(path)
            node = dict(CONSTRAINTS[path])
        elif isinstance(value, dict):
            node = {
                "type": "object",
                "additionalProperties": path in OPEN_OBJECTS,
                "properties": {
                    key: build(f"{path}.{key}" if path else key, child)
                    for key, child in value.items()
                },
            }
        elif isinstance(value, bool):
            node = {"type": "boolean"}
        elif isinstance(value, int):
            node = {"type": "integer"}
        elif isinstance(value, float):
            node = {"type": "number"}
        elif isinstance(value, str):
            node = {"type": "string"}
        elif isinstance(value, list):
            node = {"type": "array"}
        else:
            raise SystemExit(f"values.yaml: no JSON type for {path} ({value!r})")
        if path in docs:
            node = {"description": docs[path], **node}
        return node

    root = build("", values)
    unused = sorted(set(CONSTRAINTS) - used)
    if unused:
        raise SystemExit(f"CONSTRAINTS name values that do not exist: {unused}")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Callscope chart values",
        **root,
    }


def _get(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def build_readme(values_text: str) -> str:
    values = yaml.safe_load(values_text)
    lines = [
        "# Callscope Helm chart",
        "",
        "Contact-center call recording (SIPREC) and speech analytics: the recorder, transcriber,"
        " analyzer",
        "and retention services from one image built with the repository's `Dockerfile`.",
        "The deployment guide is [`docs/deploy.md`](../../../docs/deploy.md): what the platform"
        " provides,",
        "SIPREC networking modes, GPU nodes, scaling and upgrades.",
        "",
        "```sh",
        "helm install callscope deploy/helm/callscope -n callscope -f my-values.yaml",
        "```",
        "",
        "Scenarios to start from: `ci/minimal-values.yaml`, `ci/gpu-transcriber-values.yaml`,",
        "`ci/production-values.yaml`. `values.schema.json` refuses unknown keys and wrong types.",
        "This file and `values.schema.json` are generated from `values.yaml` by",
        "`tools/generate.py`.",
        "",
        "## Parameters",
    ]
    for line in values_text.splitlines():
        section = re.match(r"^## @section (.*)$", line)
        if section:
            lines += ["", f"### {section.group(1)}", "", "| Name | Description | Value |"]
            lines.append("| --- | --- | --- |")
            continue
        param = re.match(r"^## @param (\S+) (\S.*)$", line)
        if param:
            value = _get(values, param.group(1))
            shown = f'"{value}"' if isinstance(value, str) else json.dumps(value)
            if isinstance(value, dict | list) and len(shown) > 40:
                shown = "{...}" if isinstance(value, dict) else "[...]"
            description = param.group(2).replace("|", "\\|")
            lines.append(f"| `{param.group(1)}` | {description} | `{shown}` |")
    return "\n".join(lines) + "\n"


def outputs() -> dict[Path, str]:
    values_text = (CHART / "values.yaml").read_text()
    return {
        CHART / "values.schema.json": json.dumps(build_schema(values_text), indent=2) + "\n",
        CHART / "README.md": build_readme(values_text),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args()
    stale = [path for path, text in outputs().items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.name} is stale: run {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
