# SPDX-License-Identifier: Apache-2.0
# Set-up shared by the sidecar benchmarks (sourced): a PostgreSQL of their own with USERS x
# ITEMS data and a 64-factor ALS model "als64" of tenant "bench", a viewer key in $KEY, and
# the release sidecar on $PORT (pool $POOL). Arguments: [USERS ITEMS INTERACTIONS].
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
OUT=$BUILD/bench-sidecar${BENCH_NAME:+-$BENCH_NAME}
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
# Keys are made by a login with recsys_key_admin (the superuser here), not the sidecar's.
KEY=$(RECSYS_DATABASE_URL="postgres://postgres@localhost/$DB?host=$PGSOCK&port=$PGPORT" \
    "$SIDECAR" keys create --tenant bench --role viewer --name bench 2>/dev/null)
"$SIDECAR" serve 2>"$OUT/sidecar.log" &
SIDECAR_PID=$!
trap 'kill $SIDECAR_PID 2>/dev/null || true; stop_cluster' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

