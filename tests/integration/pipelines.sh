#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# recsys-pipelines against this cluster and a real S3-compatible server (scripts/s3-server,
# started and stopped here; objects uploaded with boto3): files and objects (CSV, TSV, JSON Lines; gzip,
# zstd) into recsys.interactions exactly once across re-runs, new objects, backfills and
# kill -9; every bad record a dead letter with its reason, the rest committed; the dead-letter
# limit that stops a run; the state tables isolated by tenant.
source "$(dirname "$0")/lib/pipelines.sh"
ensure_packages zstd python3-venv
S3_PORT=${RECSYS_S3_TEST_PORT:-8014}
VENV=$BUILD/venv-s3
mkdir -p "$OUT/in" "$OUT/s3"
for t in acme globex initech umbrella; do login_role $DB "pl_$t" $t recsys_operator; done

log "pipelines: files (TSV, CSV.gz, JSON Lines.zst) into one tenant"
# The generator makes about as many distinct pairs as asked: ask for more, keep 20,000.
"$RECSYS_BIN" -q generate --users 2000 --items 1000 --interactions 25000 --seed 3 -o "$OUT/all.tsv" >/dev/null
header=$(head -n 1 "$OUT/all.tsv")
{ echo "$header"; sed -n 2,8001p "$OUT/all.tsv"; } >"$OUT/in/2026-11-01.tsv"
{ echo "$header" | tr '\t' ,; sed -n 8002,14001p "$OUT/all.tsv" | tr '\t' ,; } | gzip >"$OUT/in/2026-11-02.csv.gz"
sed -n 14002,20001p "$OUT/all.tsv" | awk -F'\t' '{printf "{\"user_id\":\"%s\",\"item_id\":\"%s\",\"timestamp\":%s}\n", $1, $2, $3}' \
    | zstd -q >"$OUT/in/2026-11-03.jsonl.zst"
long=$(printf 'x%.0s' $(seq 600))
cat >"$OUT/in/2026-11-04.jsonl" <<JSON
{"user_id": "u1", "item_id": "i1", "weight": "NaN"}
{"user_id": "u1"}
not json at all
{"user_id": "$long", "item_id": "i1"}
{"user_id": true, "item_id": "i1"}
{"user_id": "u2", "item_id": "i2", "weight": -3}
{"user_id": "u3", "item_id": "i3", "occurred_at": "yesterday"}
{"user_id": "ok", "item_id": "fine", "event_id": "good-1", "weight": 2.5, "occurred_at": "2026-11-04T12:00:00Z"}
JSON
echo "no header here" >"$OUT/in/2026-11-05.csv"
echo "marker" >"$OUT/in/_SUCCESS"
out=$(pipe pl_acme files "$OUT/in" --batch-size 3000) || fail "the first run failed: $(tail -n 5 "$OUT/log")"
[ "$(count pl_acme)" = 20001 ] || fail "$(count pl_acme) interactions after the first run, not 20001"
[ "$(summary inserted <<<"$out")" = 20001 ] || fail "summary: $out"
pass "20,000 events of three formats and compressions and 1 good JSON line committed; _SUCCESS ignored"
reasons=$(q $DB -U pl_acme -c "SELECT string_agg(reason, ' | ' ORDER BY id) FROM recsys.dead_letters WHERE pipeline = 'files'")
for why in "weight must be a number, not a string" "no item_id" "not JSON" "user_id is 600 bytes long" \
           "user_id must be a string or an integer, not a boolean" "weight -3 is not a finite number above 0" \
           "occurred_at \"yesterday\" is not RFC 3339" "object skipped from line 1: the header names no user"; do
    [[ $reasons == *"$why"* ]] || fail "no dead letter says '$why': $reasons"
done
[ "$(q $DB -U pl_acme -c "SELECT count(*) FROM recsys.dead_letters")" = 8 ] || fail "not 8 dead letters"
[ "$(q $DB -U pl_acme -c "SELECT origin FROM recsys.dead_letters WHERE reason LIKE 'no item_id%'")" = "file://$OUT/in/2026-11-04.jsonl:2" ] \
    || fail "a dead letter's origin is not its object and line"
[ "$(q $DB -U pl_acme -c "SELECT weight || ' ' || occurred_at FROM recsys.interactions WHERE event_id = 'good-1'")" = "2.5 2026-11-04 12:00:00+00" ] \
    || fail "the good JSON line's weight or time was not kept"
pass "8 bad records are dead letters with their reasons and origins (bad JSON, missing id, NaN, huge string, wrong types, bad header)"

out=$(pipe pl_acme files "$OUT/in") || fail "the second run failed"
[ "$(summary inserted <<<"$out")/$(summary batches <<<"$out")/$(count pl_acme)" = "0/0/20001" ] || fail "a re-run read or inserted again: $out"
{ echo "user_id	item_id	timestamp"; printf 'n1\ti1\t1700000000\nn2\ti2\t1700000001\n'; } >"$OUT/in/2026-11-06.tsv"
out=$(pipe pl_acme files "$OUT/in") || fail "the third run failed"
[ "$(summary inserted <<<"$out")/$(count pl_acme)/$(state pl_acme files duplicates)" = "2/20003/0" ] || fail "a new object: $out"
pass "a re-run inserts nothing; a new object is picked up alone; nothing was ever read twice"

from=$(q $DB -U pl_acme -c "SELECT to_char(min(occurred_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM recsys.interactions")
to=$(q $DB -U pl_acme -c "SELECT to_char(percentile_disc(0.4) WITHIN GROUP (ORDER BY occurred_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM recsys.interactions")
deleted=$(q $DB -U pl_acme -c "WITH d AS (DELETE FROM recsys.interactions WHERE occurred_at >= '$from' AND occurred_at < '$to' RETURNING 1) SELECT count(*) FROM d")
[ "$deleted" -gt 5000 ] && [ "$deleted" -lt 10000 ] || fail "the range held only $deleted events"
position=$(state pl_acme files position)
out=$("$PIPE" backfill --database-url "$(url pl_acme)" --pipeline files --source "$OUT/in" --from "$from" --to "$to" 2>>"$OUT/log") \
    || fail "the backfill failed"
[ "$(summary inserted <<<"$out")/$(count pl_acme)" = "$deleted/20003" ] || fail "backfill of $deleted events: $out"
[ "$(state pl_acme files position)" = "$position" ] || fail "the backfill moved the checkpoint"
out=$("$PIPE" backfill --database-url "$(url pl_acme)" --pipeline files --source "$OUT/in" --from "$from" --to "$to" 2>>"$OUT/log")
[ "$(summary inserted <<<"$out")" = 0 ] || fail "a second backfill inserted again: $out"
pass "backfill --from --to restores the $deleted events of a range, again inserts nothing, keeps the checkpoint"

# The pg_cron recipe of docs/how-to/schedule-pipelines.md: train only when a pipeline committed since the last version.
retrain_if_new_events() {
    PGOPTIONS="-c client_min_messages=warning" q $DB -U pl_acme -c "SELECT count(*) FROM recsys.train('default', 'als', '{\"seed\": 1}')
        WHERE EXISTS (SELECT 1 FROM recsys.pipeline_state p
                      WHERE p.updated_at > coalesce((SELECT max(v.created_at) FROM recsys.model_versions v
                                                     WHERE v.model = 'default'), '-infinity'))"
}
t1=$(retrain_if_new_events) t2=$(retrain_if_new_events)
{ echo "user_id	item_id	timestamp"; printf 'n3\ti3\t1700000002\n'; } >"$OUT/in/2026-11-07.tsv"
pipe pl_acme files "$OUT/in" >/dev/null || fail "the run of a new object failed"
t3=$(retrain_if_new_events)
[ "$t1/$t2/$t3/$(q $DB -U pl_acme -c "SELECT count(*) FROM recsys.model_versions")" = "1/0/1/2" ] \
    || fail "retraining after ingest trained $t1/$t2/$t3 times, not 1/0/1"
pass "the retrain-after-ingest statement trains after new events only"

# --train: the pipeline step that trains after a run that inserted events, here incrementally.
trained() { python3 -c 'import json,sys; t = json.loads(sys.stdin.read().strip().splitlines()[-1])["trained"]; print(t and t["version"])'; }
{ echo "user_id	item_id	timestamp"; printf 'n4\ti1\t1700000003\nn4\ti2\t1700000004\n'; } >"$OUT/in/2026-11-08.tsv"
out=$(pipe pl_acme files "$OUT/in" --train default --train-params '{"seed": 1, "incremental": true}') \
    || fail "a run with --train failed: $(tail -n 5 "$OUT/log")"
[ "$(trained <<<"$out")" = 3 ] || fail "--train after new events: $out"
[ "$(q $DB -U pl_acme -c "SELECT manifest->'metrics'->>'incremental' FROM recsys.model_versions WHERE model = 'default' AND version = 3")" = true ] \
    || fail "the --train step did not train incrementally"
out=$(pipe pl_acme files "$OUT/in" --train default --train-params '{"seed": 1, "incremental": true}') || fail "a run without new events failed"
[ "$(trained <<<"$out")/$(q $DB -U pl_acme -c "SELECT count(*) FROM recsys.model_versions")" = "None/3" ] || fail "--train without new events: $out"
set +e
pipe pl_acme files "$OUT/in" --train default --train-params '[1]' >/dev/null; code=$?
set -e
[ $code = 2 ] || fail "--train-params that is not an object exits $code, not 2"
pass "--train trains (incrementally) after a run that inserted events, not after one that did not"

# --into items: a catalogue feed into recsys.items.
mkdir -p "$OUT/catalogue"
printf 'item_id,genre,in_stock\ni1,drama,yes\ni2,comedy,no\n,orphan,yes\n' >"$OUT/catalogue/2026-11-01.csv"
printf '{"item": "i3", "price": 9.5, "tags": ["new"]}\n{"item": "i1", "genre": "drama", "available": "maybe"}\n' >"$OUT/catalogue/2026-11-02.jsonl"
out=$(pipe pl_acme catalogue "$OUT/catalogue" --into items) || fail "the catalogue run failed: $(tail -n 5 "$OUT/log")"
[ "$(summary inserted <<<"$out")/$(summary dead_letters <<<"$out")" = "3/2" ] || fail "catalogue run: $out"
[ "$(q $DB -U pl_acme -c "SELECT string_agg(item_id || ' ' || available || ' ' || attributes::text, ' | ' ORDER BY item_id) FROM recsys.items")" \
    = 'i1 true {"genre": "drama"} | i2 false {"genre": "comedy"} | i3 true {"tags": ["new"], "price": 9.5}' ] \
    || fail "catalogue rows: $(q $DB -U pl_acme -c "SELECT string_agg(item_id || ' ' || available || ' ' || attributes::text, ' | ' ORDER BY item_id) FROM recsys.items")"
[ "$(q $DB -U pl_acme -c "SELECT count(*) FROM recsys.dead_letters WHERE pipeline = 'catalogue' AND reason IN ('item_id is empty', 'available \"maybe\" is not true or false')")" = 2 ] \
    || fail "the bad catalogue rows are not dead letters with their reasons"
printf 'item_id,genre,in_stock\ni2,comedy,yes\ni3,,yes\ni1,drama,yes\n' >"$OUT/catalogue/2026-11-03.csv"
out=$(pipe pl_acme catalogue "$OUT/catalogue" --into items) || fail "the second catalogue run failed"
[ "$(summary inserted <<<"$out")/$(summary duplicates <<<"$out")" = "2/1" ] || fail "a catalogue update: $out"
[ "$(q $DB -U pl_acme -c "SELECT available || ' ' || attributes::text FROM recsys.items WHERE item_id = 'i2'")/$(q $DB -U pl_acme -c "SELECT attributes::text FROM recsys.items WHERE item_id = 'i3'")" \
    = 'true {"genre": "comedy"}/{"genre": ""}' ] || fail "the catalogue update did not replace i2 and i3"
[ "$(q $DB -U pl_globex -c "SELECT count(*) FROM recsys.items")" = 0 ] || fail "another tenant sees the catalogue"
set +e
"$PIPE" backfill --database-url "$(url pl_acme)" --pipeline catalogue --source "$OUT/catalogue" --into items \
    --from 2026-01-01T00:00:00Z --to 2027-01-01T00:00:00Z >/dev/null 2>>"$OUT/log"; code=$?
set -e
[ $code = 2 ] || fail "a catalogue backfill exits $code, not 2"
pass "--into items: catalogue rows upserted with attributes and availability, bad rows dead letters, a changed row rewritten, an unchanged one not"

mkdir -p "$OUT/bad" && cp "$OUT/in/2026-11-04.jsonl" "$OUT/bad/"
set +e
pipe pl_acme strict "$OUT/bad" --max-dead-letters 3 >/dev/null
code=$?
set -e
[ $code = 3 ] || fail "more dead letters than --max-dead-letters exit $code, not 3"
[ "$(q $DB -U pl_acme -c "SELECT count(*) FROM recsys.dead_letters WHERE pipeline = 'strict'")/$(q $DB -U pl_acme -c "SELECT count(*) FROM recsys.interactions WHERE event_id = 'good-1'")" = "0/1" ] \
    || fail "the batch that crossed the limit was committed"
set +e
pipe pl_acme 'bad name' "$OUT/in" >/dev/null; c1=$?
pipe pl_acme files "$OUT/nowhere" >/dev/null; c2=$?
pipe pl_acme files "s3://x" >/dev/null; c3=$?
set -e
[ "$c1/$c2/$c3" = "2/2/2" ] || fail "a bad name, folder or a changed source exit $c1/$c2/$c3, not 2/2/2"
pass "the dead-letter limit stops a run (exit 3) without committing its batch; bad arguments exit 2"

[ "$(q $DB -U pl_globex -c "SELECT count(*) FROM recsys.pipeline_state")/$(q $DB -U pl_globex -c "SELECT count(*) FROM recsys.dead_letters")" = 0/0 ] \
    || fail "globex sees acme's pipeline state or dead letters"
[ "$(q $DB -U pl_globex -c "WITH u AS (UPDATE recsys.pipeline_state SET position = NULL RETURNING 1) SELECT count(*) FROM u")" = 0 ] \
    || fail "globex reset acme's checkpoint"
if pg -q -d $DB -U pl_globex -c "INSERT INTO recsys.pipeline_state (tenant_id, pipeline, source) VALUES ('acme', 'x', 'file')" 2>/dev/null; then
    fail "globex wrote a pipeline state row for acme"
fi
pass "pipeline state and dead letters are isolated by tenant (row-level security)"

log "pipelines: kill -9 three times during a run"
"$RECSYS_BIN" -q generate --users 5000 --items 2000 --interactions 220000 --seed 11 -o "$OUT/big.tsv" >/dev/null
mkdir -p "$OUT/big" && split -l 50000 --additional-suffix=.tsv <(sed -n 2,200001p "$OUT/big.tsv") "$OUT/big/part-"
for f in "$OUT"/big/part-*; do { head -n 1 "$OUT/big.tsv"; cat "$f"; } >"$f.tmp" && mv "$f.tmp" "$f"; done
kill_three_times pl_initech big "$OUT/big" 20000 --batch-size 2000
out=$(pipe pl_initech big "$OUT/big" --batch-size 2000) || fail "the run after the kills failed"
[ "$(count pl_initech)/$(state pl_initech big events)/$(state pl_initech big duplicates)" = "200000/200000/0" ] \
    || fail "after 3 kills: $(count pl_initech) interactions, state $(state pl_initech big 'events || \" \" || duplicates')"
pass "killed with SIGKILL three times mid-run: 200,000 events, 0 lost, 0 read twice"

log "pipelines: an S3-compatible server (s3s-fs) and objects uploaded with boto3"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import boto3, pyarrow' 2>/dev/null || "$VENV/bin/pip" install -q "boto3==1.44.5" "pyarrow==26.0.1"
export AWS_ACCESS_KEY_ID=recsys-test AWS_SECRET_ACCESS_KEY=recsys-test-secret AWS_REGION=us-east-1
ensure_s3_server
RECSYS_S3_PORT=$S3_PORT RECSYS_S3_DIR=$OUT/s3 bash "$ROOT/scripts/s3-server" >"$OUT/s3-server.log" 2>&1 &
S3_PID=$!
trap 'kill $S3_PID 2>/dev/null && wait $S3_PID 2>/dev/null || true' EXIT
ENDPOINT=http://127.0.0.1:$S3_PORT
for _ in $(seq 100); do curl -s -o /dev/null "$ENDPOINT" && break; sleep 0.1; done
upload() { # key file...
    "$VENV/bin/python" - "$ENDPOINT" "$@" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
if "events" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket="events")
for key, path in zip(sys.argv[2::2], sys.argv[3::2]):
    s3.upload_file(path, "events", key)
PY
}
upload daily/2026-11-02.csv.gz "$OUT/in/2026-11-02.csv.gz" daily/2026-11-03.jsonl.zst "$OUT/in/2026-11-03.jsonl.zst" \
    other/2026-11-01.tsv "$OUT/in/2026-11-01.tsv"
out=$(pipe pl_umbrella s3 s3://events/daily/ --s3-endpoint "$ENDPOINT") || fail "the S3 run failed: $(tail -n 5 "$OUT/log")"
[ "$(count pl_umbrella)/$(q $DB -U pl_umbrella -c "SELECT count(*) FROM recsys.interactions WHERE event_id LIKE 'h:%'")" = 12000/12000 ] \
    || fail "$(count pl_umbrella) interactions from s3://events/daily/, not 12000"
upload daily/2026-11-06.tsv "$OUT/in/2026-11-06.tsv"
out=$(pipe pl_umbrella s3 s3://events/daily/ --s3-endpoint "$ENDPOINT") || fail "the second S3 run failed"
[ "$(summary inserted <<<"$out")/$(count pl_umbrella)" = 2/12002 ] || fail "a new object in S3: $out"
[ "$(state pl_umbrella s3 "position->>'key'")" = daily/2026-11-06.tsv ] || fail "the S3 checkpoint is not the last object"
set +e
AWS_SECRET_ACCESS_KEY=wrong pipe pl_umbrella s3 s3://events/daily/ --s3-endpoint "$ENDPOINT" >/dev/null; code=$?
set -e
[ $code = 1 ] || fail "wrong S3 credentials exit $code, not 1"
pass "S3: objects under a prefix (CSV.gz, JSON Lines.zst) ingested, a new object alone picked up, a refused request stops with exit 1"

log "pipelines: Parquet (pyarrow, snappy), resumed inside a file"
mkdir -p "$OUT/parquet"
"$VENV/bin/python" - "$OUT/all.tsv" "$OUT/parquet/2026-11-01.parquet" <<'PY'
import sys, pyarrow as pa, pyarrow.parquet as pq
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])][1:8001]
items = [r[1] for r in rows]
weights = [1.0 + i % 3 for i in range(len(rows))]
items[4999] = None                 # row 5000: no item
weights[6999] = float("nan")       # row 7000: a NaN weight
table = pa.table({
    "user_id": pa.array([r[0] for r in rows], pa.string()),
    "item_id": pa.array(items, pa.string()),
    "weight": pa.array(weights, pa.float32()),
    "ts": pa.array([int(r[2]) * 1000 for r in rows], pa.timestamp("ms", tz="UTC")),
})
pq.write_table(table, sys.argv[2], row_group_size=2500)
PY
set +e
pipe pl_umbrella parquet "$OUT/parquet" --batch-size 3000 --max-dead-letters 0 >/dev/null; code=$?
set -e
[ "$code/$(state pl_umbrella parquet "position->>'line'")" = "3/3000" ] || fail "the limited Parquet run: exit $code, checkpoint $(state pl_umbrella parquet position)"
out=$(pipe pl_umbrella parquet "$OUT/parquet" --batch-size 3000) || fail "the resumed Parquet run failed: $(tail -n 5 "$OUT/log")"
[ "$(summary inserted <<<"$out")/$(state pl_umbrella parquet events)/$(state pl_umbrella parquet duplicates)" = "4998/7998/0" ] \
    || fail "resumed inside a Parquet file: $out"
reasons=$(q $DB -U pl_umbrella -c "SELECT string_agg(origin || ' ' || reason, ' | ' ORDER BY id) FROM recsys.dead_letters WHERE pipeline = 'parquet'")
[[ $reasons == *"2026-11-01.parquet:5000 no item_id"*"2026-11-01.parquet:7000 weight must be a number, not a string"* ]] \
    || fail "Parquet dead letters: $reasons"
IFS=$'\t' read -r user item ts < <(sed -n 2p "$OUT/all.tsv")
[ "$(q $DB -U pl_umbrella -c "SELECT weight FROM recsys.interactions
      WHERE user_id = '$user' AND item_id = '$item' AND occurred_at = to_timestamp($ts) AND event_id LIKE 'h:%' LIMIT 1")" = 1 ] \
    || fail "a Parquet row's time or weight was not kept"
upload parquet/2026-11-01.parquet "$OUT/parquet/2026-11-01.parquet"
out=$(pipe pl_globex s3-parquet s3://events/parquet/ --s3-endpoint "$ENDPOINT") || fail "the S3 Parquet run failed"
[ "$(summary inserted <<<"$out")/$(summary dead_letters <<<"$out")" = "7998/2" ] || fail "Parquet from S3: $out"
echo "not parquet" >"$OUT/parquet/2026-11-02.parquet"
"$VENV/bin/python" -c 'import sys, pyarrow as pa, pyarrow.parquet as pq; pq.write_table(pa.table({"customer": ["c1"], "product": ["p1"]}), sys.argv[1])' \
    "$OUT/parquet/2026-11-03.parquet"
out=$(pipe pl_umbrella parquet "$OUT/parquet") || fail "a broken Parquet file stopped the run"
[[ "$(q $DB -U pl_umbrella -c "SELECT reason FROM recsys.dead_letters WHERE origin LIKE '%2026-11-02.parquet%'")" == *"not Parquet"* ]] \
    || fail "a file that is not Parquet is not a dead letter"
[[ "$(q $DB -U pl_umbrella -c "SELECT reason FROM recsys.dead_letters WHERE origin LIKE '%2026-11-03.parquet%'")" == *"names no user"* ]] \
    || fail "a Parquet file without user and item columns is not one dead letter"
pass "Parquet (snappy, timestamps, 4 row groups): 7,998 events and 2 dead letters, resumed at row 3,001 after exit 3, from a folder and from S3; a broken file, and one without user and item columns, are one dead letter each"
