#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# recsys-pipelines reading another PostgreSQL database (a second database of this cluster,
# read by a role that may only SELECT): a query and a table, incremental by a cursor column;
# rows sharing a cursor value across batch boundaries; re-runs, new rows, kill -9 three times;
# bad rows as dead letters; a read-only connection; bad arguments.
source "$(dirname "$0")/lib/pipelines.sh"
SRC=${DB}_src
recreate_db "$SRC"
for t in soylent wonka; do login_role "$DB" "pl_$t" $t recsys_operator; done
pg -q -d "$SRC" -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS pl_reader" -c "CREATE ROLE pl_reader LOGIN" \
    -c "CREATE SCHEMA shop" -c "GRANT USAGE ON SCHEMA shop TO pl_reader" \
    -c "CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer text, product bigint, qty real, at timestamptz)" \
    -c "CREATE TABLE shop.clicks (user_id text, item_id text, ts timestamptz)" \
    -c "CREATE SEQUENCE shop.s" -c "GRANT SELECT ON ALL TABLES IN SCHEMA shop TO pl_reader" -c "GRANT USAGE ON SEQUENCE shop.s TO pl_reader"
SOURCE="postgres://pl_reader@localhost/$SRC?host=$PGSOCK&port=$PGPORT"
QUERY="SELECT id, customer AS user_id, product AS item_id, qty AS weight, at AS occurred_at FROM shop.orders"
orders() { # first last
    q "$SRC" -c "INSERT INTO shop.orders (customer, product, qty, at)
                 SELECT 'c' || i % 500, i % 300, 1 + i % 3, timestamptz '2026-11-01' + i * interval '1 second'
                 FROM generate_series($1, $2) AS i"
}

log "pipelines: a query of another PostgreSQL database, by an identity column"
orders 1 10000
q "$SRC" -c "INSERT INTO shop.orders (customer, product, qty, at) VALUES ('c1', 1, 'NaN', now()), (NULL, 2, 1, now())"
out=$(pipe pl_soylent orders "$SOURCE" --query "$QUERY" --cursor id --batch-size 3000) \
    || fail "the first run failed: $(tail -n 5 "$OUT/log")"
[ "$(summary inserted <<<"$out")/$(count pl_soylent)/$(state pl_soylent orders "position->>'after'")" = "10000/10000/10002" ] \
    || fail "first run: $out, checkpoint $(state pl_soylent orders position)"
reasons=$(q "$DB" -U pl_soylent -c "SELECT string_agg(reason, ' | ' ORDER BY origin) FROM recsys.dead_letters")
[[ $reasons == *"weight must be a number, not a string"*"user_id"* ]] || fail "dead letters: $reasons"
[ "$(q "$DB" -U pl_soylent -c "SELECT origin FROM recsys.dead_letters ORDER BY origin LIMIT 1")" = "postgres://localhost:$PGPORT/$SRC?id=10001#0" ] \
    || fail "a dead letter's origin is not the row's cursor value"
pass "10,000 rows of a query committed in batches, 2 bad rows (NaN weight, no user) dead letters with their cursor value"

out=$(pipe pl_soylent orders "$SOURCE" --query "$QUERY" --cursor id) || fail "the second run failed"
[ "$(summary inserted <<<"$out")/$(summary batches <<<"$out")" = "0/0" ] || fail "a re-run read again: $out"
orders 10001 11000
out=$(pipe pl_soylent orders "$SOURCE" --query "$QUERY" --cursor id) || fail "the third run failed"
[ "$(summary inserted <<<"$out")/$(count pl_soylent)/$(state pl_soylent orders duplicates)" = "1000/11000/0" ] \
    || fail "new rows: $out"
pass "a re-run reads nothing; 1,000 new rows alone are read; nothing read twice"

log "pipelines: a table whose cursor (a time) has 100 rows per value"
q "$SRC" -c "INSERT INTO shop.clicks SELECT 'u' || i % 701, 'i' || i % 199, timestamptz '2026-11-01' + (i / 100) * interval '1 minute'
             FROM generate_series(0, 4999) AS i"
out=$(pipe pl_wonka clicks "$SOURCE" --table shop.clicks --cursor ts --batch-size 130) || fail "the table run failed: $(tail -n 5 "$OUT/log")"
[ "$(summary inserted <<<"$out")/$(count pl_wonka)" = "5000/5000" ] || fail "rows sharing a cursor value were lost or repeated: $out"
q "$SRC" -c "INSERT INTO shop.clicks SELECT 'n' || i, 'i1', timestamptz '2026-11-02' FROM generate_series(1, 100) AS i"
out=$(pipe pl_wonka clicks "$SOURCE" --table shop.clicks --cursor ts --batch-size 130) || fail "the second table run failed"
[ "$(summary inserted <<<"$out")/$(count pl_wonka)/$(state pl_wonka clicks duplicates)" = "100/5100/0" ] || fail "new time: $out"
q "$DB" -U pl_wonka -c "DELETE FROM recsys.interactions" >/dev/null
q "$DB" -c "DELETE FROM recsys.pipeline_state WHERE pipeline = 'clicks'" >/dev/null
out=$(pipe pl_wonka clicks "$SOURCE" --table shop.clicks --cursor ts --batch-size 1000) || fail "the re-read failed"
out=$(pipe pl_wonka clicks-again "$SOURCE" --table shop.clicks --cursor ts --batch-size 77) || fail "the second pipeline failed"
[ "$(count pl_wonka)/$(summary duplicates <<<"$out")" = "5100/5100" ] || fail "ids derived from rows are not stable: $out"
pass "51 groups of 100 rows with one cursor value across batches of 130: all 5,100 once; derived ids stable across batch sizes"

log "pipelines: kill -9 three times while reading a query"
orders 11001 111000
kill_three_times pl_wonka big "$SOURCE" 20000 --query "$QUERY" --cursor id --batch-size 2000
out=$(pipe pl_wonka big "$SOURCE" --query "$QUERY" --cursor id --batch-size 2000) || fail "the run after the kills failed"
[ "$(state pl_wonka big events)/$(state pl_wonka big duplicates)" = "111000/0" ] \
    || fail "after 3 kills: state $(state pl_wonka big 'events || \" \" || duplicates')"
pass "killed with SIGKILL three times mid-run: 111,000 rows, 0 lost, 0 read twice"

set +e
pipe pl_wonka writes "$SOURCE" --query "SELECT id, customer AS user_id, product AS item_id, nextval('shop.s') AS n FROM shop.orders" --cursor id >/dev/null; c1=$?
pipe pl_wonka nocursor "$SOURCE" --table shop.clicks >/dev/null; c2=$?
pipe pl_wonka orders2 "$SOURCE" --table shop.clicks --query "$QUERY" --cursor id >/dev/null 2>&1; c3=$?
pipe pl_wonka files "$OUT" --cursor id >/dev/null; c4=$?
pipe pl_wonka clicks "$SOURCE" --table shop.clicks --cursor user_id >/dev/null; c5=$?
pipe pl_wonka denied "$SOURCE" --query "SELECT * FROM pg_catalog.pg_authid" --cursor oid >/dev/null; c6=$?
set -e
[ "$c1/$c2/$c3/$c4/$c5/$c6" = "1/2/2/2/2/1" ] || fail "write, no cursor, table+query, cursor on files, changed cursor, denied: exit $c1/$c2/$c3/$c4/$c5/$c6, not 1/2/2/2/2/1"
grep -q "read-only transaction" "$OUT/log" || fail "the writing query did not fail as read-only"
[ "$(q "$SRC" -c "SELECT last_value FROM shop.s")" = 1 ] && [ "$(q "$SRC" -c "SELECT is_called FROM shop.s")" = f ] \
    || fail "the source query advanced a sequence"
pass "the source connection is read-only (exit 1); missing or conflicting options and a changed cursor exit 2"
