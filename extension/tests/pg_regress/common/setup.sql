\set ECHO none
-- SPDX-License-Identifier: BUSL-1.1
-- The state every pg_regress file starts from, whether it runs alone or after others in the same
-- database: the extension created afresh (no models, runs or ids left by an earlier file), two
-- tenants with an operator each, a viewer, a gateway role, try() and each tenant's data.
-- Each file includes it first with `\i common/setup.sql`, which psql resolves from the input
-- directory (run_pg_regress in scripts/lib.sh runs pg_regress there). Echo is off and nothing
-- here returns rows, so an expected file shows only that line, `\set ECHO none` and any error.
-- Notices stay off for the including file too: training reports its progress and time in them.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS recsys CASCADE;
CREATE EXTENSION recsys;
-- Roles belong to the cluster, so they outlive the database: created only where missing.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['regress_alice', 'regress_bob', 'regress_carol', 'regress_gateway', 'regress_nobody']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
    END LOOP;
END $$;
GRANT recsys_operator TO regress_alice, regress_bob;
GRANT recsys_viewer TO regress_carol, regress_nobody;
GRANT recsys_admin TO regress_gateway;
-- bob may SET ROLE carol (acme's viewer): his own session's tenant must still follow his login.
-- (Membership still lets him act for carol elsewhere, e.g. a pg_cron job scheduled as carol:
-- never grant one tenant's login roles to another tenant's; docs/explanation/tenancy.md.)
GRANT regress_carol TO regress_bob;
DO $$
BEGIN
    PERFORM recsys.bind_role('regress_alice', 'acme');
    PERFORM recsys.bind_role('regress_bob', 'globex');
    PERFORM recsys.bind_role('regress_carol', 'acme');
    PERFORM recsys.add_gateway('regress_gateway');
END $$;

-- Catches an error and shows its SQLSTATE, message and hint: one line per bad input.
CREATE OR REPLACE FUNCTION public.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; hint text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ': ' || msg || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;
GRANT EXECUTE ON FUNCTION public.try(text) TO PUBLIC;

-- Deterministic data for acme: 60 users, 40 items, 8 interactions each, in two "tastes".
SET SESSION AUTHORIZATION regress_alice;
INSERT INTO recsys.interactions (event_id, user_id, item_id, weight, occurred_at)
SELECT format('e%s-%s', u, i), 'u' || lpad(u::text, 2, '0'),
       'i' || lpad(((CASE WHEN u % 2 = 0 THEN 0 ELSE 20 END) + (u * 7 + i * 3) % 20)::text, 2, '0'),
       1 + (u + i) % 3, timestamptz '2026-01-01 00:00+00' + (u * 10 + i) * interval '1 hour'
FROM generate_series(1, 60) u, generate_series(1, 8) i;
INSERT INTO recsys.items (item_id, attributes)
SELECT 'i' || lpad(i::text, 2, '0'), jsonb_build_object('n', i) FROM generate_series(0, 39) i;
RESET SESSION AUTHORIZATION;

-- globex has a little data of its own.
SET SESSION AUTHORIZATION regress_bob;
INSERT INTO recsys.interactions (event_id, user_id, item_id)
SELECT format('g%s-%s', u, i), format('g-user-%s', u), format('g-item-%s', (u + i) % 5)
FROM generate_series(1, 10) u, generate_series(1, 3) i;
RESET SESSION AUTHORIZATION;
-- pg_regress runs psql with -a: echo goes back to what it was.
\set ECHO all
