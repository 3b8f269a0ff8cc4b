#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Incremental ALS against a full retrain after a 1 % delta, medians of $RUNS (default 3):
#  1. MovieLens 100k with the CLI: the default split's train side without its newest 1 % is
#     the previous model's data; then a full retrain and an incremental one on the whole train
#     side, their fit times, and the NDCG@10 of both on the same test side;
#  2. recsys.train end to end (load, fit, store) on a throwaway cluster of its own
#     (.build/pg-bench), on generated data: 99 % trained, 1 % inserted, then a full and an
#     incremental training (neither activated, so each starts from the same version).
# Usage: benches/incremental/run.sh [USERS ITEMS INTERACTIONS] (default 100000 20000 2000000);
# MovieLens from $RECSYS_ML100K (default ../shared/datasets/ml-100k.inter; part 1 is skipped
# without it: its licence keeps it out of this repository).
export RECSYS_PGDIR=${RECSYS_PGDIR:-$(cd "$(dirname "$0")/../.." && pwd)/.build/pg-bench}
export RECSYS_PGPORT=${RECSYS_PGPORT:-5490}
source "$(dirname "$0")/../../scripts/lib.sh"
USERS=${1:-100000} ITEMS=${2:-20000} INTERACTIONS=${3:-2000000}
RUNS=${RUNS:-3}
ML100K=${RECSYS_ML100K:-$ROOT/../shared/datasets/ml-100k.inter}
PARAMS='{"factors": 64, "iterations": 15, "regularization": 0.05, "alpha": 1}'
ensure_tools
(cd "$ROOT" && cargo build --release -p recsys-cli --quiet)
RECSYS=$ROOT/target/release/recsys
OUT=$BUILD/bench-incremental
mkdir -p "$OUT"
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# The newest 1 % (by the timestamp in `column`) of an interaction file apart from the rest.
split_newest() { # file column base delta
    local n
    n=$(($(wc -l <"$1") - 1))
    head -n 1 "$1" | tee "$3" >"$4"
    tail -n +2 "$1" | sort -t $'\t' -k"$2,$2n" | awk -v keep=$((n - n / 100)) -v base="$3" -v delta="$4" \
        '{ print >> (NR <= keep ? base : delta) }'
}

if [ -f "$ML100K" ]; then
    log "MovieLens 100k: split, previous model on all but the newest 1 % of train"
    "$RECSYS" -q split -i "$ML100K" --train-out "$OUT/train.tsv" --test-out "$OUT/test.tsv" >/dev/null
    split_newest "$OUT/train.tsv" 4 "$OUT/base.tsv" "$OUT/delta.tsv"
    "$RECSYS" -q train -i "$OUT/base.tsv" -p "$PARAMS" -o "$OUT/previous" >/dev/null
    full_s=() incremental_s=()
    for _ in $(seq "$RUNS"); do
        full_s+=("$("$RECSYS" -q train -i "$OUT/train.tsv" -p "$PARAMS" -o "$OUT/full" | field fit_seconds)")
        incremental_s+=("$("$RECSYS" -q train -i "$OUT/train.tsv" -p "$PARAMS" --incremental-from "$OUT/previous" -o "$OUT/incremental" | field fit_seconds)")
    done
    ndcg() {
        "$RECSYS" -q recommend -m "$OUT/$1" -i "$OUT/train.tsv" --users-from "$OUT/test.tsv" -o "$OUT/$1.tsv"
        "$RECSYS" -q score --train "$OUT/train.tsv" --test "$OUT/test.tsv" --recommendations "$OUT/$1.tsv" --no-diversity | field ndcg
    }
    ml_full=$(printf '%s\n' "${full_s[@]}" | median)
    ml_incremental=$(printf '%s\n' "${incremental_s[@]}" | median)
    ml_ndcg_full=$(ndcg full) ml_ndcg_incremental=$(ndcg incremental)
    ml_ndcg_previous=$(ndcg previous)
else
    log "MovieLens 100k not at $ML100K: part 1 skipped"
fi

log "recsys.train end to end: $INTERACTIONS generated interactions"
install_extension
start_cluster
tune_for_benchmarks
trap stop_cluster EXIT
DATA=$OUT/data-$USERS-$ITEMS-$INTERACTIONS.tsv
[ -f "$DATA" ] || "$RECSYS" -q generate --users "$USERS" --items "$ITEMS" --interactions "$INTERACTIONS" --seed 11 -o "$DATA" >/dev/null
DB=recsys_bench_incremental
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys" -c "CREATE ROLE bench_incremental LOGIN" 2>/dev/null \
    || pg -q -d $DB -c "CREATE EXTENSION IF NOT EXISTS recsys"
pg -q -d $DB -c "GRANT recsys_operator TO bench_incremental" -c "SELECT recsys.bind_role('bench_incremental', 'bench')" >/dev/null
rows=$(($(wc -l <"$DATA") - 1))
# The newest 1 % by timestamp arrives after the first training.
split_newest "$DATA" 3 "$OUT/sql-base.tsv" "$OUT/sql-delta.tsv"
load() {
    pg -q -d $DB -U bench_incremental -c "CREATE TEMP TABLE s (user_id text, item_id text, ts bigint)" \
        -c "\\copy s FROM '$1' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
        -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, occurred_at) SELECT user_id || '/' || item_id, user_id, item_id, to_timestamp(ts) FROM s"
}
load "$OUT/sql-base.tsv"
train() { # params activate: wall-clock seconds of the whole call, storing the version included
    local start
    start=$(date +%s.%N)
    pg -qAt -d $DB -U bench_incremental -c "SET client_min_messages = warning" \
        -c "SELECT version FROM recsys.train('m', 'als', '$1', activate => $2)" >/dev/null
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'
}
train "$PARAMS" true >/dev/null
load "$OUT/sql-delta.tsv"
pg -q -d $DB -c "VACUUM ANALYZE recsys.interactions"
incremental_params=$(python3 -c "import json, sys; p = json.loads(sys.argv[1]); p['incremental'] = True; print(json.dumps(p))" "$PARAMS")
sql_full_s=() sql_incremental_s=()
for _ in $(seq "$RUNS"); do
    sql_full_s+=("$(train "$PARAMS" false)")
    sql_incremental_s+=("$(train "$incremental_params" false)")
done
sql_full=$(printf '%s\n' "${sql_full_s[@]}" | median)
sql_incremental=$(printf '%s\n' "${sql_incremental_s[@]}" | median)
resumed=$(pg -qAt -d $DB -U bench_incremental -c "SELECT manifest->'metrics'->>'incremental' FROM recsys.model_versions ORDER BY version DESC LIMIT 1")
if [ "$resumed" != true ]; then
    echo "the last incremental training did not resume (metrics.incremental = $resumed)" >&2
    exit 1
fi

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo
echo "machine: $cpu, $(nproc) cores; ALS $PARAMS; medians of $RUNS"
if [ -n "${ml_full:-}" ]; then
    echo "MovieLens 100k (CLI fit): full ${ml_full} s, incremental ${ml_incremental} s, ratio $(ratio "$ml_incremental" "$ml_full")"
    echo "  NDCG@10 on the test side: full ${ml_ndcg_full}, incremental ${ml_ndcg_incremental} (difference $(awk -v a="$ml_ndcg_incremental" -v b="$ml_ndcg_full" 'BEGIN { printf "%+.4f", a - b }')), previous model ${ml_ndcg_previous}"
fi
echo "recsys.train, $rows interactions + 1 % (end to end): full ${sql_full} s, incremental ${sql_incremental} s, ratio $(ratio "$sql_incremental" "$sql_full")"
