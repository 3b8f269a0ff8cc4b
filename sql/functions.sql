-- SPDX-License-Identifier: BUSL-1.1
-- recsys schema, part 3 (after the tables): the functions written in SQL. Every function pins
-- search_path and qualifies comparisons on recsys domains, so no object a role can create
-- (in public, or a schema first on its own path) changes what runs here. The few SECURITY
-- DEFINER functions run as the extension's owner and filter by recsys.current_tenant(), which
-- follows session_user; docs/explanation/security.md lists them and why each needs it.

-- Administration of tenancy: only superusers may call these (EXECUTE is revoked from PUBLIC in
-- grants.sql and the tables behind them are not granted to anyone).
CREATE FUNCTION recsys.bind_role(role_name name, tenant recsys.tenant_name) RETURNS void
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

CREATE FUNCTION recsys.unbind_role(role_name name) RETURNS boolean
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

CREATE FUNCTION recsys.add_gateway(role_name name) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO recsys.gateway_roles (role_name) VALUES (add_gateway.role_name::text::regrole)
    ON CONFLICT DO NOTHING
$$;
COMMENT ON FUNCTION recsys.add_gateway(name) IS
    'Lets a login role (the REST sidecar) choose the tenant per transaction with set_config(''recsys.tenant'', ..., true)';

CREATE FUNCTION recsys.remove_gateway(role_name name) RETURNS boolean
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM recsys.gateway_roles g
        WHERE g.role_name OPERATOR(pg_catalog.=) to_regrole(remove_gateway.role_name::text)
        RETURNING 1)
    SELECT count(*) > 0 FROM gone
$$;

-- Which identity and tenant this session has, for debugging access problems.
CREATE FUNCTION recsys.whoami(OUT session_role name, OUT current_role_name name, OUT tenant text)
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT session_user, current_user, recsys.current_tenant()
$$;

-- Batch ingestion, idempotent by event_id: a retried batch inserts nothing twice.
CREATE FUNCTION recsys.ingest(events jsonb) RETURNS bigint
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
CREATE FUNCTION recsys.upsert_items(items jsonb) RETURNS bigint
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
CREATE FUNCTION recsys.activate(model text, version integer) RETURNS void
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

CREATE FUNCTION recsys.drop_model(model text) RETURNS boolean
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
CREATE FUNCTION recsys.cancel_training(run_id bigint) RETURNS boolean
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
CREATE FUNCTION recsys.api_key_lookup(prefix text)
    RETURNS TABLE (id bigint, key_hash bytea, tenant_id text, role text, expires_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id, k.key_hash, k.tenant_id::text, k.role, k.expires_at
    FROM recsys.api_keys k
    WHERE k.prefix = api_key_lookup.prefix AND k.revoked_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > now())
$$;

CREATE FUNCTION recsys.create_api_key(prefix text, key_hash bytea, tenant recsys.tenant_name,
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
CREATE FUNCTION recsys.revoke_api_key(id bigint) RETURNS boolean
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
CREATE FUNCTION recsys.claim_training_run(per_tenant integer)
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
CREATE FUNCTION recsys.fail_orphaned_runs() RETURNS integer
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
