#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# docs/tutorials/pipelines-s3.md, step by step, on the test cluster: the demo data uploaded to
# a local S3 server (scripts/s3-server) by examples/pipelines/upload_demo.py, brought in by
# recsys-pipelines, a second export with a bad line, then train and recommend as the tenant.
source "$(dirname "$0")/lib/pipelines.sh"
ensure_packages python3-venv
S3_PORT=${RECSYS_S3_TEST_PORT:-8015}
ENDPOINT=http://127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=recsys AWS_SECRET_ACCESS_KEY=recsys-secret AWS_REGION=us-east-1
login_role $DB shop_pipeline shop recsys_operator
ensure_s3_server
RECSYS_S3_PORT=$S3_PORT RECSYS_S3_DIR=$OUT/s3 bash "$ROOT/scripts/s3-server" >"$OUT/s3-server.log" 2>&1 &
S3_PID=$!
trap 'kill $S3_PID 2>/dev/null && wait $S3_PID 2>/dev/null || true' EXIT
VENV=$BUILD/venv-s3
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import boto3' 2>/dev/null || "$VENV/bin/pip" install -q "boto3==1.44.5"
for _ in $(seq 100); do curl -s -o /dev/null "$ENDPOINT" && break; sleep 0.1; done

log "tutorial: from S3 to recommendations (docs/tutorials/pipelines-s3.md)"
objects=$("$VENV/bin/python" "$ROOT/examples/pipelines/upload_demo.py" "$ENDPOINT" | wc -l)
[ "$objects" = 13 ] || fail "upload_demo.py wrote $objects objects, not the 13 the tutorial says"
out=$(pipe shop_pipeline monthly s3://demo/events/ --s3-endpoint "$ENDPOINT") || fail "step 3: $(tail -n 5 "$OUT/log")"
[ "$(summary inserted <<<"$out")/$(count shop_pipeline)" = 7528/7528 ] || fail "step 3 summary: $out"
out=$(pipe shop_pipeline monthly s3://demo/events/ --s3-endpoint "$ENDPOINT")
[ "$(summary inserted <<<"$out")" = 0 ] || fail "step 3 again: $out"
status=$("$PIPE" status --database-url "$(url shop_pipeline)" --pipeline monthly)
[ "$(python3 -c 'import json,sys; p=json.load(sys.stdin)["position"]; print(p["key"], p["complete"])' <<<"$status")" = "events/2024-11.tsv.gz True" ] \
    || fail "step 3 status: $status"
pass "step 3: 13 monthly objects, 7,528 events; a second run reads nothing; status names the last object"

printf 'user\titem\tweight\ttimestamp\nu000042\ti00007\t1\t1733011200\nu000043\t\t1\t1733011200\n' | gzip >"$OUT/2024-12.tsv.gz"
"$VENV/bin/python" -c "import boto3; boto3.client('s3', endpoint_url='$ENDPOINT').upload_file('$OUT/2024-12.tsv.gz', 'demo', 'events/2024-12.tsv.gz')"
out=$(pipe shop_pipeline monthly s3://demo/events/ --s3-endpoint "$ENDPOINT") || fail "step 4"
[ "$(summary inserted <<<"$out")/$(summary dead_letters <<<"$out")" = 1/1 ] || fail "step 4 summary: $out"
[ "$(q $DB -U shop_pipeline -c "SELECT origin || ' | ' || reason FROM recsys.dead_letters")" = "s3://demo/events/2024-12.tsv.gz:3 | item_id is empty" ] \
    || fail "step 4 dead letter: $(q $DB -U shop_pipeline -c "SELECT origin || ' | ' || reason FROM recsys.dead_letters")"
pass "step 4: only the new object is read; its bad line is a dead letter with its origin and reason"

trained=$(q $DB -U shop_pipeline -c "SET client_min_messages = warning" -c "SELECT interactions FROM recsys.train('shop-als', 'als', '{\"factors\": 16, \"iterations\": 15, \"seed\": 42}')")
[ "$trained" = 7529 ] || fail "step 5 trained on $trained interactions, not 7,529"
[ "$(q $DB -U shop_pipeline -c "SELECT count(*) FROM recsys.recommend('u000042', 5, 'shop-als')")" = 5 ] || fail "step 5: not 5 recommendations"
pass "step 5: ALS trained on the 7,529 events the pipeline brought in recommends 5 items"
