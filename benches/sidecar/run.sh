#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Load benchmark of the REST sidecar: GET /v1/users/{id}/recommendations?k=10 on a 64-factor
# ALS model with 50k items, with wrk (Debian package) for DURATION seconds, CONNECTIONS
# keep-alive connections over 2 threads, random users. Prints requests/s and the latency
# percentiles wrk measures. Beside it, the same recommendations through pgbench, so the cost
# the HTTP layer adds shows in the same run.
# Usage: benches/sidecar/run.sh [USERS ITEMS INTERACTIONS] (default 200000 50000 3500000)
source "$(dirname "$0")/common.sh"

cat >"$OUT/recommend.lua" <<LUA
local users = $USERS
wrk.headers["X-API-Key"] = "$KEY"
math.randomseed(7)
request = function()
    return wrk.format("GET", string.format("/v1/users/u%06d/recommendations?k=10&model=als64", math.random(0, users - 1)))
end
done = function(summary, latency, requests)
    io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d errors=%d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
# Warm-up: every pooled connection decodes the model once into its backend's cache.
wrk -t 2 -c "$CONNECTIONS" -d 3s -s "$OUT/recommend.lua" "http://127.0.0.1:$PORT" >/dev/null
wrk -t 2 -c "$CONNECTIONS" -d "${DURATION}s" -s "$OUT/recommend.lua" "http://127.0.0.1:$PORT" >"$OUT/wrk.out"
result=$(grep '^RESULT' "$OUT/wrk.out")

# The same queries straight to PostgreSQL with the same number of connections as the pool.
pg -q -d $DB -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_direct') THEN CREATE ROLE bench_direct LOGIN; END IF; END \$\$" \
    -c "GRANT recsys_viewer TO bench_direct" -c "SELECT recsys.bind_role('bench_direct', 'bench')" >/dev/null
cat >"$OUT/recommend.sql" <<SQL
\\set u random(0, $((USERS - 1)))
SELECT * FROM recsys.recommend('u' || lpad(:u::text, 6, '0'), 10, 'als64');
SQL
"$PG_BIN/pgbench" -n -M prepared -c "$POOL" -j 2 -T 3 -U bench_direct -f "$OUT/recommend.sql" $DB >/dev/null
"$PG_BIN/pgbench" -n -M prepared -c "$POOL" -j 2 -T "$DURATION" -U bench_direct -f "$OUT/recommend.sql" $DB >"$OUT/pgbench.out"
tps=$(grep -oE "tps = [0-9.]+" "$OUT/pgbench.out" | head -1 | awk '{print $3}')

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); data: $USERS users x $ITEMS items; ALS 64 factors"
echo "REST GET recommendations (wrk, $CONNECTIONS connections, pool $POOL, ${DURATION}s): $result"
echo "same queries via pgbench ($POOL connections, no HTTP):      tps=$tps"
