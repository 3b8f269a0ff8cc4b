#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Training while others recommend: readers keep the old version until the new one commits,
# and a second training of the same model fails at once with 55006.
source "$(dirname "$0")/common.sh"
DB=recsys_it_concurrency
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_conc_op acme recsys_operator
load_generated $DB it_conc_op 20000 5000 300000 41
pg -q -d $DB -U it_conc_op -c "SELECT * FROM recsys.train('m', 'itemknn')" >/dev/null 2>&1

# The sleep in the training's transaction keeps the model locked after the fit, so the second
# training below meets the lock however fast this host fits.
pg -q -d $DB -U it_conc_op -c "SELECT * FROM recsys.train('m', 'als', '{\"factors\": 64, \"iterations\": 40}'); SELECT pg_sleep(2)" \
    >"$BUILD/it-conc-train.out" 2>&1 &
trainer=$!
wait_model_locked $DB it_conc_op m
second=$(pg -q -d $DB -U it_conc_op -c "\\set VERBOSITY verbose" -c "SELECT * FROM recsys.train('m', 'itemknn')" 2>&1) \
    && fail "second training of the same model was not refused"
echo "$second" | grep -q "55006" || fail "unexpected: $second"
pass "second concurrent training refused with 55006"
served=0
while kill -0 $trainer 2>/dev/null; do
    v=$(q $DB -U it_conc_op -c "SELECT count(*) FROM recsys.recommend('u000001', 10, 'm')") || fail "recommend failed during training"
    [ "$v" = 10 ] || fail "recommend returned $v rows during training"
    served=$((served + 1))
done
wait $trainer || fail "training failed: $(cat "$BUILD/it-conc-train.out")"
algo=$(q $DB -U it_conc_op -c "SELECT algorithm FROM recsys.model_versions WHERE version = (SELECT active_version FROM recsys.models WHERE name = 'm')")
[ "$algo" = als ] || fail "active version is $algo after training"
[ "$(q $DB -U it_conc_op -c "SELECT count(*) FROM recsys.recommend('u000001', 10, 'm')")" = 10 ] || fail "no recommendations from the new version"
pass "$served recommendations served during training; new version active after commit"
