# SPDX-License-Identifier: Apache-2.0
"""charts/recsys: helm lint, values.schema.json refusing bad values, and rendering with
several value sets, whose objects are checked (probes, resources, non-root, Secret
references) and written as OUT/<value set>.yaml for kubernetes-validate. Step 5 of
.ci/check-packaging.sh, run from the repository root:

    python .ci/packaging/check_chart.py charts/recsys OUT KUBE_VERSION
"""

import json
import os
import sys

import helm_python as helm
import yaml

chart_dir, out, kube_version = sys.argv[1], sys.argv[2], sys.argv[3]
problems = []

VARIANTS = {
    "defaults": {},
    "cronjob-minio": {
        "image": {"digest": "sha256:" + "0" * 64},
        "retraining": {
            "enabled": True,
            "timeZone": "Europe/Berlin",
            "jobs": [
                {"name": "demo-default", "tenant": "demo", "model": "default", "algorithm": "als",
                 "params": {"factors": 64, "seed": 42}, "activate": True},
                {"name": "acme-knn", "tenant": "", "model": "similar", "algorithm": "itemknn",
                 "params": {}, "activate": False, "schedule": "0 4 * * 0"},
            ],
        },
        "pipelines": {
            "enabled": True,
            "jobs": [
                {"name": "events", "source": "s3://recsys/events/", "tenant": "demo"},
                {"name": "clicks", "pipeline": "acme.clicks", "source": "kafka://kafka:9092/clicks",
                 "args": ["--batch-size=20000", "--max-dead-letters=1000"], "schedule": "*/5 * * * *"},
            ],
        },
        "minio": {"enabled": True, "persistence": {"enabled": True, "size": "5Gi"}},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "hosts": [{"host": "recsys.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "recsys-tls", "hosts": ["recsys.example.com"]}],
        },
        "podDisruptionBudget": {"enabled": True},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/recsys"}},
        "config": {"oidc": {"issuer": "https://idp.example.com/realms/recsys", "audience": "recsys"},
                   "otlpEndpoint": "http://otel-collector:4317"},
    },
    "existing-secrets": {
        "replicaCount": 3,
        "database": {"existingSecret": "pg-app", "urlKey": "DATABASE_URL", "maxConnections": 8},
        "s3": {"endpoint": "https://s3.eu-west-1.amazonaws.com", "region": "eu-west-1",
               "existingSecret": "s3-keys"},
        "minio": {"enabled": False},
        "retraining": {"enabled": True, "database": {"existingSecret": "pg-ops", "urlKey": "url"},
                       "jobs": [{"name": "nightly", "model": "default"}]},
        "pipelines": {"enabled": True, "database": {"existingSecret": "pg-pipelines", "urlKey": "url"},
                      "image": {"digest": "sha256:" + "1" * 64},
                      "jobs": [{"name": "daily-export", "source": "s3://exports/events/",
                                "args": ["--order=modified", "--train=default",
                                         '--train-params={"incremental": true}']},
                               {"name": "catalogue", "source": "s3://exports/catalogue/", "args": ["--into=items"]}]},
        "podDisruptionBudget": {"enabled": True, "minAvailable": None, "maxUnavailable": 1},
        "tests": {"enabled": False},
        "extraEnv": [{"name": "RECSYS_LOG", "value": "debug"}],
    },
}

# Values the schema must refuse (a typo'd key, a bad enum, a bad job name).
BAD = {
    "unknown top-level key": {"replicas": 3},
    "logFormat not json|text": {"config": {"logFormat": "xml"}},
    "job name not a DNS label": {"retraining": {"jobs": [{"name": "Nightly_Job", "model": "default"}]}},
    "empty database secret name": {"database": {"existingSecret": ""}},
    "pipeline source not s3:// or kafka://": {"pipelines": {"jobs": [{"name": "local", "source": "/data"}]}},
}

EXPECTED_KINDS = {
    "defaults": {"ConfigMap": 1, "Deployment": 1, "Service": 1, "ServiceAccount": 1, "Pod": 1},
    "cronjob-minio": {"ConfigMap": 2, "Deployment": 2, "Service": 2, "ServiceAccount": 1, "Pod": 1,
                      "CronJob": 4, "Secret": 1, "PersistentVolumeClaim": 1, "Job": 1,
                      "Ingress": 1, "PodDisruptionBudget": 1},
    "existing-secrets": {"ConfigMap": 2, "Deployment": 1, "Service": 1, "ServiceAccount": 1,
                         "CronJob": 3, "PodDisruptionBudget": 1},
}


def pod_specs(obj):
    kind = obj["kind"]
    if kind == "Pod":
        return [obj["spec"]]
    if kind in ("Deployment", "Job"):
        return [obj["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def check_objects(variant, objs):
    where = f"[{variant}]"
    kinds = {}
    for o in objs:
        kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
    if kinds != EXPECTED_KINDS[variant]:
        problems.append(f"{where} kinds {kinds}, expected {EXPECTED_KINDS[variant]}")
    for o in objs:
        name = f"{where} {o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "ConfigMap":
            for k, v in o.get("data", {}).items():
                if not isinstance(v, str) or "e+" in v:
                    problems.append(f"{name}: {k}={v!r} is not a plain string")
        for spec in pod_specs(o):
            psc = spec.get("securityContext", {})
            if psc.get("runAsNonRoot") is not True:
                problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
            if spec.get("automountServiceAccountToken") is not False:
                problems.append(f"{name}: automountServiceAccountToken is not false")
            for c in spec["containers"]:
                cname = f"{name} container {c['name']}"
                image = c["image"]
                if image.endswith(":latest") or ":" not in image.split("/")[-1]:
                    problems.append(f"{cname}: image {image} not pinned to a tag")
                res = c.get("resources", {})
                if not res.get("requests") or not res.get("limits", {}).get("memory"):
                    problems.append(f"{cname}: resources need requests and a memory limit")
                sc = c.get("securityContext", {})
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{cname}: allowPrivilegeEscalation is not false")
                if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                    problems.append(f"{cname}: capabilities are not dropped")
        if o["kind"] == "CronJob" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "pipelines":
            spec = pod_specs(o)[0]
            c = spec["containers"][0]
            env = {e["name"]: e for e in c.get("env", [])}
            if "secretKeyRef" not in env.get("RECSYS_DATABASE_URL", {}).get("valueFrom", {}):
                problems.append(f"{name}: RECSYS_DATABASE_URL is not a Secret reference")
            for e in c.get("env", []):
                if e["name"].startswith("AWS_") and "valueFrom" not in e:
                    problems.append(f"{name}: {e['name']} given as plain text")
            if c["args"][0] != "run" or not any(a.startswith("--source=") for a in c["args"]):
                problems.append(f"{name}: args {c['args']} do not run a source")
            for a in c["args"]:
                if a.startswith("--train-params="):
                    try:
                        json.loads(a.split("=", 1)[1])
                    except ValueError:
                        problems.append(f"{name}: {a} is not JSON once rendered")
            if not c["securityContext"].get("readOnlyRootFilesystem") or \
                    {"name": "tmp", "mountPath": "/tmp"} not in c.get("volumeMounts", []):
                problems.append(f"{name}: needs a read-only root and a writable /tmp")
        if o["kind"] == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "sidecar":
            c = o["spec"]["template"]["spec"]["containers"][0]
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe not in c:
                    problems.append(f"{name}: no {probe}")
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                problems.append(f"{name}: readiness is not /readyz")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                problems.append(f"{name}: liveness is not /healthz")
            env = {e["name"]: e for e in c.get("env", [])}
            db = env.get("RECSYS_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef")
            if not db:
                problems.append(f"{name}: RECSYS_DATABASE_URL is not a Secret reference")
            for e in c.get("env", []):
                if e["name"].startswith("AWS_") and "valueFrom" not in e:
                    problems.append(f"{name}: {e['name']} given as plain text")
            if not c["securityContext"].get("readOnlyRootFilesystem"):
                problems.append(f"{name}: root filesystem is writable")


lint = helm.lint(chart_dir, None, strict=True, kube_version="v" + kube_version)
for m in lint.get("messages", []):
    print(f"helm lint: severity {m['severity']}: {m['path']}: {m['error']}")
    if m["severity"] >= 2:
        problems.append(f"helm lint: {m['path']}: {m['error']}")
for e in lint.get("errors") or []:
    problems.append(f"helm lint: {e}")

with helm.Chart.load(chart_dir) as chart:
    if chart.schema is None:
        problems.append("values.schema.json is missing")
    for variant, values in VARIANTS.items():
        try:
            helm.lint(chart_dir, values, strict=True, kube_version="v" + kube_version)
            chart.validate_schema(values)
            manifests = chart.render(values, name="recsys", namespace="recsys", is_install=True)
        except helm.HelmError as exc:
            problems.append(f"[{variant}] {type(exc).__name__}: {exc}")
            continue
        docs = []
        for template, text in sorted(manifests.items()):
            if template.endswith("NOTES.txt"):
                if "kubectl" not in text:
                    problems.append(f"[{variant}] NOTES.txt looks empty")
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    docs.append(doc)
        check_objects(variant, docs)
        target = os.path.join(out, f"{variant}.yaml")
        with open(target, "w", encoding="utf-8") as fh:
            yaml.safe_dump_all(docs, fh, sort_keys=False)
        print(f"rendered [{variant}]: {len(docs)} objects -> {os.path.relpath(target)}")
    for what, values in BAD.items():
        try:
            chart.validate_schema(values)
        except helm.HelmError:
            print(f"schema refuses: {what}")
        else:
            problems.append(f"values.schema.json accepts bad values ({what})")

lint_msgs = len(lint.get("messages", []))
for p in problems:
    print(f"helm: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"helm: lint ok ({lint_msgs} info message(s)), {len(VARIANTS)} value sets rendered, "
      f"{len(BAD)} bad value sets refused")
