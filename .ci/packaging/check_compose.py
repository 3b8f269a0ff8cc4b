# SPDX-License-Identifier: Apache-2.0
"""What the Compose Specification schema cannot see in docker-compose.yml: healthchecks,
one-shot services adopted for `docker compose up --wait`, referenced files, ports bound to
127.0.0.1, pinned images. Step 4 of .ci/check-packaging.sh, run from the repository root:

    python .ci/packaging/check_compose.py docker-compose.yml
"""

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
