#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Upgrades a database from the previous release to this build as an operator would, on a
# PostgreSQL 15 cluster of its own: the previous release is built from its commit
# (sql/releases.txt; cached outside the clone) and installed; tenants, roles, interactions,
# items, versions of every algorithm, evaluations, API keys, audit rows and a pg_cron job are
# made with it; then this build is installed and ALTER EXTENSION recsys UPDATE runs.
# Asserts: every row is still there; every active model recommends the same, bit for bit;
# the catalog equals a fresh install's (on a second cluster); row-level security holds;
# trainings work, also in a session that had loaded the old library, and a sidecar started
# before the upgrade serves after it without a restart. Then the dump paths, and a broken
# upgrade script is caught. Prints "N passed" last.
#   RECSYS_UPGRADE_INTERACTIONS  interactions per tenant (default 20000; the benchmark uses more)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export RECSYS_PG_MAJOR=15
FROM=${RECSYS_UPGRADE_FROM:-0.1.0}
PER_TENANT=${RECSYS_UPGRADE_INTERACTIONS:-20000}
BUILD_ROOT=$(cd "$HERE/../.." && pwd)/.build
# The second cluster, for the fresh install the upgraded catalog is compared with.
export RECSYS_PGDIR=$BUILD_ROOT/pg-fresh RECSYS_PGPORT=5491
source "$HERE/../../scripts/lib.sh"
FRESH_PORT=$PGPORT FRESH_DIR=$PGDIR
fresh() { "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$FRESH_DIR/sock" -p "$FRESH_PORT" -U postgres "$@"; }
# The cluster that is upgraded. Its database is pg_cron's (cron.database_name, lib.sh).
export RECSYS_PGDIR=$BUILD_ROOT/pg-upgrade RECSYS_PGPORT=5490
source "$HERE/../integration/common.sh"
DB=recsys_cron
OUT=$BUILD/upgrade
passed=0
ok() { pass "$@"; passed=$((passed + 1)); }

ensure_tools
package=$(release_package "$FROM")
rm -rf "$OUT" && mkdir -p "$OUT"
for dir in "$PGDIR" "$FRESH_DIR"; do
    RECSYS_PGDIR=$dir bash -c "source '$ROOT/scripts/lib.sh'; stop_cluster" || true
    as_root rm -rf "$dir"
done
RECSYS_PGDIR=$FRESH_DIR RECSYS_PGPORT=$FRESH_PORT bash -c "source '$ROOT/scripts/lib.sh'; start_cluster"
start_cluster
trap 'stop_cluster; RECSYS_PGDIR=$FRESH_DIR RECSYS_PGPORT=$FRESH_PORT bash -c "source \"$ROOT/scripts/lib.sh\"; stop_cluster"; kill ${SIDECAR_PID:-0} 2>/dev/null || true' EXIT

log "upgrade: installing extension $FROM and filling a database with it"
install_package "$package"
diff -q "$ROOT/sql/recsys--$FROM.sql" "$package$("$PG_CONFIG" --sharedir)/extension/recsys--$FROM.sql" >/dev/null \
    || fail "sql/recsys--$FROM.sql is not what release $FROM installs"
ok "sql/recsys--$FROM.sql is the install script release $FROM builds"
recreate_db $DB
recreate_db recsys_broken
pg -q -d $DB -c "CREATE EXTENSION recsys" -c "CREATE EXTENSION pg_cron" -c "GRANT USAGE ON SCHEMA cron TO PUBLIC"
pg -q -d recsys_broken -c "CREATE EXTENSION recsys"
[ "$(q $DB -c "SELECT extversion FROM pg_extension WHERE extname = 'recsys'")" = "$FROM" ] || fail "not $FROM"
git -C "$ROOT" show "$(release_commit "$FROM"):sidecar/setup.sql" \
    | pg -q -d $DB >/dev/null
"$RECSYS_BIN" -q generate --users $((PER_TENANT / 20)) --items $((PER_TENANT / 50 + 50)) \
    --interactions "$PER_TENANT" --seed 5 -o "$OUT/data.tsv" >/dev/null
for t in acme globex initech; do
    login_role $DB "up_${t}_op" $t recsys_operator
    login_role $DB "up_${t}_admin" $t recsys_admin
    pg -q -d $DB -U "up_${t}_op" -c "SET client_min_messages = warning" \
        -c "CREATE TEMP TABLE s (user_id text, item_id text, ts bigint)" \
        -c "\\copy s FROM '$OUT/data.tsv' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
        -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, weight, occurred_at)
            SELECT user_id || '/' || item_id, user_id, item_id, 1 + length(user_id || item_id) % 3, to_timestamp(ts)
            FROM s ON CONFLICT DO NOTHING" \
        -c "SELECT recsys.upsert_items(jsonb_agg(jsonb_build_object('item_id', item_id,
                'attributes', jsonb_build_object('genre', length(item_id) % 4), 'available', length(item_id) % 9 <> 0)))
            FROM (SELECT DISTINCT item_id FROM s) i" \
        -c "SELECT version FROM recsys.train('pop', 'popularity')" \
        -c "SELECT version FROM recsys.train('pop', 'popularity', '{\"half_life_days\": 30}')" \
        -c "SELECT version FROM recsys.train('knn', 'itemknn', '{\"neighbors\": 20}')" \
        -c "SELECT version FROM recsys.train('mf', 'als', '{\"factors\": 16, \"iterations\": 5}')" \
        -c "SELECT version FROM recsys.train('mf', 'als', '{\"factors\": 8, \"iterations\": 5}', activate => false)" \
        -c "SELECT version FROM recsys.train('ease', 'ease', '{\"lambda\": 100}')" \
        -c "SELECT eval_id FROM recsys.eval('knn')" \
        -c "SELECT version FROM recsys.train('gone', 'popularity')" >/dev/null
    pg -q -d $DB -U "up_${t}_admin" -c "SELECT recsys.activate('pop', 1)" -c "SELECT recsys.drop_model('gone')" >/dev/null
done
# API keys as the previous release's sidecar stored them; this one is used over REST below.
KEY=rsk_upgradeprfx1$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 || true)
pg -q -d $DB -c "INSERT INTO recsys.api_keys (prefix, key_hash, tenant_id, role, name)
                 VALUES ('upgradeprfx1', sha256(convert_to('$KEY', 'UTF8')), 'acme', 'admin', 'before the upgrade'),
                        ('revokedprfx1', sha256('x'), 'globex', 'viewer', 'revoked')" \
    -c "UPDATE recsys.api_keys SET revoked_at = now() WHERE prefix = 'revokedprfx1'"
pg -q -d $DB -U up_acme_op -c "SELECT cron.schedule('nightly-acme', '0 3 * * *', 'SELECT * FROM recsys.train(''knn'', ''itemknn'')')" >/dev/null
pg -q -d $DB -c "SELECT jobid, schedule, command, username FROM cron.job ORDER BY jobid" -At >"$OUT/cron-before.txt"
pg -d $DB -f "$HERE/snapshot.sql" >"$OUT/before.txt"
grep -q "^acme|mf|" "$OUT/before.txt" || fail "the snapshot has no recommendations"
# 0.1.0's tables were not configuration tables: pg_dump leaves their rows out.
"$PG_BIN/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres $DB >"$OUT/dump-before.sql"
if [ "$FROM" = 0.1.0 ]; then
    grep -q "^COPY recsys\." "$OUT/dump-before.sql" && fail "0.1.0's pg_dump now carries recsys rows: update the docs"
    ok "pg_dump of $FROM has no recsys rows (documented; the how-to's \\copy export moves them)"
fi
# The documented export for 0.1.0: every table's columns with \copy, in an order a restore
# can follow (the one cycle, models.active_version, is checked at commit).
TABLES="tenant_roles gateway_roles interactions items models training_runs model_versions eval_runs api_keys audit_log"
: >"$OUT/columns.txt"
for t in $TABLES; do
    columns=$(q $DB -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                        WHERE attrelid = 'recsys.$t'::regclass AND attnum > 0 AND NOT attisdropped")
    echo "$t $columns" >>"$OUT/columns.txt"
    pg -q -d $DB -c "\\copy recsys.$t ($columns) TO '$OUT/$t.copy'"
done

# A session that loaded the old library and stays connected through the upgrade.
coproc OLD { pg -qAt -d $DB -U up_acme_op 2>&1; }
echo "SET client_min_messages = warning;" >&"${OLD[1]}"
ask_old() { echo "$1" >&"${OLD[1]}"; local line; read -r -t 60 line <&"${OLD[0]}" || fail "old session: no answer to $1"; echo "$line"; }
[ "$(ask_old "SELECT count(*) FROM recsys.recommend('u000001', 5, 'mf');")" = 5 ] || fail "old session"

# This build's sidecar, started on the previous release: it waits for the update.
(cd "$ROOT" && cargo build -q -p recsys-sidecar)
SIDECAR_PORT=18090
RECSYS_DATABASE_URL="postgres://recsys_sidecar@localhost/$DB?host=$PGSOCK&port=$PGPORT" \
    RECSYS_LISTEN_ADDR=127.0.0.1:$SIDECAR_PORT RECSYS_LOG=warn \
    "$ROOT/target/debug/recsys-sidecar" serve 2>"$OUT/sidecar.log" &
SIDECAR_PID=$!
api() { curl -s -o "$OUT/reply.json" -w '%{http_code}' -H "X-API-Key: $KEY" -H 'Content-Type: application/json' "$@"; }
for _ in $(seq 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SIDECAR_PORT/healthz")" = 200 ] && break; sleep 0.2; done
[ "$(curl -s -o "$OUT/reply.json" -w '%{http_code}' "http://127.0.0.1:$SIDECAR_PORT/readyz")" = 503 ] \
    && grep -q extension_too_old "$OUT/reply.json" || fail "the sidecar did not refuse $FROM: $(cat "$OUT/reply.json")"
[ "$(api "http://127.0.0.1:$SIDECAR_PORT/v1/models")" = 503 ] || fail "the API served on $FROM"
ok "this sidecar refuses extension $FROM with extension_too_old and keeps running"

log "upgrade: installing this build and running ALTER EXTENSION recsys UPDATE"
install_extension
pg -d $DB -f "$ROOT/scripts/upgrade-preflight.sql" >"$OUT/preflight.txt"
grep -qE "^ (trainings|locks|update path) +\| (wait|no)" "$OUT/preflight.txt" && fail "preflight: $(cat "$OUT/preflight.txt")"
started=$(date +%s.%N)
pg -q -d $DB -c "ALTER EXTENSION recsys UPDATE"
seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
VERSION=$(q $DB -c "SELECT extversion FROM pg_extension WHERE extname = 'recsys'")
echo "ALTER EXTENSION recsys UPDATE ($FROM -> $VERSION, $((3 * PER_TENANT)) interactions): ${seconds}s" >"$OUT/duration.txt"
pg -q -d $DB -c "SET client_min_messages = warning" -f "$ROOT/sidecar/setup.sql" >/dev/null
ok "ALTER EXTENSION recsys UPDATE: $FROM -> $VERSION in ${seconds}s"

pg -d $DB -f "$HERE/snapshot.sql" >"$OUT/after.txt"
# Rows and lists exactly; scores to 1e-5 (relative): the two builds' scoring kernels may round
# the last digit differently on some CPUs (seen: 2e-7 on an Intel host with AVX-512).
python3 - "$OUT/before.txt" "$OUT/after.txt" >"$OUT/snapshot.diff" <<'PY' || fail "rows or recommendations changed: $OUT/snapshot.diff"
import sys
before, after = (open(p).read().splitlines() for p in sys.argv[1:])
bad = [] if len(before) == len(after) else [f"{len(before)} lines before, {len(after)} after"]
for x, y in zip(before, after):
    fx, fy = x.split("|"), y.split("|")
    close = (len(fx) == len(fy) >= 6 and fx[:4] == fy[:4] and fx[5:] == fy[5:]
             and abs(float(fx[4]) - float(fy[4])) <= 1e-5 * max(1.0, abs(float(fx[4]))))
    if x != y and not close:
        bad.append(f"< {x}\n> {y}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
pg -q -d $DB -c "SELECT jobid, schedule, command, username FROM cron.job ORDER BY jobid" -At >"$OUT/cron-after.txt"
diff -q "$OUT/cron-before.txt" "$OUT/cron-after.txt" >/dev/null || fail "the pg_cron job changed"
ok "every row, the pg_cron job and every active model's recommendations are unchanged ($(grep -c '|' "$OUT/after.txt") lines)"

fresh -q -d postgres -c "DROP DATABASE IF EXISTS recsys_fresh" -c "CREATE DATABASE recsys_fresh"
fresh -q -d recsys_fresh -c "CREATE EXTENSION recsys"
fresh -d recsys_fresh -f "$HERE/catalog.sql" >"$OUT/catalog-fresh.txt"
pg -d $DB -f "$HERE/catalog.sql" >"$OUT/catalog-upgraded.txt"
diff "$OUT/catalog-fresh.txt" "$OUT/catalog-upgraded.txt" >"$OUT/catalog.diff" \
    || fail "the upgraded catalog differs from a fresh install's: $OUT/catalog.diff"
ok "the catalog equals a fresh install's ($(wc -l <"$OUT/catalog-fresh.txt") facts: functions, tables, policies, grants, roles)"

[ "$(q $DB -U up_globex_op -c "SELECT count(*) FROM recsys.interactions WHERE tenant_id <> 'globex'")" = 0 ] \
    || fail "globex sees another tenant's rows"
q $DB -U up_globex_op -c "INSERT INTO recsys.interactions (tenant_id, user_id, item_id) VALUES ('acme', 'x', 'y')" 2>/dev/null \
    && fail "globex wrote into acme"
ok "row-level security holds after the upgrade"

out=$(q $DB -U up_acme_op -c "SET client_min_messages = warning" -c "SELECT status, version FROM recsys.train('mf', 'als', '{\"factors\": 16, \"iterations\": 5}')")
[ "$out" = "succeeded|3" ] || fail "training after the upgrade: $out"
[ "$(ask_old "SELECT count(*) FROM recsys.recommend('u000001', 5, 'mf');")" = 5 ] || fail "old session after the upgrade"
[ "$(ask_old "SELECT status FROM recsys.train('knn', 'itemknn');")" = succeeded ] || fail "old session could not train"
ok "trainings work after the upgrade, also in a session connected before it"

for _ in $(seq 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SIDECAR_PORT/readyz")" = 200 ] && break; sleep 0.2; done
[ "$(api "http://127.0.0.1:$SIDECAR_PORT/v1/users/u000001/recommendations?k=5&model=mf")" = 200 ] \
    || fail "REST recommendations after the upgrade: $(cat "$OUT/reply.json")"
[ "$(api -X POST -d '{"algorithm": "popularity"}' "http://127.0.0.1:$SIDECAR_PORT/v1/models/rest/training-runs")" = 202 ] \
    || fail "REST training: $(cat "$OUT/reply.json")"
run=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$OUT/reply.json")
for _ in $(seq 100); do
    api "http://127.0.0.1:$SIDECAR_PORT/v1/training-runs/$run" >/dev/null
    grep -q '"status":"succeeded"' "$OUT/reply.json" && break
    sleep 0.2
done
grep -q '"status":"succeeded"' "$OUT/reply.json" || fail "REST training did not succeed: $(cat "$OUT/reply.json")"
kill -0 $SIDECAR_PID || fail "the sidecar stopped"
ok "the sidecar started before the upgrade serves and trains after it, with a key of $FROM, not restarted"

# Second path, for a release that pg_dump cannot move: the \copy export into a fresh install.
fresh -q -d postgres -c "DROP DATABASE IF EXISTS recsys_copy" -c "CREATE DATABASE recsys_copy"
for t in acme globex initech; do
    fresh -q -d postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS up_${t}_op, up_${t}_admin" \
        -c "CREATE ROLE up_${t}_op LOGIN" -c "CREATE ROLE up_${t}_admin LOGIN" >/dev/null
done
fresh -q -d postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsys_sidecar') THEN CREATE ROLE recsys_sidecar LOGIN; END IF; END \$\$"
{
    echo "BEGIN;"
    while read -r t columns; do echo "\\copy recsys.$t ($columns) FROM '$OUT/$t.copy'"; done <"$OUT/columns.txt"
    for t in model_versions eval_runs api_keys audit_log training_runs; do
        echo "SELECT setval(pg_get_serial_sequence('recsys.$t', 'id'), max(id)) FROM recsys.$t HAVING max(id) IS NOT NULL;"
    done
    echo "COMMIT;"
} >"$OUT/restore-copy.sql"
fresh -q -d recsys_copy -c "CREATE EXTENSION recsys" -f "$OUT/restore-copy.sql" >/dev/null
fresh -d recsys_copy -f "$HERE/snapshot.sql" | grep -v "^sequence" >"$OUT/copy.txt"
grep -v "^sequence" "$OUT/before.txt" | diff - "$OUT/copy.txt" >"$OUT/copy.diff" || fail "the \\copy export of $FROM restored differently: $OUT/copy.diff"
ok "$FROM's \\copy export restores into a fresh $VERSION with every row and the same recommendations"

# And from this release on, pg_dump and a restore into a fresh install.
"$PG_BIN/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres $DB >"$OUT/dump-after.sql"
grep -q "^COPY recsys.interactions" "$OUT/dump-after.sql" || fail "pg_dump of $VERSION has no recsys rows"
fresh -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
fresh -q -d $DB --single-transaction -f "$OUT/dump-after.sql" >"$OUT/restore.log" 2>&1 || fail "restore: $(tail -5 "$OUT/restore.log")"
fresh -d $DB -f "$HERE/snapshot.sql" >"$OUT/restored.txt"
pg -d $DB -f "$HERE/snapshot.sql" | diff - "$OUT/restored.txt" >"$OUT/restore.diff" || fail "the pg_dump restore differs: $OUT/restore.diff"
ok "pg_dump of $VERSION restores into a fresh cluster with every row, sequence and the same recommendations"

# A broken upgrade script is caught: drop a policy and a column, then compare.
script=$("$PG_CONFIG" --sharedir)/extension/recsys--$FROM--$VERSION.sql
as_root cp "$script" "$OUT/good-script.sql"
{ cat "$OUT/good-script.sql"; echo "DROP POLICY queued_runs_only ON recsys.training_runs;"; echo "ALTER TABLE recsys.items DROP COLUMN updated_at;"; } \
    | as_root tee "$script" >/dev/null
pg -q -d recsys_broken -c "ALTER EXTENSION recsys UPDATE"
as_root cp "$OUT/good-script.sql" "$script"
pg -d recsys_broken -f "$HERE/catalog.sql" >"$OUT/catalog-broken.txt"
diff "$OUT/catalog-fresh.txt" "$OUT/catalog-broken.txt" >"$OUT/broken.diff" && fail "a broken upgrade script went unnoticed"
grep -q "queued_runs_only" "$OUT/broken.diff" && grep -q "items.updated_at" "$OUT/broken.diff" \
    || fail "the comparison missed what the broken script dropped: $OUT/broken.diff"
ok "the comparison catches an upgrade script that drops a policy and a column"
cat "$OUT/duration.txt" >&2
echo "$passed passed"
