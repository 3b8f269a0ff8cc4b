-- One tenant attacks another, as ordinary bound roles (superusers skip row-level security).
-- regress_alice (acme) plants operators and functions; regress_bob (globex) then uses every
-- recsys function. Nothing may run the planted code: the loot table must stay empty.
\i common/setup.sql
-- acme's model, the one alice tries to forge versions of below.
SET SESSION AUTHORIZATION regress_alice;
SELECT model, version FROM recsys.train('mf', 'als', '{"factors": 8, "iterations": 5}');
RESET SESSION AUTHORIZATION;
-- public is writable by everyone on PostgreSQL 14 (and a common grant on 15+); alice may also
-- create a schema, which a careless victim puts first on its path.
GRANT CREATE ON SCHEMA public TO PUBLIC;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_alice', current_database()); END $$;

SET SESSION AUTHORIZATION regress_alice;
CREATE TABLE public.loot (thief text, tenant text, item text);
GRANT INSERT ON public.loot TO PUBLIC;
-- Copies every interaction the caller can see; always answers like the real comparison.
CREATE FUNCTION public.steal(l text, r text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.loot SELECT session_user, i.tenant_id, i.item_id FROM recsys.interactions i;
    RETURN l OPERATOR(pg_catalog.=) r;
END $$;
-- An equality operator for every pair of types the extension's SQL compares on a domain.
DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ARRAY['recsys.tenant_name', 'text'], ARRAY['text', 'recsys.tenant_name'],
        ARRAY['recsys.tenant_name', 'recsys.tenant_name'], ARRAY['recsys.external_id', 'text'],
        ARRAY['text', 'recsys.external_id'], ARRAY['recsys.external_id', 'recsys.external_id'],
        ARRAY['recsys.tenant_name', 'name']]
    LOOP
        EXECUTE format('CREATE FUNCTION public.eq_%s_%s(l %s, r %s) RETURNS boolean LANGUAGE sql
                        AS $f$ SELECT public.steal(l::text, r::text) $f$',
                       replace(pair[1], '.', '_'), replace(pair[2], '.', '_'), pair[1], pair[2]);
        EXECUTE format('CREATE OPERATOR public.= (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.eq_%s_%s)',
                       pair[1], pair[2], replace(pair[1], '.', '_'), replace(pair[2], '.', '_'));
    END LOOP;
END $$;
-- In a schema of its own: operators on plain types and look-alikes of the functions the
-- extension calls, which win wherever the victim's path puts this schema before pg_catalog.
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.eq(l text, r text) RETURNS boolean LANGUAGE sql AS $f$ SELECT public.steal(l, r) $f$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
CREATE FUNCTION evil.eq8(l bigint, r bigint) RETURNS boolean LANGUAGE sql
    AS $f$ SELECT public.steal(l::text, r::text) $f$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq8);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql
    AS $f$ SELECT pg_catalog.now() WHERE public.steal('', '') IS NOT NULL $f$;
CREATE FUNCTION evil.gen_random_uuid() RETURNS uuid LANGUAGE sql
    AS $f$ SELECT pg_catalog.gen_random_uuid() WHERE public.steal('', '') IS NOT NULL $f$;
CREATE FUNCTION evil.jsonb_to_recordset(jsonb) RETURNS SETOF record LANGUAGE sql
    AS $f$ SELECT * FROM pg_catalog.jsonb_to_recordset($1) WHERE public.steal('', '') $f$;
CREATE FUNCTION evil.has_function_privilege(oid, text) RETURNS boolean LANGUAGE sql
    AS $f$ SELECT public.steal('', '') $f$;
CREATE FUNCTION evil.set_config(text, text, boolean) RETURNS text LANGUAGE sql
    AS $f$ SELECT pg_catalog.set_config($1, $2, $3) WHERE public.steal('', '') $f$;
RESET SESSION AUTHORIZATION;

-- bob uses everything, with the planted schema first on his path.
SET SESSION AUTHORIZATION regress_bob;
SET search_path = evil, pg_catalog, public;
SELECT recsys.ingest('[{"event_id": "adv-1", "user_id": "g-user-1", "item_id": "g-item-9"}]');
SELECT recsys.upsert_items('[{"item_id": "g-item-9", "attributes": {"n": 9}}]');
SELECT model, version, algorithm, status FROM recsys.train('adv', 'itemknn');
SELECT count(*) AS recs FROM recsys.recommend('g-user-1', 3, 'adv');
SELECT count(*) AS similar FROM recsys.similar_items('g-item-1', 3, 'adv');
SELECT model, k FROM recsys.eval('adv', 3, '{"kind": "random_holdout", "min_user_items": 2, "test_fraction": 0.5, "seed": 1}');
SELECT session_role, tenant FROM recsys.whoami();
SELECT recsys.cancel_training(0) AS cancelled_nothing;
RESET search_path;
RESET SESSION AUTHORIZATION;
-- An admin's functions, through a gateway with the same path.
SET SESSION AUTHORIZATION regress_gateway;
SET search_path = evil, pg_catalog, public;
BEGIN;
SELECT pg_catalog.set_config('recsys.tenant', 'globex', true) IS NOT NULL AS tenant_set;
SELECT recsys.activate('adv', 1);
SELECT recsys.drop_model('adv') AS dropped;
COMMIT;
RESET search_path;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS stolen_rows FROM public.loot;

-- Limits are the superuser's: a tenant can neither raise nor lower them.
SET SESSION AUTHORIZATION regress_alice;
SELECT try($$SET recsys.max_train_memory_mb = 1000000$$);
SELECT try($$SET recsys.model_cache_mb = 1000000$$);
SELECT try($$SET recsys.max_progress_workers = 64$$);
RESET SESSION AUTHORIZATION;
-- Under a limit, training and evaluation are refused before they allocate.
SET SESSION AUTHORIZATION regress_alice;
SELECT model, status FROM recsys.train('wide', 'als', '{"factors": 1024, "iterations": 1}');
RESET SESSION AUTHORIZATION;
SET recsys.max_train_memory_mb = 1;
SET SESSION AUTHORIZATION regress_alice;
SELECT try($$SELECT * FROM recsys.train('wide', 'als', '{"factors": 1024}')$$);
SELECT try($$SELECT * FROM recsys.eval('wide')$$);
RESET SESSION AUTHORIZATION;
RESET recsys.max_train_memory_mb;
-- At the default limit, EASE on 60,000 items (about 41 GiB) is refused, whatever its own
-- max_memory_mb says; nothing is left behind.
SET SESSION AUTHORIZATION regress_alice;
BEGIN;
INSERT INTO recsys.interactions (event_id, user_id, item_id)
SELECT 'wide-' || i, 'u01', 'w' || i FROM generate_series(1, 60000) i;
SELECT try($$SELECT * FROM recsys.train('big', 'ease', '{"max_memory_mb": 1000000000000}')$$);
ROLLBACK;
SELECT count(*) AS big_models FROM recsys.models WHERE name = 'big';
-- EASE's own max_memory_mb lowers the limit: 2,000 items fit the default, not 1 MiB.
BEGIN;
INSERT INTO recsys.interactions (event_id, user_id, item_id)
SELECT 'wide-' || i, 'u01', 'w' || i FROM generate_series(1, 2000) i;
SELECT try($$SELECT * FROM recsys.train('big', 'ease', '{"max_memory_mb": 1}')$$);
ROLLBACK;
RESET SESSION AUTHORIZATION;

-- History is written by recsys functions only: an operator cannot activate, forge a version,
-- an audit row or a run result, or take a run over.
SET SESSION AUTHORIZATION regress_alice;
SELECT try($$UPDATE recsys.models SET active_version = 1 WHERE name = 'mf'$$);
SELECT try($$INSERT INTO recsys.models (name, algorithm, params, active_version) VALUES ('x', 'als', '{}', 1)$$);
SELECT try($$INSERT INTO recsys.model_versions (model, version, algorithm, params, manifest, artifact)
             VALUES ('mf', 99, 'als', '{}', '{}', '\x00')$$);
SELECT try($$INSERT INTO recsys.audit_log (action, object) VALUES ('activate', 'mf')$$);
SELECT try($$INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES ('mf', 'als', '{}', 'succeeded')$$);
SELECT try($$INSERT INTO recsys.training_runs (model, algorithm, params, status, owner_pid)
             VALUES ('mf', 'als', '{}', 'queued', 1)$$);
INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES ('q', 'als', '{}', 'queued');
SELECT try($$UPDATE recsys.training_runs SET status = 'succeeded' WHERE model = 'q'$$);
SELECT try($$UPDATE recsys.training_runs SET owner_pid = 1 WHERE model = 'q'$$);
WITH u AS (UPDATE recsys.training_runs SET status = 'failed' WHERE status = 'succeeded' RETURNING 1)
SELECT count(*) AS finished_runs_rewritten FROM u;
-- Nor can it call an admin's function, or the gateway's.
SELECT try($$SELECT recsys.activate('mf', 1)$$);
SELECT try($$SELECT * FROM recsys.api_key_lookup('abcdefghijkl')$$);
SELECT try($$SELECT * FROM recsys.claim_training_run(1)$$);
SELECT try($$SELECT recsys.fail_orphaned_runs()$$);
SELECT try($$SELECT recsys.create_api_key('abcdefghijkl', sha256('x'), 'globex', 'admin')$$);
RESET SESSION AUTHORIZATION;

-- Cross-tenant ids: another tenant's run cannot be cancelled, nor referenced by a version.
SET SESSION AUTHORIZATION regress_bob;
INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES ('g', 'als', '{}', 'queued');
RESET SESSION AUTHORIZATION;
SELECT id AS globex_run FROM recsys.training_runs WHERE tenant_id = 'globex' AND model = 'g' \gset
SET SESSION AUTHORIZATION regress_alice;
SELECT recsys.cancel_training(:globex_run) AS cancelled_other_tenants_run;
RESET SESSION AUTHORIZATION;
SELECT status FROM recsys.training_runs WHERE tenant_id = 'globex' AND model = 'g';
SELECT try($$INSERT INTO recsys.model_versions (tenant_id, model, version, algorithm, params, manifest, artifact, training_run_id)
             SELECT 'acme', 'mf', 99, 'als', '{}', '{}', '\x00', max(id) FROM recsys.training_runs WHERE tenant_id = 'globex'$$);
-- bob cancels his own queued run; it never starts.
SET SESSION AUTHORIZATION regress_bob;
SELECT recsys.cancel_training(id) AS cancelled FROM recsys.training_runs WHERE model = 'g';
SELECT status, error FROM recsys.training_runs WHERE model = 'g';
SELECT try($$SELECT * FROM recsys.train('g', 'als', '{}', true, $$ || :globex_run || $$)$$)
    LIKE '55000: training run % is already cancelled%' AS refused;
RESET SESSION AUTHORIZATION;

-- Nothing planted stays for a file run after this one: alice's objects and rights go.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DROP OWNED BY regress_alice;
