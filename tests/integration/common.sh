# SPDX-License-Identifier: Apache-2.0
# Helpers for client-side integration tests; run by scripts/test with the cluster started.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
RECSYS_BIN=$ROOT/target/release/recsys
TEST_NAME=$(basename "$0" .sh)
fail() { echo "not ok $TEST_NAME: $*" >&2; exit 1; }
pass() { echo "ok $TEST_NAME: $*" >&2; }
# One value from a query.
q() { local db=$1; shift; pg -qAt -d "$db" "$@"; }
# Creates a login role bound to a tenant with a recsys role.
login_role() { # db role tenant group
    pg -q -d "$1" -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS $2" 2>/dev/null || true
    pg -q -d "$1" -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$2') THEN CREATE ROLE $2 LOGIN; END IF; END \$\$" \
        -c "GRANT $4 TO $2" -c "SELECT recsys.bind_role('$2', '$3')" >/dev/null
}
# Loads a generated data set into a tenant as the given role.
load_generated() { # db role users items interactions seed
    local file=$BUILD/it-$TEST_NAME-$3-$5.tsv
    [ -f "$file" ] || "$RECSYS_BIN" -q generate --users "$3" --items "$4" --interactions "$5" --seed "$6" -o "$file" >/dev/null
    pg -q -d "$1" -U "$2" -c "CREATE TEMP TABLE s (user_id text, item_id text, ts bigint)" \
        -c "\\copy s FROM '$file' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true)" \
        -c "INSERT INTO recsys.interactions (event_id, user_id, item_id, occurred_at) SELECT user_id || '/' || item_id, user_id, item_id, to_timestamp(ts) FROM s ON CONFLICT DO NOTHING"
}
# The pid of the backend running a role's recsys.train, waiting up to 5 s for it to start.
training_pid() { # db role
    local pid
    for _ in $(seq 100); do
        pid=$(q "$1" -c "SELECT pid FROM pg_stat_activity WHERE usename = '$2' AND query LIKE '%recsys.train%' AND state = 'active'" 2>/dev/null)
        [ -n "$pid" ] && break
        sleep 0.05
    done
    echo "$pid"
}
# Waits up to 30 s until a training holds a model's lock: a row lock on its models row, seen
# as the row's xmax being another session's transaction.
wait_model_locked() { # db role model
    # Without locking: a probe that took the row lock itself, even for an instant, could make
    # the training it waits for find its model locked and fail.
    for _ in $(seq 300); do
        [ "$(q "$1" -U "$2" -c "SELECT count(*) FROM recsys.models m JOIN pg_catalog.pg_stat_activity a ON a.backend_xid = m.xmax WHERE m.name = '$3' AND a.pid <> pg_catalog.pg_backend_pid()")" = 1 ] && return
        sleep 0.1
    done
    fail "no session took the training lock of model $3 within 30 s"
}
