#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 20 times, the backend of a training is killed with SIGKILL at a random moment (loading,
# fitting or storing), and PostgreSQL restarts every connection. Afterwards no run, version,
# activation or audit row of a killed training exists but the runs a trainer had already
# turned `running`, which recsys.fail_orphaned_runs() fails; and the next training succeeds.
source "$(dirname "$0")/common.sh"
DB=recsys_it_crash
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_crash_op acme recsys_operator
load_generated $DB it_crash_op 20000 5000 300000 17
TRAIN="SELECT * FROM recsys.train('m', 'als', '{\"factors\": 32, \"iterations\": 80}'"

wait_ready() {
    for _ in $(seq 100); do
        "$PG_BIN/pg_isready" -q -h "$PGSOCK" -p "$PGPORT" && q $DB -c "SELECT 1" >/dev/null 2>&1 && return
        sleep 0.2
    done
    fail "PostgreSQL did not come back after a crash"
}

killed=0
for i in $(seq 20); do
    if [ $((i % 2)) = 0 ]; then
        # Half of them complete a queued run, which turns running while it fits.
        run=$(q $DB -U it_crash_op -c "INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES ('m', 'als', '{}', 'queued') RETURNING id")
        sql="$TRAIN, run_id => $run)"
    else
        sql="$TRAIN)"
    fi
    pg -q -d $DB -U it_crash_op -c "SET client_min_messages = warning" -c "$sql" >/dev/null 2>&1 &
    client=$!
    pid=$(training_pid $DB it_crash_op)
    [ -n "$pid" ] || fail "iteration $i: the training backend was not found"
    # Anywhere from loading to the last iterations.
    delay=$((RANDOM % 200))
    sleep "$((delay / 100)).$(printf '%02d' $((delay % 100)))"
    if kill -9 "$pid" 2>/dev/null; then
        killed=$((killed + 1))
    fi
    wait $client 2>/dev/null || true
    wait_ready
done
[ "$killed" -ge 18 ] || fail "only $killed of 20 trainings were killed before they finished"

# A training killed after it committed counts as a success: everything of it must be there.
# (Runs a later training or fail_orphaned_runs marked failed are history, not half-writes.)
left=$(q $DB -c "SELECT (SELECT count(*) FROM recsys.model_versions) || ' ' || (SELECT count(*) FROM recsys.audit_log WHERE action = 'train') || ' ' || (SELECT count(*) FROM recsys.model_versions v JOIN recsys.training_runs r ON r.id = v.training_run_id AND r.status = 'succeeded' AND r.version = v.version)")
finished=$(q $DB -c "SELECT count(*) FROM recsys.training_runs WHERE status = 'succeeded'")
[ "$left" = "$finished $finished $finished" ] || fail "half-written trainings: versions, audit rows, versions of a succeeded run = $left; succeeded = $finished"
q $DB -c "SELECT recsys.fail_orphaned_runs()" >/dev/null
[ "$(q $DB -c "SELECT count(*) FROM recsys.training_runs WHERE status IN ('queued', 'running') AND owner_pid IS NOT NULL")" = 0 ] \
    || fail "a run owned by a killed trainer is still unfinished"
pass "$killed trainings killed with SIGKILL left nothing half-written ($finished completed before the kill)"

out=$(pg -qAt -d $DB -U it_crash_op -c "SET client_min_messages = warning" -c "SELECT status, version FROM recsys.train('m', 'itemknn')" 2>&1) \
    || fail "the next training failed: $out"
[ "$out" = "succeeded|$((finished + 1))" ] || fail "the next training gave $out"
[ "$(q $DB -c "SELECT active_version FROM recsys.models WHERE name = 'm'")" = $((finished + 1)) ] \
    || fail "the new version is not active"
[ "$(q $DB -U it_crash_op -c "SELECT count(*) FROM recsys.recommend('u000001', 5, 'm')")" = 5 ] \
    || fail "no recommendations after the crashes"
pass "the next training succeeds and serves"
