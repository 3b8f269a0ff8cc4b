-- SPDX-License-Identifier: BUSL-1.1
-- recsys schema: tenancy, tables, row-level security and grants.
-- Included into the extension's install script before any function (pgrx "bootstrap").
--
-- Tenancy model (docs/explanation/tenancy.md):
--   * every table has tenant_id, ENABLE + FORCE row level security, and one policy
--     `tenant_id = (SELECT recsys.current_tenant())`;
--   * recsys.current_tenant() derives the tenant from session_user, never from a setting a
--     client can change: a login role is either bound to one tenant (recsys.tenant_roles) or a
--     gateway (recsys.gateway_roles, e.g. the REST sidecar) that may pick the tenant with
--     set_config('recsys.tenant', ..., true). Superusers count as gateways.
--   * session_user cannot be changed without superuser rights (SET SESSION AUTHORIZATION), and
--     SET ROLE does not change it, so a bound user cannot reach another tenant.

-- Group roles. Roles are cluster-wide: create them only if another database has not already.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsys_viewer') THEN
        CREATE ROLE recsys_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsys_operator') THEN
        CREATE ROLE recsys_operator NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsys_admin') THEN
        CREATE ROLE recsys_admin NOLOGIN;
    END IF;
    -- What the REST sidecar's login role needs beyond recsys_admin: its API keys.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsys_gateway') THEN
        CREATE ROLE recsys_gateway NOLOGIN;
    END IF;
END
$roles$;
GRANT recsys_viewer TO recsys_operator;
GRANT recsys_operator TO recsys_admin;

CREATE DOMAIN recsys.tenant_name AS text
    CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$');
CREATE DOMAIN recsys.external_id AS text
    CHECK (octet_length(VALUE) BETWEEN 1 AND 512);

-- Which login role belongs to which tenant. Managed by the database owner only.
CREATE TABLE recsys.tenant_roles (
    role_name name PRIMARY KEY,
    tenant_id recsys.tenant_name NOT NULL
);
-- Login roles trusted to choose the tenant per transaction (the REST sidecar).
CREATE TABLE recsys.gateway_roles (
    role_name name PRIMARY KEY
);
REVOKE ALL ON recsys.tenant_roles, recsys.gateway_roles FROM PUBLIC;

-- Implemented in Rust (extension/src/tenant.rs), cached per transaction: row-level security
-- calls it once per table scan. Declared here because the policies below need it.
CREATE FUNCTION recsys.current_tenant() RETURNS text
    LANGUAGE c STABLE PARALLEL RESTRICTED SECURITY DEFINER
    AS 'MODULE_PATHNAME', 'current_tenant_wrapper';
COMMENT ON FUNCTION recsys.current_tenant() IS
    'The tenant of this session: bound to session_user, or chosen with recsys.tenant by a gateway role';

CREATE TABLE recsys.interactions (
    tenant_id   recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    event_id    text NOT NULL DEFAULT gen_random_uuid()::text CHECK (octet_length(event_id) BETWEEN 1 AND 512),
    user_id     recsys.external_id NOT NULL,
    item_id     recsys.external_id NOT NULL,
    weight      real NOT NULL DEFAULT 1
                CHECK (weight > 0 AND weight <> 'NaN'::real AND weight <> 'Infinity'::real),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX interactions_user ON recsys.interactions (tenant_id, user_id);
COMMENT ON TABLE recsys.interactions IS
    'Implicit feedback events; idempotent by (tenant_id, event_id): insert with ON CONFLICT DO NOTHING';

CREATE TABLE recsys.items (
    tenant_id  recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    item_id    recsys.external_id NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    available  boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, item_id)
);
CREATE INDEX items_unavailable ON recsys.items (tenant_id) WHERE NOT available;
COMMENT ON TABLE recsys.items IS 'Item catalogue; unavailable items are never recommended';

CREATE TABLE recsys.models (
    tenant_id      recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    algorithm      text NOT NULL,
    params         jsonb NOT NULL,
    active_version integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE recsys.training_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    model        text NOT NULL,
    algorithm    text NOT NULL,
    params       jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    progress     real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    version      integer,
    users        bigint,
    items        bigint,
    interactions bigint,
    metrics      jsonb,
    error        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    seconds      double precision
);
CREATE INDEX training_runs_model ON recsys.training_runs (tenant_id, model, started_at DESC);

CREATE TABLE recsys.model_versions (
    id              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant_id       recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    model           text NOT NULL,
    version         integer NOT NULL CHECK (version > 0),
    algorithm       text NOT NULL,
    params          jsonb NOT NULL,
    manifest        jsonb NOT NULL,
    artifact        bytea NOT NULL,
    training_run_id bigint REFERENCES recsys.training_runs (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, model, version),
    FOREIGN KEY (tenant_id, model) REFERENCES recsys.models (tenant_id, name) ON DELETE CASCADE
);
-- Factors and weights do not compress; skip the attempt.
ALTER TABLE recsys.model_versions ALTER COLUMN artifact SET STORAGE EXTERNAL;
ALTER TABLE recsys.models
    ADD FOREIGN KEY (tenant_id, name, active_version)
    REFERENCES recsys.model_versions (tenant_id, model, version) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE recsys.eval_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    model       text NOT NULL,
    algorithm   text NOT NULL,
    params      jsonb NOT NULL,
    split       jsonb NOT NULL,
    k           integer NOT NULL,
    metrics     jsonb NOT NULL,
    seconds     double precision NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eval_runs_model ON recsys.eval_runs (tenant_id, model, created_at DESC);

-- API keys of the REST sidecar, each bound to one tenant and one role. Only a SHA-256 of the
-- key is stored (keys carry 256 random bits, so a slow hash adds nothing); the prefix, itself
-- random, finds the row. Not tenant-scoped: the sidecar reads it before it knows the tenant,
-- so only recsys_gateway may touch it.
CREATE TABLE recsys.api_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix     text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9]{12}$'),
    key_hash   bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    tenant_id  recsys.tenant_name NOT NULL,
    role       text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    name       text NOT NULL DEFAULT '' CHECK (octet_length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE recsys.audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    actor      name NOT NULL DEFAULT session_user,
    action     text NOT NULL,
    object     text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now()
);

-- Row-level security: one policy per table, also for the owner (FORCE).
DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['interactions', 'items', 'models', 'model_versions',
                             'training_runs', 'eval_runs', 'audit_log']
    LOOP
        EXECUTE format('ALTER TABLE recsys.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE recsys.%I FORCE ROW LEVEL SECURITY', t);
        -- The scalar subquery makes the planner evaluate the tenant once per statement.
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON recsys.%I
                 USING (tenant_id = (SELECT recsys.current_tenant()))
                 WITH CHECK (tenant_id = (SELECT recsys.current_tenant()))', t);
    END LOOP;
END
$rls$;
-- Only an unfinished run may change (recsys.train completes it, a failed caller marks it):
-- finished runs are history.
CREATE POLICY unfinished_runs_only ON recsys.training_runs AS RESTRICTIVE FOR UPDATE
    USING (status IN ('queued', 'running')) WITH CHECK (true);

-- Privileges: viewers read and recommend; operators ingest, train and evaluate; admins also
-- delete models and read the audit log.
REVOKE ALL ON ALL TABLES IN SCHEMA recsys FROM PUBLIC;
GRANT USAGE ON SCHEMA recsys TO recsys_gateway;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON recsys.api_keys TO recsys_gateway;
GRANT USAGE ON SCHEMA recsys TO recsys_viewer;
GRANT SELECT ON recsys.interactions, recsys.items, recsys.models, recsys.model_versions,
                recsys.training_runs, recsys.eval_runs TO recsys_viewer;
GRANT INSERT, UPDATE, DELETE ON recsys.interactions, recsys.items TO recsys_operator;
-- Training upserts the model row (and activates the new version unless told not to).
GRANT INSERT, UPDATE (algorithm, params, active_version) ON recsys.models TO recsys_operator;
-- Versions and eval runs are append-only: nobody rewrites a stored model in place. A training
-- run may be queued first and completed (or failed) later, by recsys.train(..., run_id).
GRANT INSERT ON recsys.model_versions, recsys.training_runs, recsys.eval_runs TO recsys_operator;
GRANT UPDATE (algorithm, params, status, progress, version, users, items, interactions, metrics,
              error, finished_at, seconds) ON recsys.training_runs TO recsys_operator;
-- The actor is always the default, session_user.
GRANT INSERT (tenant_id, action, object, details) ON recsys.audit_log TO recsys_operator;
GRANT DELETE ON recsys.models, recsys.model_versions, recsys.training_runs,
                recsys.eval_runs TO recsys_admin;
GRANT SELECT ON recsys.audit_log TO recsys_admin;

-- Administration of tenancy: only the database owner / superusers may call these (EXECUTE is
-- revoked from PUBLIC in grants.sql and the tables behind them are not granted to anyone).
CREATE FUNCTION recsys.bind_role(role_name name, tenant recsys.tenant_name) RETURNS void
    LANGUAGE sql
AS $$
    INSERT INTO recsys.tenant_roles (role_name, tenant_id)
    VALUES ((bind_role.role_name::regrole)::name, bind_role.tenant)
    ON CONFLICT ON CONSTRAINT tenant_roles_pkey DO UPDATE SET tenant_id = EXCLUDED.tenant_id
$$;
COMMENT ON FUNCTION recsys.bind_role(name, recsys.tenant_name) IS
    'Binds a login role to one tenant: its sessions see and write only that tenant';

CREATE FUNCTION recsys.unbind_role(role_name name) RETURNS boolean
    LANGUAGE sql
AS $$
    WITH gone AS (
        DELETE FROM recsys.tenant_roles t
        WHERE t.role_name IN (unbind_role.role_name, (to_regrole(unbind_role.role_name)::name))
        RETURNING 1)
    SELECT count(*) > 0 FROM gone
$$;

CREATE FUNCTION recsys.add_gateway(role_name name) RETURNS void
    LANGUAGE sql
AS $$
    INSERT INTO recsys.gateway_roles (role_name) VALUES ((add_gateway.role_name::regrole)::name)
    ON CONFLICT DO NOTHING
$$;
COMMENT ON FUNCTION recsys.add_gateway(name) IS
    'Lets a login role (the REST sidecar) choose the tenant per transaction with set_config(''recsys.tenant'', ..., true)';

CREATE FUNCTION recsys.remove_gateway(role_name name) RETURNS boolean
    LANGUAGE sql
AS $$
    WITH gone AS (
        DELETE FROM recsys.gateway_roles g
        WHERE g.role_name IN (remove_gateway.role_name, (to_regrole(remove_gateway.role_name)::name))
        RETURNING 1)
    SELECT count(*) > 0 FROM gone
$$;

-- Which identity and tenant this session has, for debugging access problems.
CREATE FUNCTION recsys.whoami(OUT session_role name, OUT current_role_name name, OUT tenant text)
    LANGUAGE sql STABLE
AS $$
    SELECT session_user, current_user, recsys.current_tenant()
$$;

-- Batch ingestion, idempotent by event_id: a retried batch inserts nothing twice.
CREATE FUNCTION recsys.ingest(events jsonb) RETURNS bigint
    LANGUAGE sql
AS $$
    WITH ins AS (
        INSERT INTO recsys.interactions (event_id, user_id, item_id, weight, occurred_at)
        SELECT coalesce(e.event_id, gen_random_uuid()::text), e.user_id, e.item_id,
               coalesce(e.weight, 1), coalesce(e.occurred_at, now())
        FROM jsonb_to_recordset(events)
             AS e(event_id text, user_id text, item_id text, weight real, occurred_at timestamptz)
        ON CONFLICT (tenant_id, event_id) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM ins
$$;
COMMENT ON FUNCTION recsys.ingest(jsonb) IS
    'Inserts [{"event_id", "user_id", "item_id", "weight", "occurred_at"}, ...]; returns the number of new events';

-- Batch upsert of the catalogue: each entry replaces the item's attributes and availability
-- (absent attributes mean {}, absent availability true); the last entry wins for a repeated id.
CREATE FUNCTION recsys.upsert_items(items jsonb) RETURNS bigint
    LANGUAGE sql
AS $$
    WITH up AS (
        INSERT INTO recsys.items (item_id, attributes, available, updated_at)
        SELECT DISTINCT ON (i.item_id) i.item_id, coalesce(i.attributes, '{}'), coalesce(i.available, true), now()
        FROM ROWS FROM (jsonb_to_recordset(items) AS (item_id text, attributes jsonb, available boolean))
             WITH ORDINALITY AS i(item_id, attributes, available, n)
        ORDER BY i.item_id, i.n DESC
        ON CONFLICT (tenant_id, item_id) DO UPDATE
            SET attributes = EXCLUDED.attributes, available = EXCLUDED.available, updated_at = now()
        RETURNING 1
    )
    SELECT count(*) FROM up
$$;
COMMENT ON FUNCTION recsys.upsert_items(jsonb) IS
    'Inserts or replaces [{"item_id", "attributes", "available"}, ...]; returns the number of items written';

CREATE FUNCTION recsys.activate(model text, version integer) RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    IF model IS NULL OR version IS NULL THEN
        RAISE EXCEPTION 'model and version must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM recsys.model_versions v
                   WHERE v.model = activate.model AND v.version = activate.version
                     AND v.tenant_id = recsys.current_tenant()) THEN
        RAISE EXCEPTION 'model "%" has no version %', model, version
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT model, version FROM recsys.model_versions lists the versions';
    END IF;
    UPDATE recsys.models m SET active_version = activate.version
    WHERE m.name = activate.model AND m.tenant_id = recsys.current_tenant();
    INSERT INTO recsys.audit_log (action, object, details)
    VALUES ('activate', model, jsonb_build_object('version', version));
END
$$;

CREATE FUNCTION recsys.drop_model(model text) RETURNS boolean
    LANGUAGE plpgsql
AS $$
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE recsys.models m SET active_version = NULL
    WHERE m.name = drop_model.model AND m.tenant_id = recsys.current_tenant();
    DELETE FROM recsys.models m WHERE m.name = drop_model.model AND m.tenant_id = recsys.current_tenant();
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO recsys.audit_log (action, object) VALUES ('drop_model', model);
    RETURN true;
END
$$;
