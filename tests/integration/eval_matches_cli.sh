#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# recsys.eval and `recsys eval` compute the same metrics on the same data and split.
source "$(dirname "$0")/common.sh"
DB=recsys_it_eval
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_eval_op acme recsys_operator
pg -q -d $DB -U it_eval_op -v datadir="$ROOT/examples/data" -c "CREATE TEMP TABLE s (user_id text, item_id text, weight real, ts bigint)" \
    -c "\\copy s FROM '$ROOT/examples/data/interactions.tsv' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
    -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, weight, occurred_at) SELECT user_id || '/' || item_id || '/' || ts, user_id, item_id, weight, to_timestamp(ts) FROM s"
for algo in itemknn ease als; do
    pg -q -d $DB -U it_eval_op -c "SELECT * FROM recsys.train('$algo', '$algo')" >/dev/null 2>&1
    sql=$(q $DB -U it_eval_op -c "SELECT round(ndcg::numeric, 10) || ' ' || round(recall::numeric, 10) FROM recsys.eval('$algo')")
    cli=$("$RECSYS_BIN" -q eval -i "$ROOT/examples/data/interactions.tsv" -a $algo --json "$BUILD/it-eval.json" --no-diversity >/dev/null \
          && python3 -c "import json; r=json.load(open('$BUILD/it-eval.json'))['rows'][0]['metrics']; print('%.10f %.10f' % (r['ndcg'], r['recall']))")
    [ "$sql" = "$cli" ] || fail "$algo: SQL '$sql' vs CLI '$cli'"
    pass "$algo: NDCG and recall equal ($sql)"
done

# Splits by time read each interaction's timestamp through the extension's own conversion.
cut=$(awk -F'\t' 'NR > 1 {print $4}' "$ROOT/examples/data/interactions.tsv" | sort -n | awk '{a[NR] = $1} END {print a[int(NR * 0.8)]}')
check_split() { # CLI --split value, recsys.eval split JSON
    local sql cli
    sql=$(q $DB -U it_eval_op -c "SELECT round(ndcg::numeric, 10) || ' ' || round(recall::numeric, 10) FROM recsys.eval('itemknn', 10, '$2')")
    cli=$("$RECSYS_BIN" -q eval -i "$ROOT/examples/data/interactions.tsv" -a itemknn --split "$1" --cut "$cut" --json "$BUILD/it-eval.json" --no-diversity >/dev/null \
          && python3 -c "import json; r=json.load(open('$BUILD/it-eval.json'))['rows'][0]['metrics']; print('%.10f %.10f' % (r['ndcg'], r['recall']))")
    [ "$sql" = "$cli" ] || fail "itemknn, split $1: SQL '$sql' vs CLI '$cli'"
    pass "itemknn, split $1: NDCG and recall equal ($sql)"
}
check_split last '{"kind": "leave_last_out", "min_user_items": 5}'
check_split time "{\"kind\": \"time_cut\", \"cut\": $cut}"

# ALS reads no per-interaction timestamps, yet its model keeps the data's time window.
window=$(q $DB -U it_eval_op -c "SELECT (manifest->'data'->>'min_timestamp') || ' ' || (manifest->'data'->>'max_timestamp') FROM recsys.model_versions WHERE model = 'als' ORDER BY version DESC LIMIT 1")
expected=$(awk -F'\t' 'NR > 1 {print $4}' "$ROOT/examples/data/interactions.tsv" | sort -n | sed -n '1p;$p' | paste -sd' ')
[ "$window" = "$expected" ] || fail "als model time window '$window', expected '$expected'"
pass "als model keeps the data's time window ($window)"
