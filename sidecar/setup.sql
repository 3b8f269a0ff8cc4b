-- SPDX-License-Identifier: BUSL-1.1
-- The database side of the REST sidecar: run once per database, as its owner, after
-- CREATE EXTENSION recsys. The sidecar logs in as recsys_sidecar, chooses the tenant per
-- transaction (a gateway) and switches to recsys_viewer/operator/admin per request.
-- In production also give it a password: ALTER ROLE recsys_sidecar PASSWORD '...';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recsys_sidecar') THEN
        CREATE ROLE recsys_sidecar LOGIN;
    END IF;
END
$$;
GRANT recsys_admin, recsys_gateway TO recsys_sidecar;
SELECT recsys.add_gateway('recsys_sidecar');
