-- SPDX-License-Identifier: BUSL-1.1
-- recsys schema, part 1 (pgrx "bootstrap", before any function): roles and domains.
-- Part 2 is tables.sql, part 3 functions.sql, then grants.sql; docs/explanation/tenancy.md
-- and docs/explanation/security.md explain the model.

-- Group roles. Roles are cluster-wide: create them only if another database has not already.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'recsys_viewer') THEN
        CREATE ROLE recsys_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'recsys_operator') THEN
        CREATE ROLE recsys_operator NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'recsys_admin') THEN
        CREATE ROLE recsys_admin NOLOGIN;
    END IF;
    -- The REST sidecar's login is a member: it may switch to the three roles above per request,
    -- without holding their rights itself (NOINHERIT), and calls the few gateway functions.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'recsys_gateway') THEN
        CREATE ROLE recsys_gateway NOLOGIN NOINHERIT;
    END IF;
    -- Creates, lists and revokes API keys (recsys-sidecar keys ...); nothing else.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'recsys_key_admin') THEN
        CREATE ROLE recsys_key_admin NOLOGIN;
    END IF;
END
$roles$;
ALTER ROLE recsys_gateway NOINHERIT;
GRANT recsys_viewer TO recsys_operator;
GRANT recsys_operator TO recsys_admin;
GRANT recsys_viewer, recsys_operator, recsys_admin TO recsys_gateway;

CREATE DOMAIN recsys.tenant_name AS text
    CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$');
CREATE DOMAIN recsys.external_id AS text
    CHECK (octet_length(VALUE) BETWEEN 1 AND 512);
