#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CycloneDX SBOMs (JSON) of what we ship: the recsys CLI, the extension, the sidecar and
# recsys-pipelines, one file each in DIR (default .build/sbom): recsys-cli.cdx.json,
# extension.cdx.json, sidecar.cdx.json, recsys-pipelines.cdx.json. Offline: cargo-cyclonedx reads Cargo.lock and the local registry cache.
# Run by .ci/run (through check-supply-chain.sh) and by the release workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
out=$(realpath -m "${1:-$BUILD/sbom}")
ensure_cargo_tool cargo-cyclonedx 0.5.9
mkdir -p "$out"
# One run writes <crate>.cdx.json beside every member's Cargo.toml; four of them ship.
cargo cyclonedx --format json --quiet
mv crates/recsys-cli/recsys-cli.cdx.json "$out/recsys-cli.cdx.json"
mv extension/recsys.cdx.json "$out/extension.cdx.json"
mv sidecar/recsys-sidecar.cdx.json "$out/sidecar.cdx.json"
mv crates/recsys-pipelines/recsys-pipelines.cdx.json "$out/recsys-pipelines.cdx.json"
git ls-files --others --exclude-standard -- '*.cdx.json' | xargs -r rm --
ls "$out"/*.cdx.json
