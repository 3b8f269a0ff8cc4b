#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Nightly retraining with pg_cron: a job scheduled by an operator login role runs as that role
# and trains only its own tenant. pg_cron 1.4 schedules by the minute, so this waits up to ~70 s.
source "$(dirname "$0")/common.sh"
DB=recsys_cron   # must match cron.database_name in scripts/lib.sh
# Emptied, not dropped: start_cluster creates it, and pg_cron's scheduler, connected to it,
# does not come back once DROP DATABASE ... WITH (FORCE) has ended it.
pg -q -d $DB -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS pg_cron" \
    -c "DROP EXTENSION IF EXISTS recsys CASCADE" -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION recsys"
login_role $DB it_cron_acme acme recsys_operator
login_role $DB it_cron_globex globex recsys_operator
pg -q -d $DB -c "GRANT USAGE ON SCHEMA cron TO it_cron_acme"
load_generated $DB it_cron_acme 300 100 3000 21
load_generated $DB it_cron_globex 50 20 400 22

# The recipe from docs/how-to/nightly-retraining.md, with a every-minute schedule.
pg -q -d $DB -U it_cron_acme -c "SELECT cron.schedule('recsys-nightly', '* * * * *', \$\$SELECT * FROM recsys.train('nightly', 'itemknn')\$\$)" >/dev/null
for _ in $(seq 80); do
    status=$(q $DB -c "SELECT status FROM cron.job_run_details ORDER BY runid DESC LIMIT 1")
    [ "$status" = succeeded ] || [ "$status" = failed ] && break
    sleep 1
done
pg -q -d $DB -c "SELECT cron.unschedule(jobid) FROM cron.job" >/dev/null
[ "$status" = succeeded ] || fail "cron job status '$status': $(q $DB -c "SELECT return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 1")"
runs=$(q $DB -c "SELECT string_agg(tenant_id || ':' || model || ':' || interactions, ',') FROM recsys.training_runs")
acme_rows=$(q $DB -U it_cron_acme -c "SELECT count(*) FROM recsys.interactions")
[ "$runs" = "acme:nightly:$acme_rows" ] || fail "expected one acme run on $acme_rows interactions, got '$runs'"
globex=$(q $DB -U it_cron_globex -c "SELECT count(*) FROM recsys.models")
[ "$globex" = 0 ] || fail "globex got a model"
pass "cron job trained tenant acme only ($runs)"
