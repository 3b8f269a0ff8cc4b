#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# recommend works on a hot standby (it never writes); train says clearly it cannot.
source "$(dirname "$0")/common.sh"
DB=recsys_it_standby
STANDBY=$PGDIR/standby
SPORT=$((PGPORT + 1))
recreate_db $DB
pg -q -d $DB -c "CREATE EXTENSION recsys"
login_role $DB it_standby_op acme recsys_operator
load_generated $DB it_standby_op 300 100 3000 31
pg -q -d $DB -U it_standby_op -c "SELECT * FROM recsys.train('m', 'itemknn')" >/dev/null 2>&1
as_postgres rm -rf "$STANDBY"
as_postgres "$PG_BIN/pg_basebackup" -h "$PGSOCK" -p "$PGPORT" -U postgres -D "$STANDBY" -R -X stream -c fast >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$STANDBY" -o "-p $SPORT" -l "$PGDIR/standby.log" -w start >/dev/null
trap 'as_postgres "$PG_BIN/pg_ctl" -D "$STANDBY" -m fast stop >/dev/null 2>&1 || true' EXIT
[ "$(q $DB -p $SPORT -c "SELECT pg_is_in_recovery()")" = t ] || fail "standby is not in recovery"
primary=$(q $DB -U it_standby_op -c "SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recommend('u000001', 5, 'm')")
standby=$(q $DB -p $SPORT -U it_standby_op -c "SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recommend('u000001', 5, 'm')")
[ -n "$standby" ] && [ "$standby" = "$primary" ] || fail "standby '$standby' vs primary '$primary'"
pass "recommend on the standby equals the primary ($standby)"
err=$(pg -q -d $DB -p $SPORT -U it_standby_op -c "\\set VERBOSITY verbose" -c "SELECT * FROM recsys.train('m', 'itemknn')" 2>&1) && fail "train ran on a standby"
echo "$err" | grep -q "25006" || fail "unexpected error: $err"
pass "train on the standby fails with 25006"
