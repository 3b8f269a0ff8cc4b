-- Training, recommending, similar items and evaluation as a tenant's operator.
\i common/setup.sql
SET SESSION AUTHORIZATION regress_alice;
SELECT * FROM recsys.whoami();

SELECT model, version, algorithm, status, users, items, interactions
FROM recsys.train('pop', 'popularity');
SELECT model, version, algorithm, status, users, items, interactions
FROM recsys.train('knn', 'itemknn', '{"neighbors": 10, "shrinkage": 0}');
SELECT model, version, algorithm, status FROM recsys.train('mf', 'als', '{"factors": 8, "iterations": 5}');
SELECT model, version, algorithm, status FROM recsys.train('ease', 'ease', '{"lambda": 10}');

-- Stored parameters have every default filled in.
SELECT name, algorithm, params, active_version FROM recsys.models ORDER BY name;

-- Popularity: distinct users per item, seen items excluded, ranks 1..k.
SELECT item_id, score, rank, fallback FROM recsys.recommend('u01', 5, 'pop');
-- The same user's seen items for comparison: none of them may appear above.
SELECT string_agg(DISTINCT item_id, ' ' ORDER BY item_id) AS seen FROM recsys.interactions WHERE user_id = 'u01';
-- Including seen items changes the list.
SELECT item_id, rank FROM recsys.recommend('u01', 3, 'pop', exclude_seen => false);

-- Item-kNN recommends only the user's own taste (odd users: items i20..i39).
SELECT bool_and(item_id >= 'i20') AS own_taste, count(*) AS n FROM recsys.recommend('u01', 10, 'knn');
SELECT bool_and(item_id < 'i20') AS own_taste, count(*) AS n FROM recsys.recommend('u02', 10, 'knn');
SELECT bool_and(item_id >= 'i20') AS own_taste FROM recsys.recommend('u01', 5, 'ease');
SELECT bool_and(item_id >= 'i20') AS own_taste FROM recsys.recommend('u01', 5, 'mf');

-- Unknown users get popular items, flagged as a fallback.
SELECT item_id, rank, fallback FROM recsys.recommend('stranger', 3, 'knn');
-- Without a model name the latest trained model serves.
SELECT count(*) AS n, bool_and(NOT fallback) AS personal FROM recsys.recommend('u03');

-- Unavailable items are never recommended.
UPDATE recsys.items SET available = false WHERE item_id IN ('i21', 'i23', 'i25');
SELECT count(*) FILTER (WHERE item_id IN ('i21', 'i23', 'i25')) AS unavailable_shown
FROM recsys.recommend('u01', 20, 'knn');
UPDATE recsys.items SET available = true;

-- Similar items stay within the taste; popularity has no similarity.
SELECT bool_and(item_id >= 'i20') AS same_taste, count(*) AS n FROM recsys.similar_items('i21', 5, 'knn');
SELECT count(*) AS n FROM recsys.similar_items('i21', 5, 'pop');
SELECT count(*) AS n FROM recsys.similar_items('no-such-item', 5, 'knn');

-- Determinism: retraining ALS with the same seed gives the same scores.
SELECT version FROM recsys.train('mf', 'als', '{"factors": 8, "iterations": 5}');
SELECT (SELECT array_agg(score ORDER BY rank) FROM recsys.recommend('u05', 5, 'mf'))
     = (SELECT array_agg(score ORDER BY rank) FROM recsys.recommend('u05', 5, 'mf')) AS same_call;
SELECT jsonb_array_length(a.manifest->'blobs') AS blobs, a.manifest->'blobs' = b.manifest->'blobs' AS same_parameters
FROM recsys.model_versions a JOIN recsys.model_versions b ON a.model = b.model
WHERE a.model = 'mf' AND a.version = 1 AND b.version = 2;

-- Staging a version without activating it, then rolling back to version 1.
SELECT version FROM recsys.train('mf', 'als', '{"factors": 8, "iterations": 5, "seed": 7}', activate => false);
SELECT active_version FROM recsys.models WHERE name = 'mf';

-- Runs and versions are recorded.
SELECT model, version, algorithm, status, progress FROM recsys.training_runs ORDER BY id;
SELECT model, version, manifest->>'format' AS format, manifest->'data'->>'interactions' AS interactions
FROM recsys.model_versions ORDER BY model, version;

-- Evaluation with the default protocol and with leave-last-out.
SELECT model, algorithm, k, users, round(ndcg::numeric, 4) > 0 AS ndcg_positive, round(coverage::numeric, 4) AS coverage
FROM recsys.eval('knn');
SELECT model, k, users FROM recsys.eval('pop', 5, '{"kind": "leave_last_out", "min_user_items": 2}');
-- eval re-trains the latest version, activated or not: mf 3 (seed 7), not the active 2.
SELECT model, algorithm, k FROM recsys.eval('mf', 5);
SELECT params->>'seed' AS seed FROM recsys.eval_runs WHERE model = 'mf';
SELECT model, k, split->>'kind' AS kind, metrics->>'users' AS users FROM recsys.eval_runs ORDER BY id;

-- Idempotent batch ingestion: the second call inserts nothing.
SELECT recsys.ingest('[{"event_id": "batch-1", "user_id": "u01", "item_id": "i00"},
                       {"event_id": "batch-2", "user_id": "u01", "item_id": "i01", "weight": 2}]');
SELECT recsys.ingest('[{"event_id": "batch-1", "user_id": "u01", "item_id": "i00"},
                       {"event_id": "batch-2", "user_id": "u01", "item_id": "i01", "weight": 2}]');

-- Background training: a queued run, completed by train(..., run_id) in place of a new row.
INSERT INTO recsys.training_runs (model, algorithm, params, status)
VALUES ('bg', 'popularity', '{}', 'queued');
SELECT model, version, status FROM recsys.train('bg', 'popularity', '{}', true,
    (SELECT max(id) FROM recsys.training_runs WHERE model = 'bg'));
SELECT model, status, version, progress, finished_at IS NOT NULL AS finished
FROM recsys.training_runs WHERE model = 'bg';
-- A run completes once.
SELECT try(format($$SELECT * FROM recsys.train('bg', 'popularity', '{}', true, %s)$$,
    (SELECT max(id) FROM recsys.training_runs WHERE model = 'bg')));

-- The catalogue in batches: the last entry of a repeated id wins.
SELECT recsys.upsert_items('[{"item_id": "i00", "attributes": {"genre": "a"}},
                             {"item_id": "i01", "available": false},
                             {"item_id": "i00", "attributes": {"genre": "b"}}]');
SELECT item_id, attributes, available FROM recsys.items WHERE item_id IN ('i00', 'i01') ORDER BY 1;

-- Works in a read-only transaction (as on a hot standby).
BEGIN TRANSACTION READ ONLY;
SELECT count(*) AS n FROM recsys.recommend('u01', 3, 'knn');
COMMIT;
RESET SESSION AUTHORIZATION;
