#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The supply chain, offline: RustSec advisories, licences, bans and sources (cargo-deny, over
# the workspace with the extension and every feature), and the SBOMs (.ci/sbom.sh).
#
# No machine here reaches GitHub: the advisory database is the RustSec snapshot, a git bundle
# in ../shared/supply-chain/ (or $RECSYS_ADVISORY_BUNDLE). A snapshot older than
# $RECSYS_ADVISORY_MAX_AGE_DAYS (90) is reported, not failed on: advisories published since
# were not checked. Without a bundle the advisories check is skipped with a message saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_cargo_tool cargo-deny 0.20.2

# cargo-deny reads the metadata of every target platform offline; builds download only this
# host's crates, so a fresh machine lacks the others (android_system_properties, …) until now.
log "cargo fetch: every platform's crates"
cargo fetch --locked --quiet
log "cargo deny: licences, bans, sources"
cargo deny --offline --log-level error --workspace check --hide-inclusion-graph licenses bans sources

bundle=${RECSYS_ADVISORY_BUNDLE:-$ROOT/../shared/supply-chain/advisory-db.bundle}
if [ -f "$bundle" ]; then
    # deny.toml's db-path; cargo-deny 0.20 looks for the database of its db-url in a directory
    # named after the URL's last segment and a hash of the URL.
    export RECSYS_ADVISORY_DBS=$BUILD/advisory-dbs
    db=$RECSYS_ADVISORY_DBS/advisory-db-3157b0e258782691
    rm -rf "$RECSYS_ADVISORY_DBS" && mkdir -p "$RECSYS_ADVISORY_DBS"
    git -c init.defaultBranch=main clone -q "$bundle" "$db"
    taken=$(git -C "$db" log -1 --format=%cs)
    age=$(( ($(date +%s) - $(git -C "$db" log -1 --format=%ct)) / 86400 ))
    log "cargo deny: RustSec advisories (snapshot of $taken, $age days old)"
    if [ "$age" -gt "${RECSYS_ADVISORY_MAX_AGE_DAYS:-90}" ]; then
        echo "note: the advisory snapshot is $age days old; advisories published after $taken are not checked" >&2
    fi
    cargo deny --offline --workspace check advisories
else
    echo "note: advisories NOT checked: no RustSec snapshot at $bundle (set RECSYS_ADVISORY_BUNDLE)" >&2
fi

log "SBOMs (CycloneDX) of the CLI, the extension, the sidecar and recsys-pipelines"
bash .ci/sbom.sh
