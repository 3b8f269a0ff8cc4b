#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Incremental training through recsys.train(..., '{"incremental": true}'), as a bound role:
# ALS resumes from the active version's factors and folds in new users and items; the flag is
# not stored as a parameter; what cannot resume says so and trains from scratch; a mismatch
# with the active version is refused with 22023.
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
[ "$(q $DB -U it_incr_op -c "SELECT params ? 'incremental' FROM recsys.model_versions WHERE model = 'm' ORDER BY version DESC LIMIT 1")" = f ] \
    || fail "the flag was stored as a parameter"
[ "$(q $DB -U it_incr_op -c "SELECT count(*) FROM recsys.recommend('newcomer', 10, 'm')")" = 10 ] || fail "no recommendations for a new user"
known=$(q $DB -U it_incr_op -c "SELECT count(*) FROM recsys.similar_items('i-new', 5, 'm')" 2>&1) || fail "the new item is unknown: $known"
[ "$known" = 5 ] || fail "the new item has $known similar items"
pass "ALS resumes from the active version, with a new user and a new item solved"

out=$(train '{"factors": 8, "incremental": true}') && fail "a change of factors was accepted: $out"
echo "$out" | grep -q "22023" || fail "unexpected error for a change of factors: $out"
out=$(train '{"incremental": true}' m itemknn) && fail "a change of algorithm was accepted: $out"
echo "$out" | grep -q "22023" || fail "unexpected error for a change of algorithm: $out"
out=$(train '{"incremental": "yes"}') && fail "a non-boolean flag was accepted: $out"
echo "$out" | grep -q "22023" || fail "unexpected error for a non-boolean flag: $out"
pass "a version of other factors or another algorithm, or a flag not true/false, is refused with 22023"

train '{}' pop popularity >/dev/null || fail "popularity training failed"
out=$(train '{"incremental": true}' pop popularity) || fail "incremental popularity failed: $out"
echo "$out" | grep -q "popularity cannot resume from a previous version; trained from scratch" || fail "no notice: $out"
[ "$(metric incremental pop)" = false ] || fail "popularity recorded incremental = $(metric incremental pop)"
pass "an algorithm that cannot resume trains from scratch and says so"
