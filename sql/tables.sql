-- SPDX-License-Identifier: BUSL-1.1
-- recsys schema, part 2 (after recsys.current_tenant() and recsys.current_subject(), which the
-- policies and column defaults call): tables, row-level security and table privileges.
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
-- What a model's history is made of (versions, activations, finished runs, the audit log) is
-- written only by recsys functions: train, activate and drop_model write it as the extension's
-- owner (docs/explanation/security.md), so no role can forge or rewrite it with plain SQL.

-- Which login role belongs to which tenant, by role (an OID shown as its name: a renamed role
-- keeps its tenant, a new role that reuses a dropped role's name gets none). Managed by
-- superusers only.
CREATE TABLE recsys.tenant_roles (
    role_name regrole PRIMARY KEY,
    tenant_id recsys.tenant_name NOT NULL
);
-- Login roles trusted to choose the tenant per transaction (the REST sidecar).
CREATE TABLE recsys.gateway_roles (
    role_name regrole PRIMARY KEY
);
REVOKE ALL ON recsys.tenant_roles, recsys.gateway_roles FROM PUBLIC;
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
    -- The transaction that wrote the row (again on update): an incremental training reads the
    -- rows its previous version's snapshot did not see.
    written_xact xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
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

-- A training locks its model's row (FOR UPDATE), so one model trains at a time and only a
-- session of its own tenant can hold that lock.
CREATE TABLE recsys.models (
    tenant_id      recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    algorithm      text NOT NULL,
    params         jsonb NOT NULL,
    active_version integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- owner_pid and owner_started name the session responsible for an unfinished run (the
-- trainer, or the sidecar that claimed it); recsys.fail_orphaned_runs() fails the runs whose
-- session is gone. requested_by is whom a gateway queued the run for (its audit subject).
CREATE TABLE recsys.training_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    model         text NOT NULL,
    algorithm     text NOT NULL,
    params        jsonb NOT NULL,
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress      real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    version       integer,
    users         bigint,
    items         bigint,
    interactions  bigint,
    metrics       jsonb,
    error         text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    seconds       double precision,
    activate      boolean NOT NULL DEFAULT true,
    owner_pid     integer,
    owner_started timestamptz,
    requested_by  text DEFAULT recsys.current_subject(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX training_runs_model ON recsys.training_runs (tenant_id, model, started_at DESC);
CREATE INDEX training_runs_unfinished ON recsys.training_runs (started_at)
    WHERE status IN ('queued', 'running');

CREATE TABLE recsys.model_versions (
    id              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant_id       recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    model           text NOT NULL,
    version         integer NOT NULL CHECK (version > 0),
    algorithm       text NOT NULL,
    params          jsonb NOT NULL,
    manifest        jsonb NOT NULL,
    artifact        bytea NOT NULL,
    training_run_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, model, version),
    FOREIGN KEY (tenant_id, model) REFERENCES recsys.models (tenant_id, name) ON DELETE CASCADE,
    -- With tenant_id: a foreign key ignores row-level security, so a version could otherwise
    -- point at another tenant's run (and learn that its id exists).
    FOREIGN KEY (tenant_id, training_run_id) REFERENCES recsys.training_runs (tenant_id, id)
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
-- key is stored (keys carry 238 random bits, so a slow hash adds nothing); the prefix, itself
-- random, finds the row. Not tenant-scoped: the sidecar looks keys up before it knows the
-- tenant, through recsys.api_key_lookup(); keys are created and revoked through functions of
-- recsys_key_admin, which may also read this table.
CREATE TABLE recsys.api_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix     text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9]{12}$'),
    key_hash   bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    tenant_id  recsys.tenant_name NOT NULL,
    role       text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    name       text NOT NULL DEFAULT '' CHECK (octet_length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    expires_at timestamptz
);

-- actor is the login role; subject, for calls through a gateway, who the gateway served (an
-- API key id or an OIDC subject).
CREATE TABLE recsys.audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  recsys.tenant_name NOT NULL DEFAULT recsys.current_tenant(),
    actor      name NOT NULL DEFAULT session_user,
    action     text NOT NULL,
    object     text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT now(),
    subject    text DEFAULT recsys.current_subject()
);

-- Pipelines (crates/recsys-pipelines): where each pipeline of a tenant stands in its source,
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

-- Row-level security: one policy per table, also for the owner (FORCE).
DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['interactions', 'items', 'models', 'model_versions',
                             'training_runs', 'eval_runs', 'audit_log', 'pipeline_state',
                             'dead_letters']
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE recsys.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE pg_catalog.format('ALTER TABLE recsys.%I FORCE ROW LEVEL SECURITY', t);
        -- The scalar subquery makes the planner evaluate the tenant once per statement.
        EXECUTE pg_catalog.format(
            'CREATE POLICY tenant_isolation ON recsys.%I
                 USING (tenant_id = (SELECT recsys.current_tenant()))
                 WITH CHECK (tenant_id = (SELECT recsys.current_tenant()))', t);
    END LOOP;
END
$rls$;
-- Finished runs are history. A role may only end an unfinished run as failed or cancelled;
-- recsys.train records success.
CREATE POLICY unfinished_runs_only ON recsys.training_runs AS RESTRICTIVE FOR UPDATE
    USING (status IN ('queued', 'running')) WITH CHECK (status IN ('failed', 'cancelled'));
-- A role inserts only queued runs (the sidecar's queue); recsys.train records the others.
CREATE POLICY queued_runs_only ON recsys.training_runs AS RESTRICTIVE FOR INSERT
    WITH CHECK (status = 'queued');

-- Privileges: viewers read and recommend; operators ingest, queue and run trainings and
-- evaluate; admins also delete models and read the audit log.
REVOKE ALL ON ALL TABLES IN SCHEMA recsys FROM PUBLIC;
GRANT USAGE ON SCHEMA recsys TO recsys_viewer, recsys_gateway, recsys_key_admin;
GRANT SELECT ON recsys.api_keys TO recsys_key_admin;
GRANT SELECT ON recsys.interactions, recsys.items, recsys.models, recsys.model_versions,
                recsys.training_runs, recsys.eval_runs TO recsys_viewer;
GRANT INSERT, UPDATE, DELETE ON recsys.interactions, recsys.items TO recsys_operator;
-- Training creates and locks the model's row; activating a version is done by recsys.train
-- and recsys.activate only.
GRANT INSERT (tenant_id, name, algorithm, params), UPDATE (algorithm, params)
    ON recsys.models TO recsys_operator;
-- The sidecar queues runs, and marks them failed or cancelled.
GRANT INSERT (tenant_id, model, algorithm, params, status, activate),
      UPDATE (status, error, finished_at, seconds) ON recsys.training_runs TO recsys_operator;
GRANT INSERT ON recsys.eval_runs TO recsys_operator;
GRANT DELETE ON recsys.models, recsys.model_versions, recsys.training_runs,
                recsys.eval_runs TO recsys_admin;
GRANT SELECT ON recsys.audit_log TO recsys_admin;
-- A pipeline runs as an operator: it reads and advances its state and writes dead letters;
-- admins may also reset or delete them.
GRANT SELECT ON recsys.pipeline_state, recsys.dead_letters TO recsys_viewer;
GRANT INSERT (tenant_id, pipeline, source),
      UPDATE (position, watermark, events, duplicates, dead_letters, updated_at)
    ON recsys.pipeline_state TO recsys_operator;
GRANT INSERT (tenant_id, pipeline, origin, reason, payload) ON recsys.dead_letters TO recsys_operator;
GRANT DELETE ON recsys.pipeline_state, recsys.dead_letters TO recsys_admin;

-- pg_dump dumps the rows of these tables (an extension's tables are otherwise left out), and
-- the positions of their id sequences.
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_roles', 'gateway_roles', 'interactions', 'items', 'models',
                             'training_runs', 'model_versions', 'eval_runs', 'api_keys',
                             'audit_log', 'training_runs_id_seq', 'model_versions_id_seq',
                             'eval_runs_id_seq', 'api_keys_id_seq', 'audit_log_id_seq',
                             'pipeline_state', 'dead_letters', 'dead_letters_id_seq']
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('recsys.%I', t)::regclass, '');
    END LOOP;
END
$dump$;
