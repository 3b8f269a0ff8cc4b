-- Every bad input gets a specific SQLSTATE and, where it helps, a hint.
SET SESSION AUTHORIZATION regress_alice;
SELECT try($$SELECT * FROM recsys.train(NULL)$$);
SELECT try($$SELECT * FROM recsys.train('bad name!')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'svd')$$);
SELECT try($$SELECT * FROM recsys.train('m', NULL)$$);
SELECT try($$SELECT * FROM recsys.train('m', 'als', NULL)$$);
SELECT try($$SELECT * FROM recsys.train('m', 'als', '[1, 2]')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'als', '{"factors": 0}')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'als', '{"factors": "many"}')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'als', '{"regularization": -1}')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'als', '{"factor": 8}')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'ease', '{"max_memory_mb": 0}')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'itemknn', '{"neighbors": -3}')$$);
-- jsonb keeps 1e400 exactly; a double cannot: a clear 22023, not an internal error.
SELECT try($$SELECT * FROM recsys.train('m', 'als', '{"factors": 1e400}')$$);
SELECT try($$SELECT * FROM recsys.train('m', 'als', '{}', true, -5)$$);
SELECT try($$SELECT * FROM recsys.recommend(NULL)$$);
SELECT try($$SELECT * FROM recsys.recommend('u01', 0)$$);
SELECT try($$SELECT * FROM recsys.recommend('u01', 100000)$$);
SELECT try($$SELECT * FROM recsys.recommend('u01', NULL)$$);
SELECT try($$SELECT * FROM recsys.recommend('', 5)$$);
SELECT try($$SELECT * FROM recsys.recommend('u01', 5, 'no-such-model')$$);
SELECT try($$SELECT * FROM recsys.recommend('u01', 5, 'knn', NULL)$$);
SELECT try($$SELECT * FROM recsys.similar_items(NULL)$$);
SELECT try($$SELECT * FROM recsys.eval('no-such-model')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', -1)$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "coin_flip"}')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "random_holdout", "test_fraction": 2, "min_user_items": 5, "seed": 1}')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '"x"')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "time_cut", "cut": 1e400}')$$);
SELECT try($$SELECT recsys.upsert_items('[{"item_id": ""}]')$$);
-- API keys are for the REST sidecar's gateway role only.
SELECT try($$SELECT count(*) FROM recsys.api_keys$$);
-- Activation is for admins.
SELECT try($$SELECT recsys.activate('knn', 1)$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id, weight) VALUES ('u', 'i', -1)$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id, weight) VALUES ('u', 'i', 'NaN')$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id) VALUES ('', 'i')$$);
SELECT try($$SELECT recsys.ingest('[{"user_id": null, "item_id": "i"}]')$$);
-- Stored versions, runs and the audit trail are append-only for operators.
SELECT try($$UPDATE recsys.model_versions SET params = '{}'$$);
-- Finished runs are history: an update finds no row to change.
WITH changed AS (UPDATE recsys.training_runs SET status = 'failed' RETURNING 1) SELECT count(*) FROM changed;
SELECT try($$INSERT INTO recsys.audit_log (action, object, actor) VALUES ('train', 'x', 'someone_else')$$);
-- Writing functions refuse a read-only transaction before doing any work.
BEGIN TRANSACTION READ ONLY;
SELECT try($$SELECT * FROM recsys.train('m', 'itemknn')$$);
ROLLBACK;
-- Only the owner manages tenancy.
SELECT try($$SELECT recsys.bind_role('regress_alice', 'globex')$$);
SELECT try($$INSERT INTO recsys.tenant_roles VALUES ('regress_alice', 'globex')$$);
RESET SESSION AUTHORIZATION;

-- A tenant without data, and a session without a tenant.
SELECT recsys.bind_role('regress_nobody', 'empty');
GRANT recsys_operator TO regress_nobody;
SET SESSION AUTHORIZATION regress_nobody;
SELECT try($$SELECT * FROM recsys.train('m')$$);
SELECT try($$SELECT * FROM recsys.recommend('u01')$$);
-- An infinite occurred_at has no place in a time window.
BEGIN;
INSERT INTO recsys.interactions (user_id, item_id, occurred_at) VALUES ('u', 'i', 'infinity');
SELECT try($$SELECT * FROM recsys.train('m')$$);
ROLLBACK;
RESET SESSION AUTHORIZATION;
SELECT recsys.unbind_role('regress_nobody');
SET SESSION AUTHORIZATION regress_nobody;
SELECT try($$SELECT * FROM recsys.recommend('u01')$$);
SELECT try($$SELECT * FROM recsys.train('m')$$);
SELECT count(*) FROM recsys.interactions;
RESET SESSION AUTHORIZATION;
REVOKE recsys_operator FROM regress_nobody;
