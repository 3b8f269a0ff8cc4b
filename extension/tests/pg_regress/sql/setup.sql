-- The shared set-up every file includes (common/setup.sql): which tenant each login role is
-- bound to, the gateway, and each tenant's data as its operator sees it.
\i common/setup.sql
SELECT role_name, tenant_id FROM recsys.tenant_roles ORDER BY role_name::text;
SELECT role_name AS gateway FROM recsys.gateway_roles;
SET SESSION AUTHORIZATION regress_alice;
SELECT count(*) AS acme_interactions FROM recsys.interactions;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_bob;
SELECT count(*) AS globex_interactions FROM recsys.interactions;
RESET SESSION AUTHORIZATION;
