-- Tenant isolation, checked as ordinary (non-owner, non-superuser) login roles.
\i common/setup.sql
-- acme's models, which globex must not see; its gateway drops pop and rolls mf back below.
SET SESSION AUTHORIZATION regress_alice;
SELECT model, version FROM recsys.train('pop', 'popularity');
SELECT model, version FROM recsys.train('knn', 'itemknn');
SELECT model, version FROM recsys.train('mf', 'als', '{"factors": 8, "iterations": 5}');
SELECT model, version FROM recsys.train('mf', 'als', '{"factors": 8, "iterations": 5}');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_bob;
SELECT * FROM recsys.whoami();
-- bob (globex) sees only globex rows, in every table.
SELECT count(*) AS interactions, count(DISTINCT tenant_id) AS tenants FROM recsys.interactions;
SELECT count(*) AS models FROM recsys.models;
SELECT count(*) AS versions FROM recsys.model_versions;
SELECT count(*) AS runs FROM recsys.training_runs;
SELECT count(*) AS evals FROM recsys.eval_runs;
-- acme's model is invisible: recommending from it is "no such model".
SELECT try($$SELECT * FROM recsys.recommend('u01', 5, 'knn')$$);
SELECT try($$SELECT * FROM recsys.eval('knn')$$);
-- Setting the tenant variable does not change bob's tenant.
SELECT set_config('recsys.tenant', 'acme', false);
SELECT recsys.current_tenant();
SELECT count(*) AS interactions_after_set FROM recsys.interactions WHERE tenant_id = 'acme';
RESET recsys.tenant;
-- Writing into another tenant is refused by the policy.
SELECT try($$INSERT INTO recsys.interactions (tenant_id, user_id, item_id) VALUES ('acme', 'x', 'y')$$);
SELECT try($$UPDATE recsys.interactions SET tenant_id = 'acme'$$);
-- SET ROLE to a role bound to acme does not help: the tenant follows the login identity.
SELECT try($$SET ROLE regress_alice$$);
SET ROLE regress_carol;
SELECT * FROM recsys.whoami();
SELECT count(*) AS acme_rows_as_carol FROM recsys.interactions WHERE tenant_id = 'acme';
RESET ROLE;
-- Training on globex uses only globex data.
SELECT model, users, items, interactions FROM recsys.train('knn', 'itemknn');
SELECT item_id LIKE 'g-item-%' AS globex_item FROM recsys.recommend('g-user-1', 2, 'knn');
RESET SESSION AUTHORIZATION;

-- carol is a viewer of acme: she reads and recommends, but cannot write or train.
SET SESSION AUTHORIZATION regress_carol;
SELECT count(*) > 0 AS reads FROM recsys.interactions;
SELECT count(*) AS recs FROM recsys.recommend('u01', 3, 'knn');
SELECT try($$SELECT * FROM recsys.train('knn2', 'itemknn')$$);
SELECT try($$INSERT INTO recsys.interactions (user_id, item_id) VALUES ('x', 'y')$$);
SELECT try($$SELECT recsys.drop_model('knn')$$);
RESET SESSION AUTHORIZATION;

-- A gateway (the REST sidecar) chooses the tenant per transaction.
SET SESSION AUTHORIZATION regress_gateway;
SELECT recsys.current_tenant() IS NULL AS no_tenant_yet;
BEGIN;
SELECT set_config('recsys.tenant', 'globex', true);
SELECT count(*) AS globex_models FROM recsys.models;
COMMIT;
BEGIN;
SELECT set_config('recsys.tenant', 'acme', true);
SELECT count(*) AS acme_models FROM recsys.models;
SELECT recsys.drop_model('pop');
SELECT recsys.drop_model('pop') AS dropped_twice;
-- Roll back to an earlier version; bad versions are refused.
SELECT recsys.activate('mf', 1);
SELECT name, active_version FROM recsys.models WHERE name = 'mf';
SELECT try($$SELECT recsys.activate('mf', 99)$$);
SELECT try($$SELECT recsys.activate(NULL, 1)$$);
SELECT action, object FROM recsys.audit_log ORDER BY id DESC LIMIT 1;
COMMIT;
SELECT recsys.current_tenant() IS NULL AS tenant_ends_with_transaction;
RESET SESSION AUTHORIZATION;
