# SPDX-License-Identifier: Apache-2.0
# Helpers of the recsys-pipelines tests: a database of their own, one login role per tenant,
# and the command run as one of them.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
PIPE=$ROOT/target/release/recsys-pipelines
DB=recsys_$TEST_NAME
OUT=$BUILD/it-$TEST_NAME
rm -rf "$OUT" && mkdir -p "$OUT"
recreate_db "$DB"
pg -q -d "$DB" -c "CREATE EXTENSION recsys"
url() { echo "postgres://$1@localhost/$DB?host=$PGSOCK&port=$PGPORT"; }
count() { q "$DB" -U "$1" -c "SELECT count(*) FROM recsys.interactions"; }
state() { q "$DB" -U "$1" -c "SELECT $3 FROM recsys.pipeline_state WHERE pipeline = '$2'"; }
pipe() { # role pipeline source [flags...]
    local role=$1 name=$2 source=$3
    shift 3
    "$PIPE" run --database-url "$(url "$role")" --pipeline "$name" --source "$source" "$@" 2>>"$OUT/log"
}
# pipe in the background, as its own process: $! is the pipeline's pid, for signals.
pipe_background() { # role pipeline source [flags...]
    local role=$1 name=$2 source=$3
    shift 3
    (exec "$PIPE" run --database-url "$(url "$role")" --pipeline "$name" --source "$source" "$@" >/dev/null 2>>"$OUT/log") &
}
# A field of the summary a run prints last on standard output.
summary() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
# Starts a run and kills it with SIGKILL once it has committed `step` more events; 3 times.
kill_three_times() { # role pipeline source step [flags...]
    local role=$1 name=$2 source=$3 step=$4 kill before now pid
    shift 4
    for kill in 1 2 3; do
        before=$(state "$role" "$name" events); before=${before:-0}
        pipe_background "$role" "$name" "$source" "$@"
        pid=$!
        for _ in $(seq 400); do
            now=$(state "$role" "$name" events); now=${now:-0}
            [ "$now" -ge $((before + step)) ] && break
            sleep 0.05
        done
        kill -9 $pid 2>/dev/null || fail "run $kill of $name ended before it was killed"
        wait $pid 2>/dev/null || true
    done
}
