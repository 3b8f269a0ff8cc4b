-- SPDX-License-Identifier: Apache-2.0
-- Every row of every recsys table, as a count and a checksum per table over the columns
-- 0.1.0 has (an upgrade may add columns, never change a row), then each active model's top 10
-- for 20 users of each tenant and its 5 items most similar to 3 items. Run as a superuser;
-- two snapshots of the same data by the same build are byte-identical.
\set QUIET on
\pset format unaligned
\pset tuples_only on
SET search_path = pg_catalog, pg_temp;
SET TimeZone = 'UTC';
SET client_min_messages = warning;
SELECT 'interactions ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s|%s',
           tenant_id, event_id, user_id, item_id, weight, occurred_at), ',' ORDER BY tenant_id, event_id), ''))
FROM recsys.interactions;
SELECT 'items ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s',
           tenant_id, item_id, attributes, available, updated_at), ',' ORDER BY tenant_id, item_id), ''))
FROM recsys.items;
SELECT 'models ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s|%s',
           tenant_id, name, algorithm, params, active_version, created_at), ',' ORDER BY tenant_id, name), ''))
FROM recsys.models;
SELECT 'training_runs ' || count(*) || ' ' || md5(coalesce(string_agg(format(
           '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', id, tenant_id, model, algorithm, params,
           status, progress, version, users, items, interactions, metrics, error, started_at,
           finished_at, seconds), ',' ORDER BY id), ''))
FROM recsys.training_runs;
SELECT 'model_versions ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
           id, tenant_id, model, version, algorithm, params, manifest, md5(artifact), training_run_id,
           created_at), ',' ORDER BY id), ''))
FROM recsys.model_versions;
SELECT 'eval_runs ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
           id, tenant_id, model, algorithm, params, split, k, metrics, seconds, created_at), ',' ORDER BY id), ''))
FROM recsys.eval_runs;
SELECT 'api_keys ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s',
           id, prefix, key_hash, tenant_id, role, name, created_at, revoked_at), ',' ORDER BY id), ''))
FROM recsys.api_keys;
SELECT 'audit_log ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s|%s|%s',
           id, tenant_id, actor, action, object, details, at), ',' ORDER BY id), ''))
FROM recsys.audit_log;
SELECT 'tenant_roles ' || coalesce(string_agg(role_name::text || '=' || tenant_id, ' ' ORDER BY role_name::text), '')
FROM recsys.tenant_roles;
SELECT 'gateway_roles ' || coalesce(string_agg(role_name::text, ' ' ORDER BY role_name::text), '') FROM recsys.gateway_roles;
SELECT 'sequence ' || c.relname || ' ' || coalesce(pg_sequence_last_value(c.oid::regclass)::text, 'unused')
FROM pg_class c WHERE c.relnamespace = 'recsys'::regnamespace AND c.relkind = 'S'
  AND c.relname <> 'dead_letters_id_seq'  -- new in 0.2.0
ORDER BY c.relname;
-- Recommendations, per tenant.
SELECT coalesce(string_agg(DISTINCT tenant_id, ' ' ORDER BY tenant_id), '') AS tenants FROM recsys.interactions \gset
SELECT format('SELECT set_config(%L, %L, false);
               SELECT %L, m.name, u.user_id, r.item_id, r.score, r.rank, r.fallback
               FROM recsys.models m,
                    (SELECT DISTINCT user_id FROM recsys.interactions WHERE tenant_id = %L ORDER BY 1 LIMIT 20) u,
                    LATERAL recsys.recommend(u.user_id, 10, m.name) r
               WHERE m.tenant_id = %L AND m.active_version IS NOT NULL ORDER BY 1, 2, 3, 6;
               SELECT %L, m.name, i.item_id, s.item_id, s.score, s.rank
               FROM recsys.models m,
                    (SELECT DISTINCT item_id FROM recsys.interactions WHERE tenant_id = %L ORDER BY 1 LIMIT 3) i,
                    LATERAL recsys.similar_items(i.item_id, 5, m.name) s
               WHERE m.tenant_id = %L AND m.active_version IS NOT NULL ORDER BY 1, 2, 3, 6;',
              'recsys.tenant', t, t, t, t, t, t, t)
FROM unnest(string_to_array(:'tenants', ' ')) t \gexec
