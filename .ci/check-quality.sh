#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The quality gate: `recsys eval` on the bundled demo data, held to the committed baseline
# benches/quality/demo.json; also on MovieLens 100K (benches/quality/ml-100k.json) when
# ../shared/datasets/ml-100k.inter exists (its licence keeps it out of the repository).
# Fails (exit 3) when an algorithm loses more than 1 % of a ranking metric. A change that is
# meant to move the figures updates the baseline in the same commit: see
# benches/quality/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
cargo build --release --quiet -p recsys-cli
recsys=$ROOT/target/release/recsys

log "quality gate: demo data (benches/quality/demo.json)"
"$recsys" -q eval -i examples/data/interactions.tsv --baseline benches/quality/demo.json >/dev/null
ml100k=${RECSYS_ML100K:-$ROOT/../shared/datasets/ml-100k.inter}
if [ -f "$ml100k" ]; then
    log "quality gate: MovieLens 100K (benches/quality/ml-100k.json)"
    "$recsys" -q eval -i "$ml100k" --no-diversity --baseline benches/quality/ml-100k.json >/dev/null
else
    echo "note: MovieLens 100K not at $ml100k: its gate is skipped" >&2
fi
echo "quality gate: no regression" >&2
