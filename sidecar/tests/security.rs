// SPDX-License-Identifier: BUSL-1.1
//! One tenant against another, and one caller against everyone, over REST: planted operators,
//! floods of unknown keys, revoked and expired keys, greedy trainings and evaluations, dead
//! trainers, forged audit trails (harness: tests/common/mod.rs).

mod common;

use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use common::{assert_problem, Api};
use recsys_sidecar::auth::{key_admin, Principal, Role};
use serde_json::{json, Value};

fn random_key() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!("rsk_{}", Alphanumeric.sample_string(&mut rand::rng(), 52))
}

async fn admin_sql(api: &Api, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(&api.admin)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The SQLSTATE of a database error ("" for any other error).
fn sqlstate(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|d| d.code())
        .unwrap_or_default()
        .into_owned()
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |run| run["status"] == status
}

/// Enough data for an ALS training with many iterations to take seconds.
async fn slow_data(api: &Api, tenant: &str) {
    sqlx::query(
        "INSERT INTO recsys.interactions (tenant_id, event_id, user_id, item_id) \
         SELECT $1, u || '/' || i, 'u' || u, 's' || ((u * 7 + i * 13) % 300) \
         FROM generate_series(1, 400) u, generate_series(1, 8) i",
    )
    .bind(tenant)
    .execute(&api.admin)
    .await
    .expect("data");
}

const SLOW_ALS: &str = r#"{"algorithm": "als", "params": {"factors": 256, "iterations": 1000}}"#;

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn planted_operators_never_run_in_the_sidecars_statements() {
    let api = Api::new().await;
    let t = Api::tenant("victim");
    let operator = api.key(&t, Role::Operator).await;
    let admin = api.key(&t, Role::Admin).await;
    api.ingest(&operator, 12, 9, "i").await;
    // What any role with CREATE on public (PostgreSQL 14's default) can do: an operator on
    // the tenant domain and text, whose function copies every row the caller can see.
    admin_sql(
        &api,
        "CREATE TABLE public.loot (who text, tenant text, item text);
         GRANT INSERT ON public.loot TO PUBLIC;
         CREATE FUNCTION public.steal(l recsys.tenant_name, r text) RETURNS boolean
             LANGUAGE plpgsql AS $$ BEGIN
                 INSERT INTO public.loot SELECT session_user, i.tenant_id, i.item_id
                 FROM recsys.interactions i;
                 RETURN l::text OPERATOR(pg_catalog.=) r; END $$;
         CREATE OPERATOR public.= (LEFTARG = recsys.tenant_name, RIGHTARG = text,
                                   FUNCTION = public.steal);",
    )
    .await;
    let run = api
        .queue(&operator, "m", json!({"algorithm": "popularity"}))
        .await;
    api.wait_run(&operator, &run, status_is("succeeded")).await;
    for (method, path, key) in [
        ("GET", "/v1/models", &operator),
        ("GET", "/v1/models/m/versions", &operator),
        ("GET", run.as_str(), &operator),
        ("GET", "/v1/users/u1/recommendations", &operator),
        ("POST", "/v1/models/m/versions/1/activate", &admin),
    ] {
        let r = api.call(method, path, Some(key), None).await;
        assert!(r.status.is_success(), "{method} {path}: {}", r.body);
    }
    let stolen: i64 = sqlx::query_scalar("SELECT count(*) FROM public.loot")
        .fetch_one(&api.admin)
        .await
        .expect("loot");
    admin_sql(
        &api,
        "DROP OPERATOR public.= (recsys.tenant_name, text); DROP FUNCTION public.steal;
         DROP TABLE public.loot;",
    )
    .await;
    assert_eq!(
        stolen, 0,
        "a planted operator ran in the sidecar's statements"
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn a_flood_of_unknown_keys_is_refused_before_the_database() {
    let api = Api::build(|c| c.key_lookups_per_sec = 5, None).await;
    let t = Api::tenant("flood");
    let valid = api.key(&t, Role::Viewer).await;
    let (mut unauthorized, mut limited) = (0, 0);
    for _ in 0..40 {
        let r = api
            .call("GET", "/v1/models", Some(&random_key()), None)
            .await;
        match r.status {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
                assert!(r.headers.contains_key(header::RETRY_AFTER));
                limited += 1;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    // A burst of twice the rate reached the database; the rest was refused without it.
    assert!(
        unauthorized <= 12 && limited >= 28,
        "{unauthorized} 401, {limited} 429"
    );
    // A key that was looked up and found missing is refused from memory, not rate-limited.
    let missing = random_key();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let first = api.call("GET", "/v1/models", Some(&missing), None).await;
    assert_problem(&first, StatusCode::UNAUTHORIZED, "unauthorized");
    for _ in 0..20 {
        let again = api.call("GET", "/v1/models", Some(&missing), None).await;
        assert_problem(&again, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Keys already verified keep working throughout, also when their cache entry expires
    // while the flood has used up every lookup.
    let api = Api::build(
        |c| {
            c.key_lookups_per_sec = 1;
            c.key_cache_ttl = Duration::from_millis(500);
        },
        None,
    )
    .await;
    // Once the revocation listener is up (connecting, it forgets every cached key).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api.call("GET", "/v1/models", Some(&valid), None)
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..10 {
        for _ in 0..3 {
            api.call("GET", "/v1/models", Some(&random_key()), None)
                .await;
        }
        let r = api.call("GET", "/v1/models", Some(&valid), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A wrong secret under a known prefix is refused without a lookup.
    let mut wrong = valid.clone();
    wrong.replace_range(50.., "XXXXXX");
    assert_problem(
        &api.call("GET", "/v1/models", Some(&wrong), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn revocation_and_expiry_take_effect_within_five_seconds() {
    // An hour of cache: only the revocation notice can make the key stop working in time.
    let api = Api::build(|c| c.key_cache_ttl = Duration::from_secs(3600), None).await;
    let t = Api::tenant("revoke");
    let created = key_admin::create(&api.admin, &t, Role::Viewer, "r", None)
        .await
        .expect("key");
    // The revocation listener connects in the background.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api.call("GET", "/v1/models", Some(&created.key), None)
            .await
            .status,
        StatusCode::OK
    );
    assert!(key_admin::revoke(&api.admin, created.id)
        .await
        .expect("revoke"));
    let revoked = Instant::now();
    loop {
        let r = api
            .call("GET", "/v1/models", Some(&created.key), None)
            .await;
        if r.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "revoked key still works"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Revocation is final: not even the sidecar's login can undo it.
    let undo = sqlx::query("UPDATE recsys.api_keys SET revoked_at = NULL WHERE id = $1")
        .bind(created.id)
        .execute(&api.pool)
        .await;
    assert!(undo.is_err(), "the sidecar's login could un-revoke a key");

    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let expiring = key_admin::create(&api.admin, &t, Role::Viewer, "e", Some(soon))
        .await
        .expect("key");
    assert_eq!(
        api.call("GET", "/v1/models", Some(&expiring.key), None)
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_problem(
        &api.call("GET", "/v1/models", Some(&expiring.key), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn the_sidecars_login_cannot_administer_keys() {
    let api = Api::new().await;
    for sql in [
        "SELECT count(*) FROM recsys.api_keys",
        "SELECT recsys.create_api_key('abcdefghijkl', sha256('x'), 'any', 'admin')",
        "SELECT recsys.revoke_api_key(1)",
        "INSERT INTO recsys.api_keys (prefix, key_hash, tenant_id, role) \
         VALUES ('abcdefghijkl', sha256('x'), 'any', 'admin')",
    ] {
        let e = sqlx::query(sql).execute(&api.pool).await.expect_err(sql);
        assert_eq!(sqlstate(&e), "42501", "{sql}: {e}");
    }
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn one_statement_calls_check_execute_as_the_request_role() {
    let api = Api::new().await;
    // A role the gateway may switch to that may not recommend.
    admin_sql(
        &api,
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sidecar_test_noexec')
         THEN CREATE ROLE sidecar_test_noexec NOLOGIN; END IF; END $$;
         GRANT USAGE ON SCHEMA recsys TO sidecar_test_noexec;
         GRANT sidecar_test_noexec TO recsys_gateway;",
    )
    .await;
    let sql = recsys_sidecar::db::caller_call_sql("r.item_id", "recommend", 4);
    let caller = Principal {
        tenant: Api::tenant("noexec"),
        role: Role::Viewer,
        subject: "test".into(),
    };
    let result = sqlx::query_scalar::<_, String>(&sql)
        .bind(&caller.tenant)
        .bind("sidecar_test_noexec")
        .bind(&caller.subject)
        .bind("u1")
        .bind(10)
        .bind(None::<String>)
        .bind(true)
        .fetch_all(&api.pool)
        .await;
    admin_sql(&api, "REVOKE sidecar_test_noexec FROM recsys_gateway;").await;
    let e = result.expect_err("recommend ran for a role without EXECUTE");
    assert_eq!(sqlstate(&e), "42501", "{e}");
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn trainings_are_limited_per_tenant_and_served_fairly() {
    let api = Api::build(|c| c.training_queue_per_tenant = 2, None).await;
    let (a, b) = (Api::tenant("fair-a"), Api::tenant("fair-b"));
    let (ka, kb) = (
        api.key(&a, Role::Operator).await,
        api.key(&b, Role::Operator).await,
    );
    // a's first training would take minutes: a's second and b's first queue meanwhile, then
    // it is cancelled.
    slow_data(&api, &a).await;
    api.ingest(&kb, 20, 10, "i").await;
    let pop = json!({"algorithm": "popularity"});
    let a1 = api
        .queue(&ka, "m1", serde_json::from_str(SLOW_ALS).expect("json"))
        .await;
    api.wait_run(&ka, &a1, status_is("running")).await;
    let a2 = api.queue(&ka, "m2", pop.clone()).await;
    let b1 = api.queue(&kb, "m1", pop.clone()).await;
    // Two unfinished runs is tenant a's limit; b is not affected by it.
    let over = api
        .call("POST", "/v1/models/m3/training-runs", Some(&ka), Some(pop))
        .await;
    assert_problem(&over, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert_eq!(over.headers[header::RETRY_AFTER], "30");
    let r = api
        .call("POST", &format!("{a1}/cancel"), Some(&ka), None)
        .await;
    assert_eq!(r.body["status"], "cancelled", "{}", r.body);
    let finished = |run: &Value| run["status"] == "succeeded";
    let (ra2, rb1) = (
        api.wait_run(&ka, &a2, finished).await,
        api.wait_run(&kb, &b1, finished).await,
    );
    // One trainer: b's run, queued last, went before a's second, a having been served.
    let at = |r: &Value| r["finished_at"].as_str().unwrap_or_default().to_string();
    assert!(at(&rb1) < at(&ra2), "{rb1}\n{ra2}");
    // With a's runs finished it may queue again.
    let again = api
        .call(
            "POST",
            "/v1/models/m3/training-runs",
            Some(&ka),
            Some(json!({})),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn a_cancelled_training_stops_and_stores_nothing() {
    let api = Api::new().await;
    let t = Api::tenant("cancel");
    let operator = api.key(&t, Role::Operator).await;
    slow_data(&api, &t).await;
    let slow: Value = serde_json::from_str(SLOW_ALS).expect("json");
    let running = api.queue(&operator, "slow", slow.clone()).await;
    // A second run of the same model waits while the first trains.
    let queued = api.queue(&operator, "slow", slow).await;
    api.wait_run(&operator, &running, status_is("running"))
        .await;
    let r = api
        .call("POST", &format!("{queued}/cancel"), Some(&operator), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    let cancelled_at = Instant::now();
    let r = api
        .call("POST", &format!("{running}/cancel"), Some(&operator), None)
        .await;
    assert_eq!(r.body["status"], "cancelled", "{}", r.body);
    // The trainer stops within seconds, not after its thousand iterations.
    loop {
        let training: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%recsys.train(%' AND state = 'active' \
             AND application_name = 'recsys-sidecar'",
        )
        .fetch_one(&api.admin)
        .await
        .expect("activity");
        if training == 0 {
            break;
        }
        assert!(
            cancelled_at.elapsed() < Duration::from_secs(5),
            "training goes on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for run in [&running, &queued] {
        let body = api.call("GET", run, Some(&operator), None).await.body;
        assert_eq!(body["status"], "cancelled", "{body}");
    }
    let versions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM recsys.model_versions WHERE tenant_id = $1")
            .bind(&t)
            .fetch_one(&api.admin)
            .await
            .expect("versions");
    assert_eq!(versions, 0);
    // Cancelling a finished run is a conflict; another tenant's is not found.
    let again = api
        .call("POST", &format!("{running}/cancel"), Some(&operator), None)
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict");
    let other = api.key(&Api::tenant("other"), Role::Operator).await;
    let r = api
        .call("POST", &format!("{queued}/cancel"), Some(&other), None)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn trainings_past_the_maximum_duration_are_stopped() {
    let api = Api::build(|c| c.max_training_duration = Duration::from_secs(1), None).await;
    let t = Api::tenant("long");
    let operator = api.key(&t, Role::Operator).await;
    slow_data(&api, &t).await;
    let run = api
        .queue(
            &operator,
            "slow",
            serde_json::from_str(SLOW_ALS).expect("json"),
        )
        .await;
    let done = api.wait_run(&operator, &run, status_is("failed")).await;
    assert!(
        done["error"]
            .as_str()
            .unwrap_or_default()
            .contains("RECSYS_MAX_TRAINING_SECS"),
        "{done}"
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn runs_of_a_stopped_sidecar_are_picked_up_or_failed() {
    let api = Api::new().await;
    let t = Api::tenant("orphan");
    let operator = api.key(&t, Role::Operator).await;
    api.ingest(&operator, 12, 9, "i").await;
    // A run queued where no trainer of ours knows of it is found by polling.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO recsys.training_runs (tenant_id, model, algorithm, params, status) \
         VALUES ($1, 'm', 'popularity', '{}', 'queued') RETURNING id",
    )
    .bind(&t)
    .fetch_one(&api.admin)
    .await
    .expect("queued");
    let run = format!("/v1/training-runs/{id}");
    api.wait_run(&operator, &run, status_is("succeeded")).await;

    // A run claimed by a sidecar that then died stays running until a sidecar reconciles.
    let dead: i64 = sqlx::query_scalar(
        "INSERT INTO recsys.training_runs (tenant_id, model, algorithm, params, status) \
         VALUES ($1, 'dead', 'popularity', '{}', 'queued') RETURNING id",
    )
    .bind(&t)
    .fetch_one(&api.admin)
    .await
    .expect("queued");
    let url = std::env::var("RECSYS_TEST_DATABASE_URL").expect("url");
    // Claimed over a connection that then closes, like a sidecar killed mid-training; our own
    // trainers are told to claim nothing meanwhile by holding the run's row.
    let mut hold = api.admin.begin().await.expect("tx");
    sqlx::query("SELECT 1 FROM recsys.training_runs WHERE id = $1 FOR UPDATE")
        .bind(dead)
        .execute(&mut *hold)
        .await
        .expect("lock");
    let mut claimer = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    hold.rollback().await.expect("release");
    let claimed: Option<i64> =
        sqlx::query_scalar("SELECT run_id FROM recsys.claim_training_run(1)")
            .fetch_optional(&mut claimer)
            .await
            .expect("claim");
    drop(claimer);
    if claimed != Some(dead) {
        // Our trainer was quicker and trained it: nothing was orphaned to test.
        return;
    }
    // A sidecar starting now fails it at once.
    let restarted = Api::new().await;
    let failed = restarted
        .wait_run(
            &operator,
            &format!("/v1/training-runs/{dead}"),
            status_is("failed"),
        )
        .await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("session ended"),
        "{failed}"
    );
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn evaluations_cannot_starve_serving() {
    let api = Api::build(
        |c| {
            c.db_max_connections = 2;
            c.eval_concurrency = 1;
        },
        None,
    )
    .await;
    let t = Api::tenant("evals");
    let operator = api.key(&t, Role::Operator).await;
    slow_data(&api, &t).await;
    let run = api
        .queue(
            &operator,
            "m",
            json!({"algorithm": "als", "params": {"factors": 256, "iterations": 60}}),
        )
        .await;
    api.wait_run(&operator, &run, status_is("succeeded")).await;
    let eval = || {
        api.call(
            "POST",
            "/v1/models/m/evaluations",
            Some(&operator),
            Some(json!({})),
        )
    };
    let serve = async {
        let mut served = 0;
        for _ in 0..20 {
            let r = api
                .call("GET", "/v1/users/u1/recommendations", Some(&operator), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            served += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        served
    };
    let (first, second, served) = tokio::join!(eval(), eval(), serve);
    let statuses = [first.status, second.status];
    assert!(
        statuses.contains(&StatusCode::OK),
        "{} {}",
        first.body,
        second.body
    );
    let refused = [&first, &second]
        .into_iter()
        .find(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .unwrap_or_else(|| panic!("{} {}", first.body, second.body));
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert_eq!(refused.headers[header::RETRY_AFTER], "10");
    assert_eq!(served, 20);
}

#[tokio::test]
#[ignore = "needs RECSYS_TEST_DATABASE_URL; scripts/test runs it"]
async fn the_audit_log_names_the_key_behind_each_rest_call() {
    let api = Api::new().await;
    let t = Api::tenant("audit");
    let admin = key_admin::create(&api.admin, &t, Role::Admin, "a", None)
        .await
        .expect("key");
    api.ingest(&admin.key, 12, 9, "i").await;
    let run = api
        .queue(&admin.key, "m", json!({"algorithm": "popularity"}))
        .await;
    api.wait_run(&admin.key, &run, status_is("succeeded")).await;
    let r = api
        .call(
            "POST",
            "/v1/models/m/versions/1/activate",
            Some(&admin.key),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT action, actor::text, subject FROM recsys.audit_log \
         WHERE tenant_id = $1 AND action IN ('train', 'activate') ORDER BY id",
    )
    .bind(&t)
    .fetch_all(&api.admin)
    .await
    .expect("audit");
    let who = Some(format!("api_key:{}", admin.id));
    assert_eq!(
        rows,
        vec![
            ("train".into(), "recsys_sidecar".into(), who.clone()),
            ("activate".into(), "recsys_sidecar".into(), who),
        ]
    );
    // The key's creation is in the log too.
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM recsys.audit_log WHERE tenant_id = $1 AND action = 'create_api_key' \
         AND object = $2",
    )
    .bind(&t)
    .bind(admin.id.to_string())
    .fetch_one(&api.admin)
    .await
    .expect("audit");
    assert_eq!(created, 1);
}
