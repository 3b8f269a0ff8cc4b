#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# recsys-pipelines against a real Kafka-protocol broker (tansu, started and stopped here):
# JSON events from a 3-partition topic into recsys.interactions with the consumer's offsets
# committed in the same transaction, so three SIGKILLs mid-run lose and repeat nothing; bad
# messages are dead letters with their partition and offset; --follow picks up new messages
# and stops cleanly on SIGTERM.
source "$(dirname "$0")/lib/pipelines.sh"
ensure_kafka_broker
PRODUCE=$ROOT/target/release/examples/kafka_produce
KAFKA_PORT=${RECSYS_KAFKA_TEST_PORT:-9192}
BROKER=127.0.0.1:$KAFKA_PORT
TOPIC=kafka://$BROKER/clicks
login_role $DB pl_acme acme recsys_operator
login_role $DB pl_globex globex recsys_operator

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; }
for _ in $(seq 100); do port_open || break; sleep 0.1; done
port_open && fail "port $KAFKA_PORT is taken: set RECSYS_KAFKA_TEST_PORT"
tansu broker --listener-url "tcp://$BROKER" --advertised-listener-url "tcp://$BROKER" \
    --storage-engine memory://tansu/ >"$OUT/tansu.log" 2>&1 &
KAFKA_PID=$!
trap 'kill $KAFKA_PID 2>/dev/null && wait $KAFKA_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do port_open && break; sleep 0.1; done
kill -0 $KAFKA_PID 2>/dev/null || fail "tansu did not start: $(head -n 5 "$OUT/tansu.log")"
# JSON events numbered from $1 to $2, each with its event id.
events() { # first last file
    seq "$1" "$2" | awk '{printf "{\"event_id\":\"k%d\",\"user_id\":\"u%d\",\"item_id\":\"i%d\",\"timestamp\":%d}\n", $1, $1 % 2000, ($1 * 7) % 500, 1700000000 + $1}' >"$3"
}
produce() { "$PRODUCE" "$BROKER" clicks 3 "$1" >/dev/null || fail "producing $1 failed: is tansu up? $(tail -n 3 "$OUT/tansu.log")"; }

log "pipelines: Kafka (tansu), three partitions, killed three times"
cat >"$OUT/bad.jsonl" <<'JSON'
{"user_id": "u1", "item_id": "i1", "weight": "NaN"}
{"item_id": "i1"}
{"user_id": [1], "item_id": "i1"
JSON
produce "$OUT/bad.jsonl"
events 1 150000 "$OUT/first.jsonl"
produce "$OUT/first.jsonl"
kill_three_times pl_acme clicks "$TOPIC" 15000 --batch-size 2000
out=$(pipe pl_acme clicks "$TOPIC" --batch-size 2000) || fail "the run after the kills failed: $(tail -n 5 "$OUT/log")"
got=$(q $DB -U pl_acme -c "SELECT count(*) || '/' || count(DISTINCT event_id) || '/' || min(substr(event_id, 2)::int) || '/' || max(substr(event_id, 2)::int) FROM recsys.interactions")
[ "$got/$(state pl_acme clicks duplicates)" = "150000/150000/1/150000/0" ] \
    || fail "after 3 kills: count/distinct/min/max $got, duplicates $(state pl_acme clicks duplicates)"
pass "killed with SIGKILL three times mid-run: 150,000 Kafka events, 0 lost, 0 read twice"
[ "$(q $DB -U pl_acme -c "SELECT count(*) FROM recsys.dead_letters WHERE pipeline = 'clicks' AND origin ~ '^kafka://clicks/[0-2]@[0-9]+\$'")" = 3 ] \
    || fail "the 3 bad messages are not dead letters with their partition and offset: $(q $DB -U pl_acme -c "SELECT origin, reason FROM recsys.dead_letters")"
[ "$(q $DB -U pl_acme -c "SELECT sum((value)::bigint) FROM recsys.pipeline_state, jsonb_each(position->'offsets')")" = 150003 ] \
    || fail "the stored offsets do not add up to the 150,003 messages"
pass "3 bad messages are dead letters with partition and offset; the offsets stored add up to every message"

events 150001 151000 "$OUT/more.jsonl"
produce "$OUT/more.jsonl"
out=$(pipe pl_acme clicks "$TOPIC") || fail "the next run failed"
[ "$(summary inserted <<<"$out")/$(count pl_acme)" = 1000/151000 ] || fail "new messages: $out"
out=$(pipe pl_acme clicks "$TOPIC") || fail "the idle run failed"
[ "$(summary inserted <<<"$out")/$(summary batches <<<"$out")" = 0/0 ] || fail "an idle run read again: $out"
pass "a later run reads only the 1,000 new messages; an idle one reads nothing"

pipe_background pl_acme clicks "$TOPIC" --follow
pid=$!
sleep 1
events 151001 151500 "$OUT/late.jsonl"
produce "$OUT/late.jsonl"
for _ in $(seq 200); do [ "$(count pl_acme)" = 151500 ] && break; sleep 0.1; done
[ "$(count pl_acme)" = 151500 ] || fail "--follow did not pick up 500 new messages: $(count pl_acme)"
kill -TERM $pid
wait $pid || fail "--follow stopped by SIGTERM exit $?, not 0"
pass "--follow commits messages as they arrive and stops cleanly on SIGTERM"

[ "$(q $DB -U pl_globex -c "SELECT count(*) FROM recsys.interactions")/$(q $DB -U pl_globex -c "SELECT count(*) FROM recsys.pipeline_state")" = 0/0 ] \
    || fail "globex sees acme's events or pipeline"
out=$(pipe pl_globex clicks "$TOPIC" --batch-size 50000) || fail "globex's run failed"
[ "$(count pl_globex)/$(count pl_acme)" = 151500/151500 ] || fail "globex's own pipeline of the topic: $(count pl_globex)"
set +e
pipe pl_acme clicks "kafka://$BROKER/nowhere" >/dev/null; c1=$?
pipe pl_acme other "kafka://127.0.0.1:1/clicks" --kafka-retry-seconds 2 >/dev/null; c2=$?
set -e
[ "$c1/$c2" = 2/1 ] || fail "another topic for a pipeline, an unreachable broker exit $c1/$c2, not 2/1"
pass "each tenant keeps its own offsets of the same topic; a changed topic exits 2, an unreachable broker 1"
