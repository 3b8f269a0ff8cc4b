#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How long ALTER EXTENSION recsys UPDATE takes on a database of size: the upgrade test
# (tests/upgrade/upgrade.sh, every check included) with INTERACTIONS per tenant, 3 tenants and
# 18 model versions (6 per tenant, every algorithm). Prints the machine and the duration.
# Usage: benches/upgrade/run.sh [INTERACTIONS_PER_TENANT] (default 333334: 1,000,002 in all)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export RECSYS_UPGRADE_INTERACTIONS=${1:-333334}
(cd "$ROOT" && cargo build --release -q -p recsys-cli)
bash "$ROOT/tests/upgrade/upgrade.sh" >/dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cat "$ROOT/.build/upgrade/duration.txt"
grep -E "^(interactions|model_versions|training_runs) " "$ROOT/.build/upgrade/after.txt" | cut -d' ' -f1,2
