-- SPDX-License-Identifier: BUSL-1.1
-- Function privileges, applied after every function exists (pgrx "finalize").
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA recsys FROM PUBLIC;
-- Policies and column defaults call it with the caller's rights; whoami only tells a session
-- about itself, which helps most when it has no recsys role yet.
GRANT EXECUTE ON FUNCTION recsys.current_tenant(), recsys.whoami() TO PUBLIC;
GRANT EXECUTE ON FUNCTION recsys.recommend, recsys.similar_items, recsys.algorithms TO recsys_viewer;
GRANT EXECUTE ON FUNCTION recsys.train, recsys.eval, recsys.ingest, recsys.upsert_items TO recsys_operator;
GRANT EXECUTE ON FUNCTION recsys.activate, recsys.drop_model TO recsys_admin;
