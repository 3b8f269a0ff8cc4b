#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 recsys authors
# SPDX-License-Identifier: Apache-2.0
#
# REUSE compliance of the whole tree: every tracked or untracked, not ignored
# file must have a licence and a copyright line (own header, .license file or
# REUSE.toml), and every licence used must have its text in LICENSES/.
#
# One deliberate deviation from plain `reuse lint`: LICENSES/GPL-2.0-or-later.txt
# is the Change License of BUSL-1.1 (LICENSES/BUSL-1.1.txt). No file is
# GPL-2.0-or-later today, so reuse reports it as "unused". We ship the text on
# purpose and accept exactly that finding; any other finding fails.
#
# Usage: .ci/check-licensing.sh        (from anywhere inside the repository)
# Needs: python3 (with venv) and network access to PyPI on first run.
set -euo pipefail

REUSE_VERSION="6.2.0"
# Licences whose text is shipped although no file uses them yet.
EXPECTED_UNUSED=("GPL-2.0-or-later")

root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
cd "$root"

reuse_bin=""
if command -v reuse >/dev/null 2>&1 \
    && [[ "$(reuse --version 2>/dev/null | head -n1)" == "reuse, version ${REUSE_VERSION}" ]]; then
    reuse_bin="$(command -v reuse)"
else
    # A private venv under the git-ignored .build/ works on hosts whose system
    # Python refuses `pip install` (PEP 668) and leaves the system untouched.
    venv="$root/.build/venv-reuse"
    if [[ ! -x "$venv/bin/reuse" ]] \
        || [[ "$("$venv/bin/reuse" --version 2>/dev/null | head -n1)" != "reuse, version ${REUSE_VERSION}" ]]; then
        echo "installing reuse==${REUSE_VERSION} into $venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "reuse==${REUSE_VERSION}"
    fi
    reuse_bin="$venv/bin/reuse"
fi

for lic in "${EXPECTED_UNUSED[@]}"; do
    if [[ ! -f "LICENSES/${lic}.txt" ]]; then
        echo "error: LICENSES/${lic}.txt is missing (BUSL-1.1 Change License text)" >&2
        exit 1
    fi
done

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
# `reuse lint` exits 1 on any finding; the JSON report is judged below.
"$reuse_bin" lint --json >"$report" || true

if EXPECTED_UNUSED_CSV="$(IFS=,; echo "${EXPECTED_UNUSED[*]}")" python3 - "$report" <<'PY'
import json
import os
import sys

with open(sys.argv[1], encoding="utf-8") as fh:
    data = json.load(fh)

expected = set(filter(None, os.environ["EXPECTED_UNUSED_CSV"].split(",")))
problems = []
for key, items in data["non_compliant"].items():
    if key == "unused_licenses":
        extra = sorted(set(items) - expected)
        if extra:
            problems.append(f"unused licence texts in LICENSES/: {', '.join(extra)}")
    elif items:
        problems.append(f"{key}: {items}")
for entry in data.get("files", []):
    for expr in entry.get("spdx_expressions", []):
        if not expr.get("is_valid", True):
            problems.append(f"invalid SPDX expression in {entry['path']}: {expr['value']}")

summary = data["summary"]
if summary["files_with_licensing_info"] != summary["files_total"]:
    problems.append("some files have no licensing information")
if summary["files_with_copyright_info"] != summary["files_total"]:
    problems.append("some files have no copyright information")

if problems:
    for p in problems:
        print(f"licensing: {p}", file=sys.stderr)
    sys.exit(1)

unused = sorted(set(data["non_compliant"]["unused_licenses"]))
note = f"; shipped but unused on purpose: {', '.join(unused)}" if unused else ""
print(
    f"licensing: REUSE check passed: {summary['files_total']} files, "
    f"licences used: {', '.join(summary['used_licenses'])}{note}"
)
PY
then
    exit 0
fi

# Failed: show reuse's own, readable report of what is wrong.
echo "licensing: FAILED; reuse lint says:" >&2
"$reuse_bin" lint >&2 || true
echo "Fix: give the file an SPDX licence header (and a copyright line if the" >&2
echo "REUSE.toml default does not fit), or extend REUSE.toml." >&2
exit 1
