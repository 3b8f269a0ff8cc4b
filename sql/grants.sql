-- SPDX-License-Identifier: BUSL-1.1
-- Function privileges, applied after every function exists (pgrx "finalize").
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA recsys FROM PUBLIC;
-- Policies and column defaults call them with the caller's rights; whoami only tells a session
-- about itself, which helps most when it has no recsys role yet.
GRANT EXECUTE ON FUNCTION recsys.current_tenant(), recsys.current_subject(), recsys.whoami() TO PUBLIC;
GRANT EXECUTE ON FUNCTION recsys.recommend, recsys.similar_items, recsys.algorithms TO recsys_viewer;
GRANT EXECUTE ON FUNCTION recsys.train, recsys.eval, recsys.ingest, recsys.upsert_items,
                          recsys.cancel_training TO recsys_operator;
GRANT EXECUTE ON FUNCTION recsys.activate, recsys.drop_model TO recsys_admin;
-- The sidecar serves recommendations in one statement that switches to the request's role
-- while it runs, so PostgreSQL checks EXECUTE on these two as the sidecar's login; each checks
-- it again as the role the statement runs as.
GRANT EXECUTE ON FUNCTION recsys.recommend, recsys.similar_items, recsys.api_key_lookup,
                          recsys.claim_training_run, recsys.fail_orphaned_runs TO recsys_gateway;
GRANT EXECUTE ON FUNCTION recsys.create_api_key, recsys.revoke_api_key TO recsys_key_admin;
