-- SPDX-License-Identifier: BUSL-1.1
-- recsys 0.1.0 -> 0.2.0: tenant isolation and resource governance (CHANGELOG.md, 0.2.0).
-- Released upgrade scripts are frozen: fix mistakes in the next script (docs/how-to/release.md).
-- Every step leaves the catalog as a fresh install of 0.2.0 has it; tests/upgrade checks that.
-- @CARGO_VERSION@ is replaced by the installed version when cargo pgrx installs this file: the
-- functions below must point at the library that is installed, whichever release carries
-- this script.

-- Roles: the gateway switches to the request roles without holding their rights; API keys
-- get an administrator role of their own.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'recsys_key_admin') THEN
        CREATE ROLE recsys_key_admin NOLOGIN;
    END IF;
END
$roles$;
ALTER ROLE recsys_gateway NOINHERIT;
GRANT recsys_viewer, recsys_operator, recsys_admin TO recsys_gateway;

-- Every function in Rust moves to this version's library and pins search_path.
CREATE FUNCTION "current_subject"() RETURNS TEXT /* Option < String > */
STRICT STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'current_subject_wrapper';
CREATE OR REPLACE FUNCTION "algorithms"() RETURNS TABLE (
	"name" TEXT,  /* String */
	"version" INT,  /* i32 */
	"summary" TEXT,  /* String */
	"defaults" jsonb  /* JsonB */
)
IMMUTABLE STRICT PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'algorithms_wrapper';

CREATE OR REPLACE FUNCTION "cached_models"() RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'cached_models_wrapper';

CREATE OR REPLACE FUNCTION "current_tenant"() RETURNS TEXT /* Option < String > */
STRICT STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'current_tenant_wrapper';

CREATE OR REPLACE FUNCTION "eval"(
	"model" TEXT, /* Option < & str > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"split" jsonb DEFAULT '{}' /* Option < JsonbText > */
) RETURNS TABLE (
	"eval_id" bigint,  /* i64 */
	"model" TEXT,  /* String */
	"algorithm" TEXT,  /* String */
	"k" INT,  /* i32 */
	"users" bigint,  /* i64 */
	"precision" double precision,  /* f64 */
	"recall" double precision,  /* f64 */
	"ndcg" double precision,  /* f64 */
	"map" double precision,  /* f64 */
	"hit_rate" double precision,  /* f64 */
	"coverage" double precision,  /* f64 */
	"novelty" double precision,  /* f64 */
	"seconds" double precision  /* f64 */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'eval_wrapper';

CREATE OR REPLACE FUNCTION "recommend"(
	"user_id" TEXT, /* Option < & str > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"model" TEXT DEFAULT NULL, /* Option < & str > */
	"exclude_seen" bool DEFAULT true /* Option < bool > */
) RETURNS TABLE (
	"item_id" TEXT,  /* String */
	"score" real,  /* f32 */
	"rank" INT,  /* i32 */
	"fallback" bool  /* bool */
)
STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'recommend_wrapper';

CREATE OR REPLACE FUNCTION "similar_items"(
	"item_id" TEXT, /* Option < & str > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"model" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"item_id" TEXT,  /* String */
	"score" real,  /* f32 */
	"rank" INT  /* i32 */
)
STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'similar_items_wrapper';

CREATE OR REPLACE FUNCTION "train"(
	"model" TEXT, /* Option < & str > */
	"algorithm" TEXT DEFAULT 'als', /* Option < & str > */
	"params" jsonb DEFAULT '{}', /* Option < JsonbText > */
	"activate" bool DEFAULT true, /* Option < bool > */
	"run_id" bigint DEFAULT NULL /* Option < i64 > */
) RETURNS TABLE (
	"run_id" bigint,  /* i64 */
	"model" TEXT,  /* String */
	"version" INT,  /* i32 */
	"algorithm" TEXT,  /* String */
	"status" TEXT,  /* String */
	"users" bigint,  /* i64 */
	"items" bigint,  /* i64 */
	"interactions" bigint,  /* i64 */
	"seconds" double precision  /* f64 */
)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'recsys-@CARGO_VERSION@', 'train_wrapper';

-- Role bindings by role (regrole), not by name: a dropped role's name no longer carries its
-- tenant to a new role. Bindings of roles that no longer exist are dropped.
DELETE FROM recsys.tenant_roles t WHERE to_regrole(t.role_name::text) IS NULL;
ALTER TABLE recsys.tenant_roles ALTER COLUMN role_name TYPE regrole USING role_name::text::regrole;
DELETE FROM recsys.gateway_roles g WHERE to_regrole(g.role_name::text) IS NULL;
ALTER TABLE recsys.gateway_roles ALTER COLUMN role_name TYPE regrole USING role_name::text::regrole;

-- Training runs: cancellable, queued with their activation, owned by a session.
ALTER TABLE recsys.training_runs
    DROP CONSTRAINT training_runs_status_check,
    ADD CONSTRAINT training_runs_status_check
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    ADD COLUMN activate boolean NOT NULL DEFAULT true,
    ADD COLUMN owner_pid integer,
    ADD COLUMN owner_started timestamptz,
    ADD COLUMN requested_by text DEFAULT recsys.current_subject(),
    ADD UNIQUE (tenant_id, id);
CREATE INDEX training_runs_unfinished ON recsys.training_runs (started_at)
    WHERE status IN ('queued', 'running');

-- A version's run must be its own tenant's. A reference that is not (only possible through
-- a foreign key, which ignores row-level security) is cleared.
UPDATE recsys.model_versions v SET training_run_id = NULL
WHERE v.training_run_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM recsys.training_runs r
                  WHERE r.id = v.training_run_id AND r.tenant_id::text = v.tenant_id::text);
ALTER TABLE recsys.model_versions
    DROP CONSTRAINT model_versions_training_run_id_fkey,
    ADD FOREIGN KEY (tenant_id, training_run_id) REFERENCES recsys.training_runs (tenant_id, id);

-- The transaction that wrote each interaction, for incremental training. Rows written before
-- the upgrade count as written before any snapshot (xid 3, the first normal one), which no
-- version of 0.1.0 recorded anyway; the constant default spares rewriting the table.
ALTER TABLE recsys.interactions ADD COLUMN written_xact xid8 NOT NULL DEFAULT '3';
ALTER TABLE recsys.interactions ALTER COLUMN written_xact SET DEFAULT pg_catalog.pg_current_xact_id();

ALTER TABLE recsys.api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE recsys.audit_log ADD COLUMN subject text DEFAULT recsys.current_subject();

-- Roles may only end unfinished runs as failed or cancelled, and insert only queued ones.
ALTER POLICY unfinished_runs_only ON recsys.training_runs
    WITH CHECK (status IN ('failed', 'cancelled'));
CREATE POLICY queued_runs_only ON recsys.training_runs AS RESTRICTIVE FOR INSERT
    WITH CHECK (status = 'queued');

-- Table privileges: history (versions, activations, run results, audit rows) is written by
-- recsys functions only; API keys through functions.
REVOKE ALL ON recsys.api_keys FROM recsys_gateway;
GRANT USAGE ON SCHEMA recsys TO recsys_key_admin;
GRANT SELECT ON recsys.api_keys TO recsys_key_admin;
REVOKE INSERT ON recsys.models, recsys.model_versions, recsys.training_runs FROM recsys_operator;
REVOKE UPDATE (active_version) ON recsys.models FROM recsys_operator;
REVOKE UPDATE (algorithm, params, progress, version, users, items, interactions, metrics)
    ON recsys.training_runs FROM recsys_operator;
REVOKE INSERT (tenant_id, action, object, details) ON recsys.audit_log FROM recsys_operator;
GRANT INSERT (tenant_id, name, algorithm, params) ON recsys.models TO recsys_operator;
GRANT INSERT (tenant_id, model, algorithm, params, status, activate)
    ON recsys.training_runs TO recsys_operator;

-- pg_dump dumps the rows of these tables (an extension's tables are otherwise left out), and
-- the positions of their id sequences.
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_roles', 'gateway_roles', 'interactions', 'items', 'models',
                             'training_runs', 'model_versions', 'eval_runs', 'api_keys',
                             'audit_log', 'training_runs_id_seq', 'model_versions_id_seq',
                             'eval_runs_id_seq', 'api_keys_id_seq', 'audit_log_id_seq']
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('recsys.%I', t)::regclass, '');
    END LOOP;
END
$dump$;

-- The functions written in SQL, as 0.2.0 defines them.
-- Administration of tenancy: only superusers may call these (EXECUTE is revoked from PUBLIC in
-- grants.sql and the tables behind them are not granted to anyone).
CREATE OR REPLACE FUNCTION recsys.bind_role(role_name name, tenant recsys.tenant_name) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO recsys.tenant_roles (role_name, tenant_id)
    VALUES (bind_role.role_name::text::regrole, bind_role.tenant)
    ON CONFLICT ON CONSTRAINT tenant_roles_pkey DO UPDATE SET tenant_id = EXCLUDED.tenant_id;
    INSERT INTO recsys.audit_log (tenant_id, action, object)
    VALUES (bind_role.tenant, 'bind_role', bind_role.role_name);
$$;
COMMENT ON FUNCTION recsys.bind_role(name, recsys.tenant_name) IS
    'Binds a login role to one tenant: its sessions see and write only that tenant';

CREATE OR REPLACE FUNCTION recsys.unbind_role(role_name name) RETURNS boolean
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM recsys.tenant_roles t
        WHERE t.role_name OPERATOR(pg_catalog.=) to_regrole(unbind_role.role_name::text)
        RETURNING t.tenant_id),
    audited AS (
        INSERT INTO recsys.audit_log (tenant_id, action, object)
        SELECT g.tenant_id, 'unbind_role', unbind_role.role_name FROM gone g
        RETURNING 1)
    SELECT count(*) > 0 FROM audited
$$;
COMMENT ON FUNCTION recsys.unbind_role(name) IS
    'Removes a login role''s tenant (a dropped role''s binding by its OID, as recsys.tenant_roles shows it)';

CREATE OR REPLACE FUNCTION recsys.add_gateway(role_name name) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO recsys.gateway_roles (role_name) VALUES (add_gateway.role_name::text::regrole)
    ON CONFLICT DO NOTHING
$$;
COMMENT ON FUNCTION recsys.add_gateway(name) IS
    'Lets a login role (the REST sidecar) choose the tenant per transaction with set_config(''recsys.tenant'', ..., true)';

CREATE OR REPLACE FUNCTION recsys.remove_gateway(role_name name) RETURNS boolean
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM recsys.gateway_roles g
        WHERE g.role_name OPERATOR(pg_catalog.=) to_regrole(remove_gateway.role_name::text)
        RETURNING 1)
    SELECT count(*) > 0 FROM gone
$$;

-- Which identity and tenant this session has, for debugging access problems.
CREATE OR REPLACE FUNCTION recsys.whoami(OUT session_role name, OUT current_role_name name, OUT tenant text)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT session_user, current_user, recsys.current_tenant()
$$;

-- Batch ingestion, idempotent by event_id: a retried batch inserts nothing twice.
CREATE OR REPLACE FUNCTION recsys.ingest(events jsonb) RETURNS bigint
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
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
CREATE OR REPLACE FUNCTION recsys.upsert_items(items jsonb) RETURNS bigint
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
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

-- Activation is history (audited), so no role may write models.active_version directly: this
-- function does it as the extension's owner, for the caller's tenant only.
CREATE OR REPLACE FUNCTION recsys.activate(model text, version integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := recsys.current_tenant();
BEGIN
    IF model IS NULL OR version IS NULL THEN
        RAISE EXCEPTION 'model and version must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no recsys tenant is bound to this session' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM recsys.model_versions v
                   WHERE v.tenant_id OPERATOR(pg_catalog.=) tenant
                     AND v.model = activate.model AND v.version = activate.version) THEN
        RAISE EXCEPTION 'model "%" has no version %', model, version
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT model, version FROM recsys.model_versions lists the versions';
    END IF;
    UPDATE recsys.models m SET active_version = activate.version
    WHERE m.tenant_id OPERATOR(pg_catalog.=) tenant AND m.name = activate.model;
    INSERT INTO recsys.audit_log (tenant_id, action, object, details)
    VALUES (tenant, 'activate', model, jsonb_build_object('version', version));
END
$$;

CREATE OR REPLACE FUNCTION recsys.drop_model(model text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := recsys.current_tenant();
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no recsys tenant is bound to this session' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE recsys.models m SET active_version = NULL
    WHERE m.tenant_id OPERATOR(pg_catalog.=) tenant AND m.name = drop_model.model;
    DELETE FROM recsys.models m
    WHERE m.tenant_id OPERATOR(pg_catalog.=) tenant AND m.name = drop_model.model;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO recsys.audit_log (tenant_id, action, object) VALUES (tenant, 'drop_model', model);
    RETURN true;
END
$$;

-- Cancels an unfinished training run of the caller's tenant. A queued run is never started;
-- a running one stops at its next progress step, and its result is never stored.
CREATE OR REPLACE FUNCTION recsys.cancel_training(run_id bigint) RETURNS boolean
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    WITH cancelled AS (
        UPDATE recsys.training_runs r
        SET status = 'cancelled', finished_at = clock_timestamp(),
            seconds = extract(epoch FROM clock_timestamp() - r.started_at),
            error = 'cancelled by ' || session_user
        WHERE r.id = cancel_training.run_id AND r.status IN ('queued', 'running')
          AND r.tenant_id OPERATOR(pg_catalog.=) recsys.current_tenant()
        RETURNING 1)
    SELECT count(*) > 0 FROM cancelled
$$;

-- API keys of the REST sidecar. The sidecar's login (a member of recsys_gateway) may only look
-- a key up by its prefix; creating and revoking keys is recsys_key_admin's.
CREATE OR REPLACE FUNCTION recsys.api_key_lookup(prefix text)
    RETURNS TABLE (id bigint, key_hash bytea, tenant_id text, role text, expires_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id, k.key_hash, k.tenant_id::text, k.role, k.expires_at
    FROM recsys.api_keys k
    WHERE k.prefix = api_key_lookup.prefix AND k.revoked_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > now())
$$;

CREATE OR REPLACE FUNCTION recsys.create_api_key(prefix text, key_hash bytea, tenant recsys.tenant_name,
                                      role text, name text DEFAULT '',
                                      expires_at timestamptz DEFAULT NULL)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    WITH created AS (
        INSERT INTO recsys.api_keys (prefix, key_hash, tenant_id, role, name, expires_at)
        VALUES (create_api_key.prefix, create_api_key.key_hash, create_api_key.tenant,
                create_api_key.role, create_api_key.name, create_api_key.expires_at)
        RETURNING id, tenant_id),
    audited AS (
        INSERT INTO recsys.audit_log (tenant_id, action, object, details)
        SELECT c.tenant_id, 'create_api_key', c.id::text,
               jsonb_build_object('role', create_api_key.role, 'name', create_api_key.name,
                                  'expires_at', create_api_key.expires_at)
        FROM created c)
    SELECT id FROM created
$$;

-- Revocation is final, and reaches every sidecar at once through NOTIFY recsys_api_keys.
CREATE OR REPLACE FUNCTION recsys.revoke_api_key(id bigint) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    WITH revoked AS (
        UPDATE recsys.api_keys k SET revoked_at = now()
        WHERE k.id = revoke_api_key.id AND k.revoked_at IS NULL
        RETURNING k.id, k.prefix, k.tenant_id),
    audited AS (
        INSERT INTO recsys.audit_log (tenant_id, action, object)
        SELECT r.tenant_id, 'revoke_api_key', r.id::text FROM revoked r)
    SELECT count(pg_notify('recsys_api_keys', r.prefix)) > 0 FROM revoked r
$$;

-- The REST sidecar's training queue lives in recsys.training_runs, so a run queued by a
-- sidecar that stopped is picked up by another. Claims the next queued run fairly: from the
-- tenants with the fewest running trainings (below per_tenant), then the tenant served least
-- recently (whose latest run to leave the queue is oldest), then the oldest run; never a
-- second run of a model that is training. The run turns running, owned by this session.
CREATE OR REPLACE FUNCTION recsys.claim_training_run(per_tenant integer)
    RETURNS TABLE (run_id bigint, tenant_id text, model text, algorithm text, params jsonb,
                   activate boolean, requested_by text)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    WITH running AS (
        SELECT r.tenant_id, r.model FROM recsys.training_runs r WHERE r.status = 'running'
    ), load AS (
        SELECT q.tenant_id,
               (SELECT count(*) FROM running x
                WHERE x.tenant_id OPERATOR(pg_catalog.=) q.tenant_id) AS busy,
               (SELECT max(s.id) FROM recsys.training_runs s
                WHERE s.tenant_id OPERATOR(pg_catalog.=) q.tenant_id AND s.status <> 'queued') AS served
        FROM (SELECT DISTINCT r.tenant_id FROM recsys.training_runs r WHERE r.status = 'queued') q
    ), next AS (
        SELECT r.id FROM recsys.training_runs r
        JOIN load l ON l.tenant_id OPERATOR(pg_catalog.=) r.tenant_id
        WHERE r.status = 'queued' AND l.busy < claim_training_run.per_tenant
          AND NOT EXISTS (SELECT 1 FROM running x WHERE x.tenant_id OPERATOR(pg_catalog.=) r.tenant_id
                                                    AND x.model = r.model)
        ORDER BY l.busy, l.served NULLS FIRST, r.started_at, r.id
        LIMIT 1
        FOR UPDATE OF r SKIP LOCKED
    )
    UPDATE recsys.training_runs r
    SET status = 'running', owner_pid = pg_backend_pid(),
        owner_started = (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())
    FROM next
    WHERE r.id = next.id
    RETURNING r.id, r.tenant_id::text, r.model, r.algorithm, r.params, r.activate, r.requested_by
$$;

-- Fails the unfinished runs whose responsible session is gone (the database restarted, the
-- trainer was killed, the sidecar died): no run stays running forever. Returns how many.
CREATE OR REPLACE FUNCTION recsys.fail_orphaned_runs() RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    WITH failed AS (
        UPDATE recsys.training_runs r
        SET status = 'failed', finished_at = clock_timestamp(),
            seconds = extract(epoch FROM clock_timestamp() - r.started_at),
            error = 'its training session ended without recording a result (the database restarted, or the trainer stopped)'
        WHERE r.status IN ('queued', 'running') AND r.owner_pid IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                          WHERE a.pid = r.owner_pid AND a.backend_start = r.owner_started)
        RETURNING 1)
    SELECT count(*)::integer FROM failed
$$;

-- An updated interaction counts as written by the updating transaction, so the next
-- incremental training sees that what its previous version read has changed (tables.sql).
CREATE FUNCTION recsys.interaction_rewritten() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.written_xact := pg_catalog.pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER interaction_rewritten BEFORE UPDATE ON recsys.interactions
    FOR EACH ROW EXECUTE FUNCTION recsys.interaction_rewritten();

-- Function privileges, as grants.sql makes them.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA recsys FROM PUBLIC;
-- Policies and column defaults call them with the caller's rights; whoami only tells a session
-- about itself, which helps most when it has no recsys role yet.
GRANT EXECUTE ON FUNCTION recsys.current_tenant(), recsys.current_subject(), recsys.whoami() TO PUBLIC;
GRANT EXECUTE ON FUNCTION recsys.recommend, recsys.similar_items, recsys.algorithms TO recsys_viewer;
GRANT EXECUTE ON FUNCTION recsys.train, recsys.eval, recsys.ingest, recsys.upsert_items,
                          recsys.cancel_training TO recsys_operator;
GRANT EXECUTE ON FUNCTION recsys.activate, recsys.drop_model TO recsys_admin;
-- The sidecar serves recommendations in one statement that switches to the request's role
-- while it runs, so PostgreSQL checks EXECUTE on these two as the sidecar's login; each checks
-- it again as the role the statement runs as.
GRANT EXECUTE ON FUNCTION recsys.recommend, recsys.similar_items, recsys.api_key_lookup,
                          recsys.claim_training_run, recsys.fail_orphaned_runs TO recsys_gateway;
GRANT EXECUTE ON FUNCTION recsys.create_api_key, recsys.revoke_api_key TO recsys_key_admin;

-- Pipelines (crates/recsys-pipelines), as tables.sql makes them: where each pipeline of a tenant stands in its source,
-- written in the same transaction as the events it read, so a crash or a retry neither loses
-- nor repeats an event. position is the source's own (an object and line, a cursor, offsets);
-- NULL means from the start. watermark is the newest occurred_at committed.
CREATE TABLE recsys.pipeline_state (
    tenant_id    recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    pipeline     text NOT NULL CHECK (pipeline ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    source       text NOT NULL CHECK (source IN ('file', 's3', 'postgres', 'kafka')),
    position     jsonb,
    watermark    timestamptz,
    events       bigint NOT NULL DEFAULT 0 CHECK (events >= 0),
    duplicates   bigint NOT NULL DEFAULT 0 CHECK (duplicates >= 0),
    dead_letters bigint NOT NULL DEFAULT 0 CHECK (dead_letters >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pipeline)
);
-- Records a pipeline could not turn into events, with where they are and why; the rest of
-- their batch is committed.
CREATE TABLE recsys.dead_letters (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    pipeline  text NOT NULL,
    origin    text NOT NULL CHECK (octet_length(origin) <= 4096),
    reason    text NOT NULL CHECK (octet_length(reason) <= 4096),
    payload   text NOT NULL CHECK (octet_length(payload) <= 4096),
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_pipeline ON recsys.dead_letters (tenant_id, pipeline, id);

DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pipeline_state', 'dead_letters']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE recsys.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format('ALTER TABLE recsys.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format(
            'CREATE POLICY tenant_isolation ON recsys.%I
                 USING (tenant_id = (SELECT recsys.current_tenant()))
                 WITH CHECK (tenant_id = (SELECT recsys.current_tenant()))', t);
    END LOOP;
END
$rls$;
REVOKE ALL ON recsys.pipeline_state, recsys.dead_letters FROM PUBLIC;
GRANT SELECT ON recsys.pipeline_state, recsys.dead_letters TO recsys_viewer;
GRANT INSERT (tenant_id, pipeline, source),
      UPDATE (position, watermark, events, duplicates, dead_letters, updated_at)
    ON recsys.pipeline_state TO recsys_operator;
GRANT INSERT (tenant_id, pipeline, origin, reason, payload) ON recsys.dead_letters TO recsys_operator;
GRANT DELETE ON recsys.pipeline_state, recsys.dead_letters TO recsys_admin;
-- One call per command: two calls in one statement update pg_extension's row twice and fail
-- with "tuple already updated by self".
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pipeline_state', 'dead_letters', 'dead_letters_id_seq']
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('recsys.%I', t)::regclass, '');
    END LOOP;
END
$dump$;
