#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Long training honours statement_timeout and pg_cancel_backend within about a second and
# leaves nothing behind: no model version, no run, no model row.
source "$(dirname "$0")/common.sh"
DB=recsys_it_cancel
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_cancel_op acme recsys_operator
load_generated $DB it_cancel_op 20000 5000 400000 11

# 200 iterations of 128 factors take minutes; the timeout must stop it after ~1 s.
start=$(date +%s.%N)
out=$(pg -q -d $DB -U it_cancel_op -c "SET statement_timeout = '1s'" \
      -c "SELECT * FROM recsys.train('slow', 'als', '{\"factors\": 128, \"iterations\": 200}')" 2>&1) && fail "training was not stopped: $out"
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "$out" | grep -q "canceling statement due to statement timeout" || fail "unexpected error: $out"
# Loading 400k rows takes part of the second; allow generous slack over the 1 s timeout.
awk -v e="$elapsed" 'BEGIN { exit !(e < 4) }' || fail "statement_timeout took ${elapsed}s"
pass "statement_timeout stopped training after ${elapsed}s"

# pg_cancel_backend from another session.
pg -q -d $DB -U it_cancel_op -c "SELECT * FROM recsys.train('slow', 'als', '{\"factors\": 128, \"iterations\": 200}')" \
    >"$BUILD/it-cancel.out" 2>&1 &
trainer=$!
pid=$(training_pid $DB it_cancel_op)
[ -n "$pid" ] || fail "training backend not found"
sleep 2
start=$(date +%s.%N)
q $DB -c "SELECT pg_cancel_backend($pid)" >/dev/null
wait $trainer && fail "training was not cancelled"
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
grep -q "canceling statement due to user request" "$BUILD/it-cancel.out" || fail "unexpected: $(cat "$BUILD/it-cancel.out")"
awk -v e="$elapsed" 'BEGIN { exit !(e < 1.5) }' || fail "cancel took ${elapsed}s"
pass "pg_cancel_backend stopped training after ${elapsed}s"

left=$(q $DB -c "SELECT (SELECT count(*) FROM recsys.model_versions) + (SELECT count(*) FROM recsys.training_runs) + (SELECT count(*) FROM recsys.models)")
[ "$left" = 0 ] || fail "$left rows left behind after cancelled training"
pass "nothing left behind"
