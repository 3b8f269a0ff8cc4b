-- A stored model version this build cannot read: of a format version it does not know
-- (written by a newer release) it is refused as incompatible (0A000), damaged as corrupt
-- (XX001). Only a superuser can change a stored version; here it stands in for both cases.
\i common/setup.sql
SET SESSION AUTHORIZATION regress_alice;
SELECT version FROM recsys.train('newer', 'popularity');
SELECT version FROM recsys.train('damaged', 'popularity');
RESET SESSION AUTHORIZATION;
-- The container: magic (8 bytes), manifest length (u64 LE), the manifest's SHA-256, the
-- manifest (JSON), the blobs. A newer release's format version, with a valid checksum:
UPDATE recsys.model_versions v
SET artifact = substr(v.artifact, 1, 16) || sha256(m.manifest) || m.manifest
               || substr(v.artifact, 49 + length(m.manifest))
FROM (SELECT id, overlay(j PLACING '"format_version":9'::bytea FROM position('"format_version":1'::bytea IN j)) AS manifest
      FROM (SELECT id, substr(artifact, 49, get_byte(artifact, 8) + 256 * get_byte(artifact, 9)) AS j
            FROM recsys.model_versions WHERE tenant_id = 'acme' AND model = 'newer') x) m
WHERE v.id = m.id;
UPDATE recsys.model_versions
SET artifact = set_byte(artifact, length(artifact) - 1, get_byte(artifact, length(artifact) - 1) # 255)
WHERE tenant_id = 'acme' AND model = 'damaged';
SET SESSION AUTHORIZATION regress_alice;
SELECT try($$SELECT * FROM recsys.recommend('u01', 3, 'newer')$$);
SELECT try($$SELECT * FROM recsys.recommend('u01', 3, 'damaged')$$);
RESET SESSION AUTHORIZATION;
