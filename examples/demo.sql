-- SPDX-License-Identifier: Apache-2.0
-- The recsys demo: load the bundled synthetic data, train three algorithms, recommend,
-- evaluate. Run by scripts/demo as a superuser with psql -v datadir=<path to examples/data>.
\set QUIET on
\pset footer off
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS recsys;

-- An application role bound to the tenant "demo": everything it does stays in that tenant.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'demo_app') THEN
        CREATE ROLE demo_app LOGIN;
    END IF;
END $$;
GRANT recsys_operator TO demo_app;
DO $$ BEGIN PERFORM recsys.bind_role('demo_app', 'demo'); END $$;

-- Stage the files (the server reads them; COPY cannot convert unix seconds itself).
CREATE TEMP TABLE staged_interactions (user_id text, item_id text, weight real, ts bigint);
CREATE TEMP TABLE staged_items (item_id text, title text, genre text);
\set interactions_file :datadir '/interactions.tsv'
\set items_file :datadir '/items.tsv'
COPY staged_interactions FROM :'interactions_file' WITH (FORMAT csv, DELIMITER E'\t', HEADER true);
COPY staged_items FROM :'items_file' WITH (FORMAT csv, DELIMITER E'\t', HEADER true);
GRANT SELECT ON staged_interactions, staged_items TO demo_app;

-- From here on the session is the application's: row-level security keeps it in "demo".
SET SESSION AUTHORIZATION demo_app;
INSERT INTO recsys.interactions (event_id, user_id, item_id, weight, occurred_at)
SELECT user_id || '/' || item_id || '/' || ts, user_id, item_id, weight, to_timestamp(ts)
FROM staged_interactions
ON CONFLICT (tenant_id, event_id) DO NOTHING;
INSERT INTO recsys.items (item_id, attributes)
SELECT item_id, jsonb_build_object('title', title, 'genre', genre) FROM staged_items
ON CONFLICT (tenant_id, item_id) DO NOTHING;

\echo
\echo '== Data'
SELECT count(*) AS interactions, count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items
FROM recsys.interactions;

\echo '== Training three algorithms'
SELECT model, version, algorithm, interactions, round(seconds::numeric, 3) AS seconds
FROM recsys.train('ease', 'ease', '{"lambda": 250}')
UNION ALL
SELECT model, version, algorithm, interactions, round(seconds::numeric, 3)
FROM recsys.train('neighbours', 'itemknn', '{"neighbors": 50}')
UNION ALL
SELECT model, version, algorithm, interactions, round(seconds::numeric, 3)
FROM recsys.train('factors', 'als', '{"factors": 16, "regularization": 1, "iterations": 15, "seed": 42}');

\echo '== Top 5 for user u000042 from each model (seen items excluded)'
SELECT m.model, r.rank, r.item_id, i.attributes->>'title' AS title, i.attributes->>'genre' AS genre,
       round(r.score::numeric, 3) AS score
FROM unnest(ARRAY['ease', 'neighbours', 'factors']) AS m(model)
CROSS JOIN LATERAL recsys.recommend('u000042', 5, m.model) r
JOIN recsys.items i USING (item_id)
ORDER BY array_position(ARRAY['ease', 'neighbours', 'factors'], m.model), r.rank;

\echo '== What u000042 has interacted with, by genre'
SELECT i.attributes->>'genre' AS genre, count(*) AS interactions
FROM recsys.interactions x JOIN recsys.items i USING (item_id)
WHERE x.user_id = 'u000042'
GROUP BY 1 ORDER BY 2 DESC, 1;

\echo '== A user the models have never seen falls back to popularity'
SELECT rank, item_id, fallback FROM recsys.recommend('someone-new', 3, 'factors');

\echo '== Items similar to i00007'
SELECT r.rank, r.item_id, i.attributes->>'genre' AS genre, round(r.score::numeric, 3) AS similarity
FROM recsys.similar_items('i00007', 5, 'neighbours') r JOIN recsys.items i USING (item_id);

\echo '== Evaluation: 20% of each user''s items held out (seed 42), top 10'
SELECT e.model, e.algorithm, round(e.precision::numeric, 4) AS "P@10", round(e.recall::numeric, 4) AS "R@10",
       round(e.ndcg::numeric, 4) AS "NDCG@10", round(e.map::numeric, 4) AS "MAP@10",
       round(e.coverage::numeric, 3) AS coverage
FROM unnest(ARRAY['ease', 'neighbours', 'factors']) AS m(model)
CROSS JOIN LATERAL recsys.eval(m.model, 10) e;

RESET SESSION AUTHORIZATION;
