#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A queued run trained with recsys.train(..., run_id) shows `running` and a rising progress to
# other sessions while the training's own transaction is still open, then `succeeded` and 1;
# cancelled or failed meanwhile, it stops with 57014 (40001 under REPEATABLE READ) and stores
# nothing.
source "$(dirname "$0")/common.sh"
DB=recsys_it_progress
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_progress_op acme recsys_operator
load_generated $DB it_progress_op 20000 5000 400000 11
queue() { q $DB -U it_progress_op -c "INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES ('m', 'als', '{}', 'queued') RETURNING id"; }

run=$(queue)
pg -q -d $DB -U it_progress_op -c "SET client_min_messages = warning" \
    -c "SELECT status FROM recsys.train('m', 'als', '{\"factors\": 64, \"iterations\": 40}', true, $run)" \
    >"$BUILD/it-progress.out" 2>&1 &
trainer=$!
seen=()
while kill -0 $trainer 2>/dev/null; do
    seen+=("$(q $DB -U it_progress_op -c "SELECT status || ':' || progress FROM recsys.training_runs WHERE id = $run")")
    sleep 0.2
done
wait $trainer || fail "training failed: $(cat "$BUILD/it-progress.out")"
final=$(q $DB -U it_progress_op -c "SELECT status || ':' || progress FROM recsys.training_runs WHERE id = $run")
[ "$final" = "succeeded:1" ] || fail "run ended as $final"
printf '%s\n' "${seen[@]}" | grep -qE '^running:0\.[1-9]' || fail "never saw the run running part-way: ${seen[*]}"
# Progress only rises, and the run never goes back to queued once running.
printf '%s\n' "${seen[@]}" "$final" | awk -F: '
    $1 == "running" { running = 1 }
    $1 == "queued" && running { exit 1 }
    $2 + 0 < last { exit 1 }
    { last = $2 + 0 }' || fail "progress went backwards: ${seen[*]}"
pass "other sessions saw the run go queued -> running -> succeeded ($(printf '%s\n' "${seen[@]}" | sort -u | paste -sd' '))"

# Under REPEATABLE READ no progress is published (the final update would conflict with it),
# and the training still succeeds.
run=$(queue)
out=$(pg -qAt -d $DB -U it_progress_op -c "SET client_min_messages = warning" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
      -c "SELECT status FROM recsys.train('m', 'als', '{\"factors\": 16, \"iterations\": 5}', true, $run)" -c "COMMIT" 2>&1) \
    || fail "repeatable read training failed: $out"
[ "$(q $DB -U it_progress_op -c "SELECT status FROM recsys.training_runs WHERE id = $run")" = succeeded ] \
    || fail "repeatable read run not succeeded: $out"
pass "a REPEATABLE READ training of a queued run succeeds"

# A queued run, stopped by `$2` (SQL returning true, given the run's id as $run) once it
# trains, stops at its next progress step with 57014; nothing is stored and the run keeps the
# status it was given ($1). The error is in $BUILD/it-progress-$1.out.
stopped_while_training() { # status stopper
    local run trainer out=$BUILD/it-progress-$1.out
    run=$(queue)
    pg -q -v VERBOSITY=verbose -d $DB -U it_progress_op -c "SET client_min_messages = warning" \
        -c "SELECT status FROM recsys.train('m', 'als', '{\"factors\": 64, \"iterations\": 40}', true, $run)" \
        >"$out" 2>&1 &
    trainer=$!
    for _ in $(seq 100); do
        [ "$(q $DB -U it_progress_op -c "SELECT status FROM recsys.training_runs WHERE id = $run")" = running ] && break
        sleep 0.1
    done
    [ "$(q $DB -U it_progress_op -c "${2//\$run/$run}")" = t ] || fail "run $run was not $1"
    wait $trainer && fail "the training of a $1 run succeeded"
    grep -q "ERROR:  57014: " "$out" || fail "not 57014: $(cat "$out")"
    [ "$(q $DB -U it_progress_op -c "SELECT status || ':' || (version IS NULL) FROM recsys.training_runs WHERE id = $run")" = "$1:true" ] \
        || fail "the $1 run changed"
}
stopped_while_training cancelled 'SELECT recsys.cancel_training($run)'
pass "cancel_training stops a running training with 57014 ($(grep -o '57014: .*' "$BUILD/it-progress-cancelled.out"))"
# Failed from outside, as the sidecar's time limit fails a run. (Before, the fit ran on and
# storing found no queued or running row: an internal error, XX000.)
stopped_while_training failed "UPDATE recsys.training_runs SET status = 'failed', error = 'time limit', finished_at = now()
    WHERE id = \$run AND status IN ('queued', 'running') RETURNING true"
pass "a run failed from outside stops its training with 57014"

# Under REPEATABLE READ the training's snapshot does not show the cancel: it runs on and fails
# with 40001 when it stores.
run=$(queue)
versions=$(q $DB -U it_progress_op -c "SELECT count(*) FROM recsys.model_versions")
pg -q -v VERBOSITY=verbose -d $DB -U it_progress_op -c "SET client_min_messages = warning" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
    -c "SELECT status FROM recsys.train('m', 'als', '{\"factors\": 64, \"iterations\": 40}', true, $run)" -c "COMMIT" \
    >"$BUILD/it-progress-cancel-rr.out" 2>&1 &
trainer=$!
[ -n "$(training_pid $DB it_progress_op)" ] || fail "training backend not found"
# The training's snapshot is taken as its statement starts; the cancel must come after it.
sleep 1
[ "$(q $DB -U it_progress_op -c "SELECT recsys.cancel_training($run)")" = t ] || fail "run $run was not cancelled"
wait $trainer && fail "a cancelled REPEATABLE READ training succeeded"
grep -q "ERROR:  40001: " "$BUILD/it-progress-cancel-rr.out" || fail "not 40001: $(cat "$BUILD/it-progress-cancel-rr.out")"
[ "$(q $DB -U it_progress_op -c "SELECT count(*) FROM recsys.model_versions")" = "$versions" ] || fail "a version was stored"
pass "under REPEATABLE READ a cancelled training fails with 40001 when it stores"

# A run left `running` by a session that died (here: terminated while it trained) is marked
# failed by the next training of its model, which holds the model's lock and so knows nobody
# is training it; recsys.fail_orphaned_runs() fails any run whose owning session is gone.
abandon() { # model -> id of a run whose trainer was terminated while running
    local id pid
    id=$(q $DB -U it_progress_op -c "INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES ('$1', 'als', '{}', 'queued') RETURNING id")
    pg -q -d $DB -U it_progress_op -c "SELECT status FROM recsys.train('$1', 'als', '{\"factors\": 64, \"iterations\": 40}', true, $id)" >/dev/null 2>&1 &
    for _ in $(seq 100); do
        pid=$(q $DB -c "SELECT owner_pid FROM recsys.training_runs WHERE id = $id AND status = 'running'")
        [ -n "$pid" ] && break
        sleep 0.1
    done
    [ -n "$pid" ] || fail "run $id never ran"
    q $DB -c "SELECT pg_terminate_backend($pid)" >/dev/null
    wait $! 2>/dev/null || true
    echo "$id"
}
run=$(abandon m)
other=$(abandon other)
[ "$(q $DB -c "SELECT string_agg(status, ',') FROM recsys.training_runs WHERE id IN ($run, $other)")" = running,running ] \
    || fail "terminated trainings did not leave their runs running"
pg -q -d $DB -U it_progress_op -c "SET client_min_messages = warning" -c "SELECT status FROM recsys.train('m', 'itemknn')" >/dev/null
[ "$(q $DB -U it_progress_op -c "SELECT status || ': ' || error FROM recsys.training_runs WHERE id = $run")" \
    = "failed: its training session ended without recording a result" ] || fail "abandoned run not failed"
[ "$(q $DB -U it_progress_op -c "SELECT status FROM recsys.training_runs WHERE id = $other")" = running ] \
    || fail "a run of another model was touched"
pass "the next training of a model fails its abandoned running run, and only that model's"
[ "$(q $DB -c "SELECT recsys.fail_orphaned_runs()")" = 1 ] || fail "fail_orphaned_runs did not fail exactly the orphan"
[ "$(q $DB -U it_progress_op -c "SELECT status FROM recsys.training_runs WHERE id = $other")" = failed ] \
    || fail "orphaned run of another model not failed"
pass "recsys.fail_orphaned_runs() fails a run whose trainer is gone"
