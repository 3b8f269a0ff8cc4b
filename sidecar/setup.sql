-- SPDX-License-Identifier: BUSL-1.1
-- The database side of the REST sidecar: run once per database, as a superuser, after
-- CREATE EXTENSION recsys (and again after upgrading from 0.1.0). The sidecar logs in as
-- recsys_sidecar, chooses the tenant per transaction (a gateway) and switches to
-- recsys_viewer/operator/admin per request; as itself it may only look API keys up, claim
-- queued trainings and fail orphaned ones. Keys are created and revoked by a login with
-- recsys_key_admin (docs/how-to/rest-sidecar.md).
-- In production also give it a password: ALTER ROLE recsys_sidecar PASSWORD '...';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'recsys_sidecar') THEN
        CREATE ROLE recsys_sidecar LOGIN;
    END IF;
END
$$;
-- 0.1.0 granted recsys_admin itself; the gateway role now lends only the right to switch.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
               WHERE m.roleid OPERATOR(pg_catalog.=) 'recsys_admin'::regrole
                 AND m.member OPERATOR(pg_catalog.=) 'recsys_sidecar'::regrole) THEN
        REVOKE recsys_admin FROM recsys_sidecar;
    END IF;
END
$$;
GRANT recsys_gateway TO recsys_sidecar;
SELECT recsys.add_gateway('recsys_sidecar');
