-- SPDX-License-Identifier: Apache-2.0
-- Everything the recsys extension defines in a database, one sorted line per fact, so the
-- catalog of an upgraded database can be compared with a fresh install's (tests/upgrade).
-- Functions with signature, volatility, security and settings; tables with columns, defaults,
-- storage, constraints, indexes, row-level security, policies and privileges; domains;
-- extension membership, dumped configuration, comments; the recsys roles.
\pset format unaligned
\pset tuples_only on
WITH extension_roles(names) AS (
    -- The roles the extension creates (logins such as the sidecar's are the DBA's).
    VALUES (ARRAY['recsys_viewer', 'recsys_operator', 'recsys_admin', 'recsys_gateway', 'recsys_key_admin'])
), facts(fact) AS (
    SELECT 'extension ' || e.extversion || ' relocatable=' || e.extrelocatable
    FROM pg_extension e WHERE e.extname = 'recsys'
  UNION ALL
    SELECT 'config ' || c::regclass::text
    FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'recsys'
  UNION ALL
    SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
    FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid AND d.refclassid = 'pg_extension'::regclass
    WHERE e.extname = 'recsys' AND d.deptype = 'e'
  UNION ALL
    SELECT 'function ' || pg_get_functiondef(p.oid)
    FROM pg_proc p WHERE p.pronamespace = 'recsys'::regnamespace
  UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text || ' strict=' || p.proisstrict
           || ' parallel=' || p.proparallel::text || ' cost=' || p.procost || ' rows=' || p.prorows
           || ' leakproof=' || p.proleakproof
    FROM pg_proc p WHERE p.pronamespace = 'recsys'::regnamespace
  UNION ALL
    SELECT 'grant ' || p.oid::regprocedure::text || ' ' || a.privilege_type || ' to '
           || CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
    FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
    WHERE p.pronamespace = 'recsys'::regnamespace
  UNION ALL
    SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity
           || ' force=' || c.relforcerowsecurity || ' options=' || coalesce(c.reloptions::text, '')
    FROM pg_class c WHERE c.relnamespace = 'recsys'::regnamespace
  UNION ALL
    SELECT pg_catalog.format('column %s.%s #%s %s notnull=%s default=%s identity=%s storage=%s',
                             c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
                             a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attstorage::text)
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relnamespace = 'recsys'::regnamespace AND c.relkind IN ('r', 'p')
      AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
    SELECT 'constraint ' || c.conrelid::regclass::text || '.' || c.conname || ' '
           || pg_get_constraintdef(c.oid)
    FROM pg_constraint c WHERE c.connamespace = 'recsys'::regnamespace
  UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    WHERE c.relnamespace = 'recsys'::regnamespace
  UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'recsys'::regnamespace AND NOT t.tgisinternal
  UNION ALL
    SELECT pg_catalog.format('policy %s.%s %s %s to %s using %s check %s', p.tablename,
                             p.policyname, p.permissive, p.cmd, p.roles, p.qual, p.with_check)
    FROM pg_policies p WHERE p.schemaname = 'recsys'
  UNION ALL
    SELECT 'grant ' || c.relname || ' ' || a.privilege_type || ' to '
           || CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.relnamespace = 'recsys'::regnamespace AND c.relacl IS NOT NULL
  UNION ALL
    SELECT 'grant ' || c.relname || '.' || at.attname || ' ' || a.privilege_type || ' to '
           || a.grantee::regrole::text
    FROM pg_class c JOIN pg_attribute at ON at.attrelid = c.oid, aclexplode(at.attacl) a
    WHERE c.relnamespace = 'recsys'::regnamespace AND at.attacl IS NOT NULL
  UNION ALL
    SELECT 'grant schema recsys ' || a.privilege_type || ' to '
           || CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
    FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'recsys'
  UNION ALL
    SELECT 'domain ' || t.typname || ' ' || format_type(t.typbasetype, t.typtypmod) || ' '
           || coalesce(string_agg(pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname), '')
    FROM pg_type t LEFT JOIN pg_constraint c ON c.contypid = t.oid
    WHERE t.typnamespace = 'recsys'::regnamespace AND t.typtype = 'd'
    GROUP BY t.typname, t.typbasetype, t.typtypmod
  UNION ALL
    SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ' ' || d.description
    FROM pg_description d JOIN pg_depend x ON x.classid = d.classoid AND x.objid = d.objoid
    JOIN pg_extension e ON x.refobjid = e.oid AND x.deptype = 'e' AND e.extname = 'recsys'
  UNION ALL
    SELECT 'comment ' || c.relname || '.' || coalesce(a.attname, '') || ' ' || d.description
    FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
    WHERE c.relnamespace = 'recsys'::regnamespace
  UNION ALL
    SELECT pg_catalog.format('role %s login=%s inherit=%s super=%s bypassrls=%s', r.rolname,
                             r.rolcanlogin, r.rolinherit, r.rolsuper, r.rolbypassrls)
    FROM pg_roles r, extension_roles WHERE r.rolname = ANY (extension_roles.names)
  UNION ALL
    SELECT 'membership ' || m.member::regrole::text || ' in ' || m.roleid::regrole::text
    FROM pg_auth_members m, extension_roles
    WHERE m.roleid::regrole::text = ANY (extension_roles.names)
      AND m.member::regrole::text = ANY (extension_roles.names)
)
SELECT fact FROM facts ORDER BY fact COLLATE "C";
