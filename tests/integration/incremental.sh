#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Incremental training through recsys.train(..., '{"incremental": true}'), as a bound role:
# it reads only the users with rows the active version did not see (a late occurred_at
# included), ALS folds them and new items in, popularity updates to what a full training
# gives; a delete or an update since makes it train from scratch, as does an algorithm that
# cannot update, each saying so; the flag is not stored as a parameter; a mismatch with the
# active version is refused with 22023.
source "$(dirname "$0")/common.sh"
DB=recsys_it_incremental
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_incr_op acme recsys_operator
load_generated $DB it_incr_op 3000 800 60000 5
train() { # params [model [algorithm]]
    pg -q -d $DB -U it_incr_op -c "\\set VERBOSITY verbose" \
        -c "SELECT version, status FROM recsys.train('${2:-m}', '${3:-als}', '$1')" 2>&1
}
metric() { q $DB -U it_incr_op -c "SELECT manifest->'metrics'->>'$1' FROM recsys.model_versions WHERE model = '${2:-m}' ORDER BY version DESC LIMIT 1"; }

out=$(train '{"factors": 16, "iterations": 10, "incremental": true}') || fail "first incremental training failed: $out"
echo "$out" | grep -q "has no active version to start from; training from scratch" || fail "no notice of a full first training: $out"
[ -z "$(metric incremental)" ] || fail "a training from scratch recorded incremental = $(metric incremental)"
pass "a first incremental training trains from scratch and says so"

# New events: a new user of known items, and a new item known users take.
pg -q -d $DB -U it_incr_op -c "INSERT INTO recsys.interactions (user_id, item_id) \
    SELECT 'newcomer', item_id FROM (SELECT item_id FROM recsys.interactions WHERE user_id = 'u000001' LIMIT 5) i \
    UNION ALL SELECT user_id, 'i-new' FROM (SELECT DISTINCT user_id FROM recsys.interactions ORDER BY 1 LIMIT 40) u"
out=$(train '{"factors": 16, "iterations": 10, "incremental": true}') || fail "incremental training failed: $out"
[ "$(metric incremental)" = true ] || fail "the second training did not resume: $(metric incremental) $out"
echo "$out" | grep -q "incrementally: 41 users with new interactions" || fail "did not read just the 41 changed users: $out"
[ "$(q $DB -U it_incr_op -c "SELECT params ? 'incremental' FROM recsys.model_versions WHERE model = 'm' ORDER BY version DESC LIMIT 1")" = f ] \
    || fail "the flag was stored as a parameter"
[ "$(q $DB -U it_incr_op -c "SELECT count(*) FROM recsys.recommend('newcomer', 10, 'm')")" = 10 ] || fail "no recommendations for a new user"
known=$(q $DB -U it_incr_op -c "SELECT count(*) FROM recsys.similar_items('i-new', 5, 'm')" 2>&1) || fail "the new item is unknown: $known"
[ "$known" = 5 ] || fail "the new item has $known similar items"
pass "ALS updates the active version with the changed users only, a new user and a new item solved"

incremental_users() { # the changed users an incremental training read, or "from scratch"
    local out
    out=$(train '{"factors": 16, "iterations": 10, "incremental": true}') || fail "incremental training failed: $out"
    if echo "$out" | grep -q "training from scratch"; then echo "from scratch"; return; fi
    echo "$out" | sed -n 's/.*incrementally: \([0-9]*\) users with new interactions.*/\1/p'
}
[ "$(incremental_users)" = 0 ] || fail "with nothing new, users were read again"
pg -q -d $DB -U it_incr_op -c "INSERT INTO recsys.interactions (user_id, item_id, occurred_at) VALUES ('u000002', 'i000001', '2001-01-01')"
[ "$(incremental_users)" = 1 ] || fail "a late event (old occurred_at) was not picked up"
pass "with nothing new nothing is read; a late event is new by when it was written, not its occurred_at"

pg -q -d $DB -U it_incr_op -c "DELETE FROM recsys.interactions WHERE user_id = 'u000003'"
[ "$(incremental_users)" = "from scratch" ] || fail "a delete did not make the training start from scratch"
[ -z "$(metric incremental)" ] || fail "the training after a delete recorded incremental = $(metric incremental)"
[ "$(incremental_users)" = 0 ] || fail "the training after the full one did not resume"
pg -q -d $DB -U it_incr_op -c "UPDATE recsys.interactions SET weight = 3 WHERE user_id = 'u000004'"
[ "$(incremental_users)" = "from scratch" ] || fail "an update did not make the training start from scratch"
pass "a delete or an update since the active version makes the next training start from scratch"

# A row whose transaction is still open when a training reads is new to the next one, however
# old its occurred_at and whichever commits first.
pg -q -d $DB -U it_incr_op -c "BEGIN" \
    -c "INSERT INTO recsys.interactions (user_id, item_id, occurred_at) VALUES ('u000005', 'i000002', '2001-01-01')" \
    -c "SELECT pg_sleep(4)" -c "COMMIT" &
writer=$!
for _ in $(seq 100); do
    [ "$(q $DB -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(4)'")" = 1 ] && break
    sleep 0.1
done
[ "$(incremental_users)" = 0 ] || fail "a training read a row of a transaction still open"
wait $writer
[ "$(incremental_users)" = 1 ] || fail "a row committed after the previous training's snapshot was not picked up"
pass "a row committed after a training read is picked up by the next one"

out=$(train '{"factors": 8, "incremental": true}') && fail "a change of factors was accepted: $out"
echo "$out" | grep -q "22023" || fail "unexpected error for a change of factors: $out"
out=$(train '{"incremental": true}' m itemknn) && fail "a change of algorithm was accepted: $out"
echo "$out" | grep -q "22023" || fail "unexpected error for a change of algorithm: $out"
out=$(train '{"incremental": "yes"}') && fail "a non-boolean flag was accepted: $out"
echo "$out" | grep -q "22023" || fail "unexpected error for a non-boolean flag: $out"
pass "a version of other factors or another algorithm, or a flag not true/false, is refused with 22023"

train '{}' pop popularity >/dev/null || fail "popularity training failed"
pg -q -d $DB -U it_incr_op -c "INSERT INTO recsys.interactions (user_id, item_id) \
    SELECT user_id, 'i-hot' FROM (SELECT DISTINCT user_id FROM recsys.interactions ORDER BY 1 DESC LIMIT 2000) u"
out=$(train '{"incremental": true}' pop popularity) || fail "incremental popularity failed: $out"
[ "$(metric incremental pop)" = true ] || fail "popularity did not update: $(metric incremental pop) $out"
train '{}' pop-full popularity >/dev/null || fail "popularity training failed"
top() { q $DB -U it_incr_op -c "SELECT string_agg(item_id || ':' || round(score::numeric, 3), ',' ORDER BY rank) FROM recsys.recommend('nobody', 20, '$1')"; }
[ "$(top pop)" = "$(top pop-full)" ] || fail "incremental popularity differs from a full training: $(top pop) vs $(top pop-full)"
top pop | grep -q "^i-hot:" || fail "the new hot item is not first: $(top pop)"
pass "popularity updates to what a full training gives"

train '{}' knn itemknn >/dev/null || fail "itemknn training failed"
out=$(train '{"incremental": true}' knn itemknn) || fail "incremental itemknn failed: $out"
echo "$out" | grep -q "itemknn cannot train incrementally; training from scratch" || fail "no notice: $out"
[ -z "$(metric incremental knn)" ] || fail "itemknn recorded incremental = $(metric incremental knn)"
pass "an algorithm that cannot update trains from scratch and says so"
