-- Every bad input gets a specific SQLSTATE and, where it helps, a hint.
\i common/setup.sql
SET SESSION AUTHORIZATION regress_alice;
-- The model the calls below name, so that only their bad argument is wrong.
SELECT model, status FROM recsys.train('knn', 'itemknn');
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
SELECT try($$SELECT * FROM recsys.similar_items('i00', NULL)$$);
SELECT try($$SELECT * FROM recsys.similar_items('i00', 0)$$);
SELECT try($$SELECT * FROM recsys.similar_items('', 5)$$);
SELECT try($$SELECT * FROM recsys.eval('no-such-model')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', -1)$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "coin_flip"}')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "random_holdout", "test_fraction": 2, "min_user_items": 5, "seed": 1}')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '"x"')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "time_cut", "cut": 1e400}')$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "time_cut"}')$$);
SELECT try($$SELECT * FROM recsys.eval(NULL)$$);
SELECT try($$SELECT * FROM recsys.eval('knn', NULL)$$);
SELECT try($$SELECT * FROM recsys.eval('knn', 10, NULL)$$);
-- Every event is before the cut: the test side is empty.
SELECT try($$SELECT * FROM recsys.eval('knn', 10, '{"kind": "time_cut", "cut": 4000000000}')$$);
BEGIN;
DELETE FROM recsys.interactions;
SELECT try($$SELECT * FROM recsys.eval('knn')$$);
ROLLBACK;
BEGIN;
INSERT INTO recsys.interactions (user_id, item_id, occurred_at) VALUES ('u', 'i', 'infinity');
SELECT try($$SELECT * FROM recsys.eval('knn')$$);
ROLLBACK;
SELECT try($$SELECT recsys.upsert_items('[{"item_id": ""}]')$$);
SELECT try($$SELECT recsys.upsert_items('{"item_id": "i00"}')$$);
SELECT try($$SELECT recsys.ingest('{"user_id": "u", "item_id": "i"}')$$);
-- API keys are for the REST sidecar's gateway role only.
SELECT try($$SELECT count(*) FROM recsys.api_keys$$);
-- Activation is for admins.
SELECT try($$SELECT recsys.activate('knn', 1)$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id, weight) VALUES ('u', 'i', -1)$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id, weight) VALUES ('u', 'i', 'NaN')$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id) VALUES ('', 'i')$$);
SELECT try($$SELECT recsys.ingest('[{"user_id": null, "item_id": "i"}]')$$);
-- A plain INSERT of an existing event_id (setup.sql's); ingest would skip it.
SELECT try($$INSERT INTO recsys.interactions (event_id, user_id, item_id) VALUES ('e1-1', 'u01', 'i00')$$);
-- Stored versions, runs and the audit trail are append-only for operators.
SELECT try($$UPDATE recsys.model_versions SET params = '{}'$$);
-- Finished runs are history: an update finds no row to change.
WITH changed AS (UPDATE recsys.training_runs SET status = 'failed' RETURNING 1) SELECT count(*) FROM changed;
SELECT try($$INSERT INTO recsys.audit_log (action, object, actor) VALUES ('train', 'x', 'someone_else')$$);
-- Writing functions refuse a read-only transaction before doing any work.
BEGIN TRANSACTION READ ONLY;
SELECT try($$SELECT * FROM recsys.train('m', 'itemknn')$$);
SELECT try($$SELECT * FROM recsys.eval('knn')$$);
ROLLBACK;
-- Only the owner manages tenancy.
SELECT try($$SELECT recsys.bind_role('regress_alice', 'globex')$$);
SELECT try($$INSERT INTO recsys.tenant_roles VALUES ('regress_alice', 'globex')$$);
RESET SESSION AUTHORIZATION;

-- The owner's mistakes: unknown roles, invalid tenant names.
SELECT try($$SELECT recsys.bind_role('regress_no_such_role', 'acme')$$);
SELECT try($$SELECT recsys.add_gateway('regress_no_such_role')$$);
SELECT try($$SELECT recsys.bind_role('regress_nobody', 'bad name!')$$);
-- A superuser without recsys.tenant: a NULL model is refused first, then the missing tenant.
SELECT try($$SELECT recsys.drop_model(NULL)$$);
SELECT try($$SELECT recsys.drop_model('knn')$$);
SELECT try($$SELECT recsys.activate('knn', 1)$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id) VALUES ('u', 'i')$$);
-- A run whose model version exists cannot be deleted (superusers skip the policies).
SELECT try($$DELETE FROM recsys.training_runs WHERE model = 'knn'$$);

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
SELECT try($$SELECT recsys.ingest('[{"user_id": "u", "item_id": "i"}]')$$);
SELECT count(*) FROM recsys.interactions;
RESET SESSION AUTHORIZATION;
REVOKE recsys_operator FROM regress_nobody;

-- A model larger than recsys.max_model_mb is refused and nothing is stored; only a superuser
-- sets the limit.
SET SESSION AUTHORIZATION regress_alice;
SELECT try($$SET recsys.max_model_mb = 1$$);
RESET SESSION AUTHORIZATION;
SET recsys.max_model_mb = 1;
SET SESSION AUTHORIZATION regress_alice;
BEGIN;
INSERT INTO recsys.interactions (user_id, item_id)
SELECT 'bulk' || g, 'i' || (g % 50) FROM generate_series(1, 400) g;
SELECT try($$SELECT * FROM recsys.train('big', 'als', '{"factors": 1024, "iterations": 1}')$$);
SELECT count(*) AS big_versions FROM recsys.model_versions WHERE model = 'big';
ROLLBACK;
RESET SESSION AUTHORIZATION;
RESET recsys.max_model_mb;
