#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One tenant against another from separate sessions (what pg_regress, one session, cannot
# show): a squatted advisory lock blocks nobody's training and tells nothing about it; a
# tenant cannot lock another's model. And no Rust backtrace reaches a client, even with
# RUST_BACKTRACE=1 in the server's environment.
source "$(dirname "$0")/common.sh"
DB=recsys_it_adversarial
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_adv_acme acme recsys_operator
login_role $DB it_adv_globex globex recsys_operator
load_generated $DB it_adv_globex 2000 500 40000 3
pg -q -d $DB -U it_adv_globex -c "SET client_min_messages = warning" -c "SELECT * FROM recsys.train('m', 'itemknn')" >/dev/null

# acme squats the lock 0.1.0 took for globex's model, and keeps it.
pg -q -d $DB -U it_adv_acme -c "SELECT pg_advisory_lock(hashtextextended('globex/m', 7077))" \
    -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
squatter=$!
trap 'kill $squatter 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    [ "$(q $DB -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" = 1 ] && break
    sleep 0.1
done
out=$(pg -q -d $DB -U it_adv_globex -c "SET client_min_messages = warning" -c "SELECT version FROM recsys.train('m', 'itemknn')" 2>&1) \
    || fail "a lock held by another tenant blocked training: $out"
pass "an advisory lock squatted by another tenant blocks no training"
q $DB -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'it_adv_acme'" >/dev/null
wait $squatter 2>/dev/null || true

# While globex trains, acme can neither see nor take its model's lock.
pg -q -d $DB -U it_adv_globex -c "SELECT * FROM recsys.train('m', 'als', '{\"factors\": 64, \"iterations\": 200}')" \
    >/dev/null 2>&1 &
trainer=$!
wait_model_locked $DB it_adv_globex m
[ "$(q $DB -U it_adv_acme -c "SELECT pg_try_advisory_lock(hashtextextended('globex/m', 7077))")" = t ] \
    || fail "an advisory lock told acme that globex trains"
[ "$(q $DB -U it_adv_acme -c "SELECT count(*) FROM (SELECT 1 FROM recsys.models WHERE tenant_id = 'globex' FOR UPDATE NOWAIT) l")" = 0 ] \
    || fail "acme reached globex's model row"
pass "another tenant learns nothing of a training and cannot take its lock"
q $DB -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'it_adv_globex' AND state = 'active'" >/dev/null
wait $trainer 2>/dev/null || true

# With RUST_BACKTRACE=1 in the server's environment, a cancelled training's error carries
# no backtrace (pgrx would put one in DETAIL).
log "restarting PostgreSQL $PG_VERSION with RUST_BACKTRACE=1"
as_postgres env RUST_BACKTRACE=1 "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/server.log" -w restart >/dev/null
out=$(pg -d $DB -U it_adv_globex -c "\\set VERBOSITY verbose" -c "SET statement_timeout = '300ms'" \
      -c "SELECT * FROM recsys.train('m', 'als', '{\"factors\": 64, \"iterations\": 200}')" 2>&1) || true
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/server.log" -w restart >/dev/null
echo "$out" | grep -q "57014" || fail "the training was not cancelled: $out"
# (LOCATION lines name the file and line of each report, as for any C extension.)
if echo "$out" | grep -v "^LOCATION:" | grep -qiE "backtrace|rust_begin_unwind|^ *[0-9]+: |\.rs:[0-9]+"; then
    fail "a Rust backtrace reached the client: $out"
fi
pass "no backtrace reaches a client under RUST_BACKTRACE=1"
