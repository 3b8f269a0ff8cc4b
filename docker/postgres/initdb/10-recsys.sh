#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 recsys authors
# SPDX-License-Identifier: BUSL-1.1
#
# Runs once, when the official postgres entrypoint initialises an empty data
# directory (/docker-entrypoint-initdb.d), as POSTGRES_USER (a superuser) in
# POSTGRES_DB, against the entrypoint's temporary socket-only server.
#
#   1. CREATE EXTENSION pg_cron (when this database is cron.database_name) and
#      CREATE EXTENSION recsys.
#   2. When RECSYS_SIDECAR_PASSWORD is set: the REST sidecar's login role
#      (RECSYS_SIDECAR_USER, default recsys_sidecar), as sidecar/setup.sql
#      makes it: a gateway that picks the tenant per transaction, and a member
#      of recsys_gateway only, which lets it switch to recsys_viewer, operator
#      or admin per request without holding their rights. It cannot create
#      API keys: a login with recsys_key_admin, or a superuser such as
#      POSTGRES_USER, does (docs/how-to/rest-sidecar.md).
#   3. When RECSYS_PIPELINES_PASSWORD is set: recsys-pipelines' login role
#      (RECSYS_PIPELINES_USER, default recsys_pipelines), bound to tenant
#      RECSYS_PIPELINES_TENANT (default demo) with recsys_operator: it writes
#      that tenant's events, dead letters and checkpoints, nothing else.
#
# An existing data directory is left alone: to run this again, remove the
# volume (`make dev-clean` or `docker compose down -v`).
#
# Executable, so the entrypoint runs it in its own shell; should the mode be
# lost (a checkout without exec bits), the entrypoint sources it instead,
# which is why it only defines and calls one function and leaves `set -u`
# (the entrypoint's own options are -Eeo pipefail) alone.
set -Eeo pipefail

recsys_init() {
    local db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
    local user="${POSTGRES_USER:-postgres}"
    local sidecar_user="${RECSYS_SIDECAR_USER:-recsys_sidecar}"
    local psql=(psql --no-psqlrc --set=ON_ERROR_STOP=1 --quiet --username "$user" --dbname "$db")
    local cron_db

    cron_db="$("${psql[@]}" --tuples-only --no-align --command "SELECT current_setting('cron.database_name', true)")"
    if [[ "$cron_db" == "$db" ]]; then
        echo "recsys: CREATE EXTENSION pg_cron in $db"
        "${psql[@]}" --command 'CREATE EXTENSION IF NOT EXISTS pg_cron'
    else
        echo "recsys: warning: pg_cron not created: cron.database_name is '${cron_db}', not '$db'" \
            "(start postgres with -c cron.database_name=$db to schedule retraining here)" >&2
    fi

    echo "recsys: CREATE EXTENSION recsys in $db"
    "${psql[@]}" --command 'CREATE EXTENSION IF NOT EXISTS recsys'

    recsys_pipelines_role "${psql[@]}"
    if [[ -z "${RECSYS_SIDECAR_PASSWORD:-}" ]]; then
        echo "recsys: RECSYS_SIDECAR_PASSWORD is not set: no sidecar login role created"
        return 0
    fi
    echo "recsys: creating the sidecar's gateway login role $sidecar_user"
    # psql variables: quoted by psql (:'...' literal, :"..." identifier).
    "${psql[@]}" --set=sidecar_user="$sidecar_user" --set=sidecar_password="$RECSYS_SIDECAR_PASSWORD" <<'SQL'
CREATE ROLE :"sidecar_user" LOGIN PASSWORD :'sidecar_password';
GRANT recsys_gateway TO :"sidecar_user";
\o /dev/null
-- Quoted as CREATE ROLE quoted it: add_gateway resolves the name as a role.
SELECT recsys.add_gateway(quote_ident(:'sidecar_user'));
SQL
}

# "$@": the psql command line.
recsys_pipelines_role() {
    if [[ -z "${RECSYS_PIPELINES_PASSWORD:-}" ]]; then
        return 0
    fi
    local user="${RECSYS_PIPELINES_USER:-recsys_pipelines}" tenant="${RECSYS_PIPELINES_TENANT:-demo}"
    echo "recsys: creating recsys-pipelines' login role $user for tenant $tenant"
    "$@" --set=user="$user" --set=password="$RECSYS_PIPELINES_PASSWORD" --set=tenant="$tenant" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
GRANT recsys_operator TO :"user";
\o /dev/null
SELECT recsys.bind_role(quote_ident(:'user'), :'tenant');
SQL
}

recsys_init
