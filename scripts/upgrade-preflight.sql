-- SPDX-License-Identifier: Apache-2.0
-- Checks to run before ALTER EXTENSION recsys UPDATE, as a superuser, with the new release's
-- files installed:  psql -X -d yourdb -f scripts/upgrade-preflight.sql
-- Works with every released version (it reads only the catalogs and tables 0.1.0 has).
-- Each line says ok or what to do; docs/how-to/upgrade.md explains the procedure.
\set QUIET on
\pset footer off
-- Names resolve to the system catalog only: tenants may have created look-alikes elsewhere.
SET search_path = pg_catalog, pg_temp;
WITH ext AS (
    SELECT installed_version AS installed, default_version AS target
    FROM pg_available_extensions WHERE name = 'recsys'
), path AS (
    SELECT p.path FROM pg_extension_update_paths('recsys') p, ext
    WHERE p.source = ext.installed AND p.target = ext.target
), runs AS (
    SELECT count(*) AS unfinished FROM recsys.training_runs r
    WHERE r.status = ANY (ARRAY['queued', 'running'])
), training AS (
    SELECT count(*) AS sessions FROM pg_stat_activity a
    WHERE a.query LIKE '%recsys.train%' AND a.state <> 'idle'
      AND a.pid <> pg_backend_pid()
), locks AS (
    SELECT count(DISTINCT l.pid) AS sessions FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    WHERE c.relnamespace = 'recsys'::regnamespace
      AND l.pid <> pg_backend_pid()
), size AS (
    SELECT sum(pg_total_relation_size(c.oid)) AS bytes FROM pg_class c
    WHERE c.relnamespace = 'recsys'::regnamespace AND c.relkind = 'r'
)
SELECT 'extension' AS "check",
       CASE WHEN ext.installed IS NULL THEN 'no' WHEN ext.installed = ext.target THEN 'ok' ELSE 'update' END AS status,
       format('installed %s, files of %s installed', coalesce(ext.installed, 'nothing'), ext.target) AS detail
FROM ext
UNION ALL
SELECT 'update path',
       CASE WHEN ext.installed = ext.target OR EXISTS (SELECT 1 FROM path) THEN 'ok' ELSE 'no' END,
       CASE WHEN ext.installed = ext.target THEN 'nothing to update'
            ELSE coalesce((SELECT p.path FROM path p),
                          'no upgrade script from the installed version: install the new release''s files')
       END
FROM ext
UNION ALL
SELECT 'postgresql',
       CASE WHEN current_setting('server_version_num')::int / 10000 BETWEEN 14 AND 18 THEN 'ok' ELSE 'no' END,
       'PostgreSQL ' || current_setting('server_version') || ' (14 to 18 are supported)'
UNION ALL
SELECT 'pg_cron', 'ok',
       coalesce((SELECT 'pg_cron ' || e.extversion || ' in this database: its jobs keep running'
                 FROM pg_extension e WHERE e.extname = 'pg_cron'),
                'not in this database')
UNION ALL
SELECT 'trainings', CASE WHEN runs.unfinished + training.sessions = 0 THEN 'ok' ELSE 'wait' END,
       format('%s queued or running runs, %s sessions training: let them finish or cancel them',
                         runs.unfinished, training.sessions)
FROM runs, training
UNION ALL
SELECT 'locks', CASE WHEN locks.sessions = 0 THEN 'ok' ELSE 'wait' END,
       format('%s other sessions hold locks on recsys tables; the update needs them for a moment',
                         locks.sessions)
FROM locks
UNION ALL
SELECT 'disk', 'ok',
       format('recsys tables take %s; 0.1.0 -> 0.2.0 rewrites none, scans model_versions and training_runs and indexes training_runs; keep a dump (see the how-to)',
                         pg_size_pretty(size.bytes))
FROM size;
