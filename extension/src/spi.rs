// SPDX-License-Identifier: BUSL-1.1
//! Every query the extension runs on its tables, with bound parameters only (the history a
//! training or an evaluation writes is in `history`; `tenant` resolves the caller,
//! `run_progress` publishes from a background worker, `privileged` finds the extension's
//! owner). Each query also filters by
//! the resolved tenant explicitly, so superusers and BYPASSRLS roles (which skip row-level
//! security) still see one tenant. Comparisons on recsys domains name pg_catalog's operator:
//! the functions pin search_path too, but neither a role's own operators nor its path may
//! ever decide what these queries do.

use std::cell::RefCell;
use std::rc::Rc;

use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiHeapTupleData};
use pgrx::JsonB;
use pgrx::{PgBuiltInOids, PgOid};
use recsys_core::{Interactions, InteractionsBuilder};

use crate::error::{SqlError, SqlResult};
use crate::guc;

mod changes;
mod history;
pub use changes::{read_changes, Read, Source};
pub use history::{record_eval, store_version, Stored};

/// Rows fetched per cursor round trip while loading interactions.
const BATCH: i64 = 50_000;

fn required<T>(value: Option<T>, column: &str) -> SqlResult<T> {
    value.ok_or_else(|| {
        SqlError::new(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("unexpected null in {column}"),
        )
    })
}

/// One value from a read-only query. `Spi::get_one*` run queries in read-write mode, which
/// assigns a transaction id and so fails on a hot standby; everything that only reads uses this.
pub fn select_one<T: FromDatum + IntoDatum>(
    query: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> SqlResult<Option<T>> {
    Spi::connect(|client| {
        let table = client.select(query, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(table.first().get_one::<T>()?)
    })
}

/// All interactions of `tenant` as training data, and where they stood when read (none when
/// there were none), calling `progress(rows so far)` after each
/// batch. Ids go straight from the fetched rows into the builder, which copies each distinct
/// id once; one timestamp per interaction is kept only with `timestamps` (splits and
/// time-aware algorithms), otherwise just their range. Loading stops with 53200 once the
/// data would need more than `recsys.max_train_memory_mb`.
pub fn load_interactions(
    tenant: &str,
    timestamps: bool,
    mut progress: impl FnMut(u64),
) -> SqlResult<(Interactions, Option<Source>)> {
    let mut builder = if timestamps {
        InteractionsBuilder::new()
    } else {
        InteractionsBuilder::without_timestamps()
    };
    let mut snapshot = None;
    // The snapshot the cursor reads in, once (an init plan), for the next incremental
    // training (`changes`).
    for_each_row(
        "SELECT user_id::text, item_id::text, weight, occurred_at, \
                (SELECT pg_catalog.pg_current_snapshot()::text) \
         FROM recsys.interactions WHERE tenant_id OPERATOR(pg_catalog.=) $1",
        &[tenant.into()],
        &mut builder,
        |builder, row| {
            if snapshot.is_none() {
                snapshot = row.get::<String>(5)?;
            }
            let (user, item, weight, time) = interaction(&row)?;
            Ok(builder.push(user, item, weight, time)?)
        },
        |builder, rows| {
            guc::check_memory(builder.peak_bytes(), "loading the interactions")?;
            progress(rows);
            Ok(())
        },
    )?;
    let rows = builder.len() as i64;
    let source = snapshot.map(|snapshot| Source { snapshot, rows });
    Ok((builder.build()?, source))
}

/// Runs `query` through a cursor, handing every row to `row` and, after each batch of
/// [`BATCH`], the rows so far to `batch_done` (memory checks, progress); both with `state`.
fn for_each_row<S>(
    query: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
    state: &mut S,
    mut row: impl FnMut(&mut S, SpiHeapTupleData<'_>) -> SqlResult<()>,
    mut batch_done: impl FnMut(&mut S, u64) -> SqlResult<()>,
) -> SqlResult<()> {
    Spi::connect(|client| {
        let mut cursor = client.try_open_cursor(query, args)?;
        let mut rows = 0u64;
        loop {
            let table = cursor.fetch(BATCH)?;
            if table.is_empty() {
                return Ok(());
            }
            rows += table.len() as u64;
            for r in table {
                row(state, r)?;
            }
            batch_done(state, rows)?;
        }
    })
}

/// The user, item, weight and time (seconds since 1970) in the first four columns of `row`.
fn interaction<'r>(row: &'r SpiHeapTupleData<'_>) -> SqlResult<(&'r str, &'r str, f32, i64)> {
    Ok((
        required(row.get::<&str>(1)?, "user_id")?,
        required(row.get::<&str>(2)?, "item_id")?,
        required(row.get::<f32>(3)?, "weight")?,
        unix_seconds(required(row.get(4)?, "occurred_at")?)?,
    ))
}

/// Seconds since 1970 as `extract(epoch FROM t)::bigint` gives them (rounded half away from
/// zero), without that expression's numeric arithmetic on every row.
fn unix_seconds(t: TimestampWithTimeZone) -> SqlResult<i64> {
    if !t.is_finite() {
        return Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_DATETIME_FIELD_OVERFLOW,
            "an interaction has an infinite occurred_at",
        )
        .hint("give every interaction a finite occurred_at"));
    }
    Ok(round_micros_to_seconds(t.into_inner()) + POSTGRES_EPOCH_UNIX_SECONDS)
}

/// 2000-01-01 00:00:00 UTC, where PostgreSQL counts timestamps from.
const POSTGRES_EPOCH_UNIX_SECONDS: i64 = 946_684_800;

fn round_micros_to_seconds(micros: i64) -> i64 {
    let (seconds, rest) = (micros / 1_000_000, micros % 1_000_000);
    match rest {
        500_000.. => seconds + 1,
        ..=-500_000 => seconds - 1,
        _ => seconds,
    }
}

/// Statements of the serving path, planned once per backend: `recommend` runs them on every
/// call, and parsing and planning them each time cost more than scoring 50k items.
struct ServingStatements {
    version: OwnedPreparedStatement,
    user: OwnedPreparedStatement,
    unavailable: OwnedPreparedStatement,
}

thread_local! {
    static SERVING: RefCell<Option<Rc<ServingStatements>>> = const { RefCell::new(None) };
}

fn serving_statements(client: &SpiClient<'_>) -> SqlResult<Rc<ServingStatements>> {
    if let Some(s) = SERVING.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let text = PgOid::BuiltIn(PgBuiltInOids::TEXTOID);
    let prepared = Rc::new(ServingStatements {
        // In one round: whether the role the statement runs as may execute the calling
        // function (the sidecar's one-statement calls switch roles after PostgreSQL checked
        // EXECUTE as its login), the tenant, and the serving version: the named model's
        // active version, or the model whose active version is newest.
        version: client
            .prepare(
                "SELECT pg_catalog.has_function_privilege($2, 'EXECUTE'), t.tenant, v.id \
                 FROM (SELECT recsys.current_tenant() AS tenant) t \
                 LEFT JOIN LATERAL ( \
                     SELECT v.id FROM recsys.models m \
                     JOIN recsys.model_versions v \
                       ON v.tenant_id OPERATOR(pg_catalog.=) m.tenant_id AND v.model = m.name \
                      AND v.version = m.active_version \
                     WHERE m.tenant_id OPERATOR(pg_catalog.=) t.tenant AND ($1::text IS NULL OR m.name = $1) \
                     ORDER BY v.created_at DESC, v.id DESC LIMIT 1) v ON true",
                &[text, PgOid::BuiltIn(PgBuiltInOids::OIDOID)],
            )?
            .keep(),
        // The user's items with summed weights (seen = true), then the unavailable items.
        user: client
            .prepare(
                "SELECT item_id::text, sum(weight)::real, true FROM recsys.interactions \
                 WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND user_id OPERATOR(pg_catalog.=) $2 \
                 GROUP BY item_id \
                 UNION ALL \
                 SELECT item_id::text, 0::real, false FROM recsys.items \
                 WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND NOT available",
                &[text, text],
            )?
            .keep(),
        unavailable: client
            .prepare(
                "SELECT item_id::text FROM recsys.items \
                 WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND NOT available",
                &[text],
            )?
            .keep(),
    });
    SERVING.with(|s| *s.borrow_mut() = Some(prepared.clone()));
    Ok(prepared)
}

/// The caller's tenant and the id of the model version that serves it: `model`'s active
/// version, or, without a name, the model whose active version is newest. `function` is the
/// calling SQL function, which the current role must be allowed to execute.
pub fn serving_version(model: Option<&str>, function: pg_sys::Oid) -> SqlResult<(String, i64)> {
    let (allowed, tenant, id) = Spi::connect(
        |client| -> SqlResult<(Option<bool>, Option<String>, Option<i64>)> {
            let statements = serving_statements(client)?;
            Ok(client
                .select(
                    &statements.version,
                    Some(1),
                    &[model.into(), function.into()],
                )?
                .first()
                .get_three::<bool, String, i64>()?)
        },
    )?;
    if allowed != Some(true) {
        return Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "permission denied for this recsys function",
        )
        .hint("the role this statement runs as needs EXECUTE on it: GRANT recsys_viewer TO ..."));
    }
    let tenant = tenant.ok_or_else(crate::tenant::no_tenant)?;
    let id = id.ok_or_else(|| match model {
        Some(m) => SqlError::no_data(format!(
            "model \"{m}\" does not exist or has no active version"
        ))
        .hint(format!("train it first: SELECT * FROM recsys.train('{m}')")),
        None => SqlError::no_data("this tenant has no trained model")
            .hint("train one first: SELECT * FROM recsys.train('default')"),
    })?;
    Ok((tenant, id))
}

/// What serving needs to know about a user beyond the model.
pub struct UserContext {
    /// The user's items with summed weights.
    pub history: Vec<(String, f32)>,
    /// The tenant's unavailable items.
    pub unavailable: Vec<String>,
}

pub fn user_context(tenant: &str, user: &str) -> SqlResult<UserContext> {
    Spi::connect(|client| {
        let statements = serving_statements(client)?;
        let rows = client.select(&statements.user, None, &[tenant.into(), user.into()])?;
        let (mut history, mut unavailable) = (Vec::with_capacity(rows.len()), Vec::new());
        for row in rows {
            let item = required(row.get::<String>(1)?, "item_id")?;
            if required(row.get::<bool>(3)?, "seen")? {
                history.push((item, required(row.get::<f32>(2)?, "weight")?));
            } else {
                unavailable.push(item);
            }
        }
        Ok(UserContext {
            history,
            unavailable,
        })
    })
}

pub fn unavailable_items(tenant: &str) -> SqlResult<Vec<String>> {
    Spi::connect(|client| {
        let statements = serving_statements(client)?;
        let rows = client.select(&statements.unavailable, None, &[tenant.into()])?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(required(row.get::<String>(1)?, "item_id")?);
        }
        Ok(out)
    })
}

pub fn artifact(version_id: i64) -> SqlResult<Vec<u8>> {
    let bytes: Option<Vec<u8>> = select_one(
        "SELECT artifact FROM recsys.model_versions WHERE id OPERATOR(pg_catalog.=) $1",
        &[version_id.into()],
    )?;
    bytes.ok_or_else(|| SqlError::no_data("the model version was deleted while in use"))
}

/// The id, artifact size and algorithm of `tenant`'s `model`'s active version, if it has one.
pub fn active_version(tenant: &str, model: &str) -> SqlResult<Option<(i64, i64, String)>> {
    Spi::connect(|client| {
        let table = client.select(
            "SELECT v.id, pg_catalog.octet_length(v.artifact)::bigint, v.algorithm \
             FROM recsys.models m JOIN recsys.model_versions v \
               ON v.tenant_id OPERATOR(pg_catalog.=) m.tenant_id AND v.model = m.name \
              AND v.version = m.active_version \
             WHERE m.tenant_id OPERATOR(pg_catalog.=) $1 AND m.name = $2",
            Some(1),
            &[tenant.into(), model.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(match table.first().get_three::<i64, i64, String>()? {
            (Some(id), Some(bytes), Some(algorithm)) => Some((id, bytes, algorithm)),
            _ => None,
        })
    })
}

/// The algorithm and parameters of a model's latest version, activated or not: what
/// `recsys.eval` re-trains, so a candidate trained with `activate => false` can be evaluated
/// before it is served. Training validates the parameters again.
pub fn model_definition(tenant: &str, model: &str) -> SqlResult<(String, serde_json::Value)> {
    let found = Spi::connect(|client| -> SqlResult<(Option<String>, Option<JsonB>)> {
        let table = client.select(
            "SELECT algorithm, params FROM recsys.model_versions \
             WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND model = $2 ORDER BY version DESC LIMIT 1",
            Some(1),
            &[tenant.into(), model.into()],
        )?;
        if table.is_empty() {
            return Ok((None, None));
        }
        Ok(table.first().get_two::<String, JsonB>()?)
    })?;
    let (algorithm, params) = found;
    match (algorithm, params) {
        (Some(a), Some(p)) => Ok((a, p.0)),
        _ => Err(
            SqlError::no_data(format!("model \"{model}\" does not exist")).hint(format!(
                "train it first: SELECT * FROM recsys.train('{model}')"
            )),
        ),
    }
}

/// Takes the training lock of `tenant`'s `model`: a row lock on its `models` row (created
/// now for a first training), which only a session of the same tenant can hold. False when
/// another session holds it: a second training fails at once instead of waiting.
pub fn lock_model(
    tenant: &str,
    model: &str,
    algorithm: &str,
    params: &serde_json::Value,
) -> SqlResult<bool> {
    Spi::connect_mut(|client| {
        client.update(
            "INSERT INTO recsys.models (tenant_id, name, algorithm, params) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
            None,
            &[tenant.into(), model.into(), algorithm.into(), JsonB(params.clone()).into()],
        )?;
        Ok(!client
            .update(
                "SELECT 1 FROM recsys.models \
                 WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND name = $2 FOR UPDATE SKIP LOCKED",
                None,
                &[tenant.into(), model.into()],
            )?
            .is_empty())
    })
}

/// Marks failed the runs of `model` that a session left `running` without recording a result
/// (cancelled with its caller gone, or crashed): a training turns its run `running` only while
/// it holds the model's lock, which the caller of this now holds, so no other session is
/// training them. Returns how many.
pub fn fail_abandoned_runs(tenant: &str, model: &str, except: Option<i64>) -> SqlResult<usize> {
    Spi::connect_mut(|client| {
        Ok(client
            .update(
                "UPDATE recsys.training_runs SET status = 'failed', finished_at = clock_timestamp(), \
                   seconds = extract(epoch FROM clock_timestamp() - started_at), \
                   error = 'its training session ended without recording a result' \
                 WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND model = $2 AND status = 'running' \
                   AND id IS DISTINCT FROM $3 \
                 RETURNING id",
                None,
                &[tenant.into(), model.into(), except.into()],
            )?
            .len())
    })
}

/// The status of this tenant's training run `run_id` of `model`, as committed now.
pub fn run_status(tenant: &str, model: &str, run_id: i64) -> SqlResult<Option<String>> {
    select_one(
        "SELECT status FROM recsys.training_runs \
         WHERE id = $1 AND tenant_id OPERATOR(pg_catalog.=) $2 AND model = $3",
        &[run_id.into(), tenant.into(), model.into()],
    )
}

/// Checks that `run_id` is a run of this tenant's `model` still waiting to be completed.
pub fn require_queued_run(tenant: &str, model: &str, run_id: i64) -> SqlResult<()> {
    let status = run_status(tenant, model, run_id)?;
    match status.as_deref() {
        Some("queued" | "running") => Ok(()),
        Some(other) => Err(SqlError::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("training run {run_id} is already {other}"),
        )
        .hint("queue a new run: INSERT INTO recsys.training_runs (model, algorithm, params, status) VALUES (..., 'queued')")),
        None => Err(SqlError::no_data(format!(
            "model \"{model}\" has no training run {run_id}"
        ))
        .hint("run_id must be a queued run of the same model, inserted and committed first")),
    }
}
