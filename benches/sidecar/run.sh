#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Load benchmark of the REST sidecar: GET /v1/users/{id}/recommendations?k=10 on a 64-factor
# ALS model with 50k items, with wrk (Debian package) for DURATION seconds, CONNECTIONS
# keep-alive connections over 2 threads, random users. Prints requests/s and the latency
# percentiles wrk measures. Beside it, the same recommendations through pgbench, so the cost
# the HTTP layer adds shows in the same run.
# Usage: benches/sidecar/run.sh [USERS ITEMS INTERACTIONS] (default 200000 50000 3500000)
export RECSYS_PGDIR=${RECSYS_PGDIR:-$(cd "$(dirname "$0")/../.." && pwd)/.build/pg-bench}
export RECSYS_PGPORT=${RECSYS_PGPORT:-5490}
source "$(dirname "$0")/../../scripts/lib.sh"
USERS=${1:-200000} ITEMS=${2:-50000} INTERACTIONS=${3:-3500000}
DURATION=${DURATION:-20} CONNECTIONS=${CONNECTIONS:-32} POOL=${POOL:-4}
PORT=${RECSYS_BENCH_PORT:-18090}
ensure_packages wrk
ensure_pgrx
(cd "$ROOT" && cargo build --release -q -p recsys-cli -p recsys-sidecar)
install_extension
start_cluster
tune_for_benchmarks
OUT=$BUILD/bench-sidecar
mkdir -p "$OUT"
DATA=$BUILD/bench-extension/data-$USERS-$ITEMS-$INTERACTIONS.tsv
mkdir -p "$(dirname "$DATA")"
[ -f "$DATA" ] || "$ROOT/target/release/recsys" -q generate --users "$USERS" --items "$ITEMS" \
    --interactions "$INTERACTIONS" --seed 7 -o "$DATA" >/dev/null
DB=recsys_sidecar_bench
SIDECAR=$ROOT/target/release/recsys-sidecar
export RECSYS_DATABASE_URL="postgres://recsys_sidecar@localhost/$DB?host=$PGSOCK&port=$PGPORT"
export RECSYS_LISTEN_ADDR=127.0.0.1:$PORT RECSYS_LOG=warn RECSYS_DB_MAX_CONNECTIONS=$POOL
if [ "$(pg -qAt -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ] ||
   [ "$(pg -qAt -d $DB -c "SET recsys.tenant = 'bench'" -c "SELECT count(*) FROM recsys.models WHERE name = 'als64'" 2>/dev/null | tail -1)" != 1 ]; then
    recreate_db $DB
    pg -q -d $DB -c "CREATE EXTENSION recsys" -c "SET client_min_messages = warning" -f "$ROOT/sidecar/setup.sql" >/dev/null
    log "loading $(($(wc -l <"$DATA") - 1)) interactions and training als64 (once)"
    pg -q -d $DB -c "SET recsys.tenant = 'bench'" -c "CREATE TEMP TABLE s (user_id text, item_id text, ts bigint)" \
        -c "\\copy s FROM '$DATA' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
        -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, occurred_at) SELECT user_id || '/' || item_id, user_id, item_id, to_timestamp(ts) FROM s" \
        -c "SET client_min_messages = warning" \
        -c "SELECT version FROM recsys.train('als64', 'als', '{\"factors\": 64, \"iterations\": 15, \"regularization\": 0.05, \"alpha\": 1}')" >/dev/null
    pg -q -d $DB -c "VACUUM ANALYZE recsys.interactions"
fi
KEY=$("$SIDECAR" keys create --tenant bench --role viewer --name bench 2>/dev/null)
"$SIDECAR" serve 2>"$OUT/sidecar.log" &
SIDECAR_PID=$!
trap 'kill $SIDECAR_PID 2>/dev/null || true; stop_cluster' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

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
