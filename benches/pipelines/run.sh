#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# recsys-pipelines throughput on a throwaway cluster of its own (.build/pg-bench), against the
# floor a hand-written load reaches on the same machine in the same run (psql \copy of the
# uncompressed TSV into a temporary table, then one INSERT … ON CONFLICT DO NOTHING, as
# tests/integration/common.sh loads data):
#  1. S3: EVENTS events (5M) as 10 CSV.gz objects on a local S3-compatible server
#     (scripts/s3-server), `recsys-pipelines run` from an empty table; then the same events as
#     10 Parquet objects (pyarrow, Snappy);
#  2. Kafka: KAFKA_EVENTS JSON messages (1M) on 3 partitions of a local tansu broker,
#     `recsys-pipelines run` until every partition is read.
# Medians of REPEAT runs (3); each starts from an empty table and a new pipeline.
# Usage: benches/pipelines/run.sh [EVENTS KAFKA_EVENTS]
export RECSYS_PGDIR=${RECSYS_PGDIR:-$(cd "$(dirname "$0")/../.." && pwd)/.build/pg-bench}
export RECSYS_PGPORT=${RECSYS_PGPORT:-5490}
source "$(dirname "$0")/../../scripts/lib.sh"
EVENTS=${1:-5000000} KAFKA_EVENTS=${2:-1000000} REPEAT=${REPEAT:-3}
S3_PORT=8016 KAFKA_PORT=9193
ensure_tools
ensure_packages python3-venv
ensure_kafka_broker
(cd "$ROOT" && cargo build --release -p recsys-cli -p recsys-pipelines --bins --examples --quiet)
install_extension
start_cluster
tune_for_benchmarks
OUT=$BUILD/bench-pipelines
rm -rf "$OUT/s3" && mkdir -p "$OUT/objects"
RECSYS=$ROOT/target/release/recsys PIPE=$ROOT/target/release/recsys-pipelines
export AWS_ACCESS_KEY_ID=recsys AWS_SECRET_ACCESS_KEY=recsys-secret AWS_REGION=us-east-1
ensure_s3_server
RECSYS_S3_PORT=$S3_PORT RECSYS_S3_DIR=$OUT/s3 bash "$ROOT/scripts/s3-server" >"$OUT/s3-server.log" 2>&1 &
S3_PID=$!
tansu broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://tansu/ >"$OUT/tansu.log" 2>&1 &
KAFKA_PID=$!
trap 'kill $S3_PID $KAFKA_PID 2>/dev/null || true; stop_cluster' EXIT
VENV=$BUILD/venv-s3
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import boto3, pyarrow' 2>/dev/null || "$VENV/bin/pip" install -q "boto3==1.44.5" "pyarrow==26.0.1"

DATA=$OUT/data-$EVENTS.tsv
[ -f "$DATA" ] || "$RECSYS" -q generate --users 200000 --items 50000 --interactions "$EVENTS" --seed 5 -o "$DATA" >/dev/null
rows=$(($(wc -l <"$DATA") - 1))
log "S3: $rows events as 10 CSV.gz objects"
rm -f "$OUT"/objects/*
tail -n +2 "$DATA" | split -l $(((rows + 9) / 10)) -d --additional-suffix=.csv - "$OUT/objects/events-"
for f in "$OUT"/objects/*.csv; do { echo "user_id,item_id,timestamp"; tr '\t' , <"$f"; } | gzip -1 >"$f.gz" && rm "$f"; done
"$VENV/bin/python" - "http://127.0.0.1:$S3_PORT" "$OUT"/objects/*.csv.gz <<'PY'
import os, sys, boto3
import pyarrow.csv, pyarrow.parquet
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
s3.create_bucket(Bucket="bench")
for path in sys.argv[2:]:
    s3.upload_file(path, "bench", "events/" + os.path.basename(path))
    parquet = path.replace(".csv.gz", ".parquet")
    pyarrow.parquet.write_table(pyarrow.csv.read_csv(path), parquet)
    s3.upload_file(parquet, "bench", "parquet/" + os.path.basename(parquet))
PY

DB=recsys_bench_pipelines
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys" -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS bench_pipeline" \
    -c "CREATE ROLE bench_pipeline LOGIN" -c "GRANT recsys_operator TO bench_pipeline" -c "SELECT recsys.bind_role('bench_pipeline', 'bench')" >/dev/null
URL="postgres://bench_pipeline@localhost/$DB?host=$PGSOCK&port=$PGPORT"
empty() { pg -q -d $DB -c "TRUNCATE recsys.interactions, recsys.dead_letters" -c "DELETE FROM recsys.pipeline_state" -c "CHECKPOINT"; }
seconds() { local start=$1; awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }'; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
inserted() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["inserted"])'; }
baseline() { # file rows: the hand-written load
    empty
    local start
    start=$(date +%s.%N)
    pg -q -d $DB -U bench_pipeline -c "CREATE TEMP TABLE s (user_id text, item_id text, ts bigint)" \
        -c "\\copy s FROM '$1' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
        -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, occurred_at) SELECT md5(user_id || '/' || item_id || '/' || ts), user_id, item_id, to_timestamp(ts) FROM s ON CONFLICT DO NOTHING"
    seconds "$start"
}
pipeline() { # source rows [flags]
    local source=$1 want=$2 start out
    shift 2
    empty
    start=$(date +%s.%N)
    out=$("$PIPE" run --database-url "$URL" --pipeline bench --source "$source" "$@" 2>>"$OUT/pipelines.log")
    local took
    took=$(seconds "$start")
    [ "$(inserted <<<"$out")" = "$want" ] || { echo "the run inserted $(inserted <<<"$out"), not $want" >&2; exit 1; }
    echo "$took"
}

s3_times=() parquet_times=() base_times=()
for _ in $(seq "$REPEAT"); do
    s3_times+=("$(pipeline s3://bench/events/ "$rows" --s3-endpoint "http://127.0.0.1:$S3_PORT")")
    parquet_times+=("$(pipeline s3://bench/parquet/ "$rows" --s3-endpoint "http://127.0.0.1:$S3_PORT")")
    base_times+=("$(baseline "$DATA")")
done
s3=$(printf '%s\n' "${s3_times[@]}" | median)
parquet=$(printf '%s\n' "${parquet_times[@]}" | median)
base=$(printf '%s\n' "${base_times[@]}" | median)

log "Kafka: $KAFKA_EVENTS JSON messages on 3 partitions"
KDATA=$OUT/kafka-$KAFKA_EVENTS.tsv
[ -f "$KDATA" ] || "$RECSYS" -q generate --users 200000 --items 50000 --interactions "$KAFKA_EVENTS" --seed 6 -o "$KDATA" >/dev/null
krows=$(($(wc -l <"$KDATA") - 1))
tail -n +2 "$KDATA" | awk -F'\t' '{printf "{\"event_id\":\"k%d\",\"user_id\":\"%s\",\"item_id\":\"%s\",\"timestamp\":%s}\n", NR, $1, $2, $3}' >"$OUT/kafka.jsonl"
"$ROOT/target/release/examples/kafka_produce" "127.0.0.1:$KAFKA_PORT" bench 3 "$OUT/kafka.jsonl" >/dev/null
kafka_times=() kbase_times=()
for _ in $(seq "$REPEAT"); do
    kafka_times+=("$(pipeline "kafka://127.0.0.1:$KAFKA_PORT/bench" "$krows")")
    kbase_times+=("$(baseline "$KDATA")")
done
kafka=$(printf '%s\n' "${kafka_times[@]}" | median)
kbase=$(printf '%s\n' "${kbase_times[@]}" | median)

cat <<EOT
machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; PostgreSQL $PG_VERSION; medians of $REPEAT
| | events | recsys-pipelines | events/s | hand-written load | ratio |
| --- | ---: | ---: | ---: | ---: | ---: |
| S3, 10 CSV.gz objects | $rows | ${s3} s | $(awk -v n="$rows" -v t="$s3" 'BEGIN { printf "%.0f", n / t }') | ${base} s | $(awk -v a="$s3" -v b="$base" 'BEGIN { printf "%.2f", a / b }') |
| S3, 10 Parquet objects | $rows | ${parquet} s | $(awk -v n="$rows" -v t="$parquet" 'BEGIN { printf "%.0f", n / t }') | ${base} s | $(awk -v a="$parquet" -v b="$base" 'BEGIN { printf "%.2f", a / b }') |
| Kafka, 3 partitions | $krows | ${kafka} s | $(awk -v n="$krows" -v t="$kafka" 'BEGIN { printf "%.0f", n / t }') | ${kbase} s | $(awk -v a="$kafka" -v b="$kbase" 'BEGIN { printf "%.2f", a / b }') |
EOT
