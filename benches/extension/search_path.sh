#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What pinning search_path costs recsys.recommend: pgbench of the same calls (4 clients,
# prepared, a 64-factor ALS model) with the function as installed (SET search_path) and, in
# the same run, with the setting removed (ALTER FUNCTION ... RESET search_path, on this
# throwaway database only), alternating 3 times each. Prints the median calls/s of each and
# their ratio.
# Usage: benches/extension/search_path.sh [USERS ITEMS INTERACTIONS] (default 20000 5000 300000)
export RECSYS_PGDIR=${RECSYS_PGDIR:-$(cd "$(dirname "$0")/../.." && pwd)/.build/pg-bench}
export RECSYS_PGPORT=${RECSYS_PGPORT:-5490}
source "$(dirname "$0")/../../scripts/lib.sh"
USERS=${1:-20000} ITEMS=${2:-5000} INTERACTIONS=${3:-300000}
DURATION=${DURATION:-10}
ensure_tools
(cd "$ROOT" && cargo build --release -p recsys-cli --quiet)
install_extension
start_cluster
trap stop_cluster EXIT
OUT=$BUILD/bench-search-path
mkdir -p "$OUT"
DATA=$OUT/data-$USERS-$ITEMS-$INTERACTIONS.tsv
[ -f "$DATA" ] || "$ROOT/target/release/recsys" -q generate --users "$USERS" --items "$ITEMS" \
    --interactions "$INTERACTIONS" --seed 7 -o "$DATA" >/dev/null
DB=recsys_bench_search_path
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys" -c "SET client_min_messages = warning" \
    -c "DROP ROLE IF EXISTS bench_sp" -c "CREATE ROLE bench_sp LOGIN" \
    -c "GRANT recsys_operator TO bench_sp" -c "SELECT recsys.bind_role('bench_sp', 'bench')" >/dev/null
pg -q -d $DB -U bench_sp -c "CREATE TEMP TABLE s (user_id text, item_id text, ts bigint)" \
    -c "\\copy s FROM '$DATA' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
    -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, occurred_at) SELECT user_id || '/' || item_id, user_id, item_id, to_timestamp(ts) FROM s" \
    -c "SET client_min_messages = warning" \
    -c "SELECT version FROM recsys.train('als64', 'als', '{\"factors\": 64}')" >/dev/null
pg -q -d $DB -c "VACUUM ANALYZE recsys.interactions"
cat >"$OUT/recommend.sql" <<SQL
\\set u random(0, $((USERS - 1)))
SELECT * FROM recsys.recommend('u' || lpad(:u::text, 6, '0'), 10, 'als64');
SQL
FUNCTION="recsys.recommend(text, integer, text, boolean)"
run() { # pinned|unpinned
    if [ "$1" = pinned ]; then
        pg -q -d $DB -c "ALTER FUNCTION $FUNCTION SET search_path = pg_catalog, pg_temp"
    else
        pg -q -d $DB -c "ALTER FUNCTION $FUNCTION RESET search_path"
    fi
    "$PG_BIN/pgbench" -n -M prepared -c 4 -j 2 -T 3 -U bench_sp -f "$OUT/recommend.sql" $DB >/dev/null
    "$PG_BIN/pgbench" -n -M prepared -c 4 -j 2 -T "$DURATION" -U bench_sp -f "$OUT/recommend.sql" $DB \
        | grep -oE "tps = [0-9.]+" | head -1 | awk '{print $3}'
}
median() { sort -g | awk '{a[NR] = $1} END {print a[(NR + 1) / 2]}'; }
pinned=() unpinned=()
for _ in 1 2 3; do
    pinned+=("$(run pinned)")
    unpinned+=("$(run unpinned)")
done
p=$(printf '%s\n' "${pinned[@]}" | median)
u=$(printf '%s\n' "${unpinned[@]}" | median)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "recsys.recommend calls/s, 4 clients, median of 3 x ${DURATION}s: pinned $p (${pinned[*]}), unpinned $u (${unpinned[*]}), pinned/unpinned $(awk -v a="$p" -v b="$u" 'BEGIN { printf "%.3f", a / b }')"
