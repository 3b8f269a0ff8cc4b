#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Extension benchmarks on a throwaway cluster of their own (.build/pg-bench):
#  1. recsys.train end to end (SPI load, fit, store) vs `recsys train` on the same data;
#  2. pgbench of `SELECT * FROM recsys.recommend(user, 10)` on a 64-factor ALS model with
#     50k items, 4 clients then 1, p50/p99 from the per-transaction log; prepared statements
#     (-M prepared), as application drivers use them;
#  3. the same recommendation written by hand in SQL over factor tables, for comparison.
# Usage: benches/extension/run.sh [USERS ITEMS INTERACTIONS] (default 200000 50000 3500000)
export RECSYS_PGDIR=${RECSYS_PGDIR:-$(cd "$(dirname "$0")/../.." && pwd)/.build/pg-bench}
export RECSYS_PGPORT=${RECSYS_PGPORT:-5490}
source "$(dirname "$0")/../../scripts/lib.sh"
USERS=${1:-200000} ITEMS=${2:-50000} INTERACTIONS=${3:-3500000}
DURATION=${DURATION:-20}
ensure_tools
(cd "$ROOT" && cargo build --release -p recsys-cli --quiet)
install_extension
start_cluster
tune_for_benchmarks
trap stop_cluster EXIT
RECSYS=$ROOT/target/release/recsys
OUT=$BUILD/bench-extension
mkdir -p "$OUT"
DATA=$OUT/data-$USERS-$ITEMS-$INTERACTIONS.tsv
[ -f "$DATA" ] || "$RECSYS" -q generate --users "$USERS" --items "$ITEMS" --interactions "$INTERACTIONS" --seed 7 -o "$DATA" >/dev/null
DB=recsys_bench
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys" -c "CREATE ROLE bench_app LOGIN" 2>/dev/null || pg -q -d $DB -c "CREATE EXTENSION IF NOT EXISTS recsys"
pg -q -d $DB -c "GRANT recsys_operator TO bench_app" -c "SELECT recsys.bind_role('bench_app', 'bench')" >/dev/null
log "loading $(($(wc -l <"$DATA") - 1)) interactions"
pg -q -d $DB -U bench_app -c "CREATE TEMP TABLE s (user_id text, item_id text, ts bigint)" \
    -c "\\copy s FROM '$DATA' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
    -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, occurred_at) SELECT user_id || '/' || item_id, user_id, item_id, to_timestamp(ts) FROM s"
pg -q -d $DB -c "VACUUM ANALYZE recsys.interactions"

PARAMS='{"factors": 64, "iterations": 15, "regularization": 0.05, "alpha": 1}'
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
log "training: SQL vs CLI (3 runs each)"
sql_times=() cli_times=()
for _ in 1 2 3; do
    sql_times+=("$(pg -qAt -d $DB -U bench_app -c "SET client_min_messages = warning" -c "SELECT seconds FROM recsys.train('als64', 'als', '$PARAMS')")")
    start=$(date +%s.%N)
    "$RECSYS" -q train -i "$DATA" -a als -p "$PARAMS" -o "$OUT/cli-model" >/dev/null
    cli_times+=("$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')")
done
sql_train=$(printf '%s\n' "${sql_times[@]}" | median)
cli_train=$(printf '%s\n' "${cli_times[@]}" | median)

log "pgbench: recsys.recommend, 4 clients, ${DURATION}s"
cat >"$OUT/recommend.sql" <<SQL
\\set u random(0, $((USERS - 1)))
SELECT * FROM recsys.recommend('u' || lpad(:u::text, 6, '0'), 10, 'als64');
SQL
rm -f "$OUT"/pgbench_log.*
# Warm-up: every connection decodes the model once into its cache.
(cd "$OUT" && "$PG_BIN/pgbench" -n -M prepared -c 4 -j 2 -T 3 -U bench_app -f recommend.sql $DB >/dev/null)
(cd "$OUT" && "$PG_BIN/pgbench" -n -M prepared -c 4 -j 2 -T "$DURATION" -U bench_app -f recommend.sql -l $DB >"$OUT/pgbench.out")
percentiles() { cat "$OUT"/pgbench_log.* | awk '{print $3 / 1000}' | sort -g | awk '{a[NR] = $1} END {printf "%.3f %.3f %d\n", a[int(NR * 0.5)], a[int(NR * 0.99)], NR}'; }
read -r p50 p99 n < <(percentiles)
tps=$(grep -oE "tps = [0-9.]+" "$OUT/pgbench.out" | head -1 | awk '{print $3}')
# One client: the latency of a call when nothing queues in front of it.
rm -f "$OUT"/pgbench_log.*
(cd "$OUT" && "$PG_BIN/pgbench" -n -M prepared -c 1 -j 1 -T "$DURATION" -U bench_app -f recommend.sql -l $DB >/dev/null)
read -r s50 s99 sn < <(percentiles)
rm -f "$OUT"/pgbench_log.*

log "the same by hand in SQL: factor tables and a dot product per item"
python3 - "$OUT/cli-model" "$OUT" <<'PY'
import json, struct, sys, os
model, out = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(model, "manifest.json")))
def strings(name):
    b = open(os.path.join(model, "blobs", name + ".bin"), "rb").read(); o = 0; r = []
    while o < len(b):
        n = struct.unpack_from("<I", b, o)[0]; r.append(b[o + 4:o + 4 + n].decode()); o += 4 + n
    return r
f = m["params"]["factors"]
for side, ids in (("user", "user_ids"), ("item", "item_ids")):
    names = strings(ids)
    raw = open(os.path.join(model, "blobs", side + "_factors.bin"), "rb").read()
    with open(os.path.join(out, side + "_factors.tsv"), "w") as w:
        for k, name in enumerate(names):
            v = struct.unpack_from("<%df" % f, raw, k * f * 4)
            w.write(name + "\t{" + ",".join("%.7g" % x for x in v) + "}\n")
PY
pg -q -d $DB -c "DROP TABLE IF EXISTS user_factors, item_factors" \
    -c "CREATE TABLE user_factors (user_id text PRIMARY KEY, v real[])" -c "CREATE TABLE item_factors (item_id text PRIMARY KEY, v real[])" \
    -c "\\copy user_factors FROM '$OUT/user_factors.tsv'" -c "\\copy item_factors FROM '$OUT/item_factors.tsv'" \
    -c "GRANT SELECT ON user_factors, item_factors TO bench_app"
cat >"$OUT/handwritten.sql" <<SQL
\\set u random(0, $((USERS - 1)))
SELECT i.item_id, (SELECT sum(a * b) FROM unnest(u.v, i.v) AS t(a, b)) AS score
FROM user_factors u, item_factors i
WHERE u.user_id = 'u' || lpad(:u::text, 6, '0')
  AND NOT EXISTS (SELECT 1 FROM recsys.interactions x WHERE x.user_id = u.user_id AND x.item_id = i.item_id)
ORDER BY score DESC LIMIT 10;
SQL
rm -f "$OUT"/pgbench_log.*
(cd "$OUT" && "$PG_BIN/pgbench" -n -M prepared -c 4 -j 2 -T "$DURATION" -U bench_app -f handwritten.sql -l $DB >"$OUT/pgbench-hand.out")
read -r h50 h99 hn < <(percentiles)

cat <<REPORT

# recsys extension benchmarks ($(date -u +%Y-%m-%d), $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)
data: $USERS users x $ITEMS items, $(($(wc -l <"$DATA") - 1)) interactions; ALS $PARAMS

training, median of 3:  SQL recsys.train ${sql_train}s   CLI recsys train ${cli_train}s   ratio $(awk -v a="$sql_train" -v b="$cli_train" 'BEGIN { printf "%.2f", a / b }')
recsys.recommend(user, 10), pgbench 4 clients ${DURATION}s: p50 ${p50} ms  p99 ${p99} ms  ($n transactions, $tps tps)
recsys.recommend(user, 10), pgbench 1 client ${DURATION}s:  p50 ${s50} ms  p99 ${s99} ms  ($sn transactions)
hand-written SQL over factor tables, same load:        p50 ${h50} ms  p99 ${h99} ms  ($hn transactions)
REPORT
