// SPDX-License-Identifier: BUSL-1.1
//! Live progress of a queued training run. `recsys.train` writes its results in the caller's
//! transaction, which no other session sees before it commits, so a poller (the REST
//! sidecar's clients) would see the run `queued` until the very end. Each step of progress is
//! therefore written by a short-lived background worker in a transaction of its own: the run
//! turns `running` when fitting starts and its `progress` rises as the fit goes; the training's
//! own transaction then stores `succeeded` and 1, or its caller marks the run `failed`.
//!
//! The first step also records the trainer's session as the run's owner, so
//! `recsys.fail_orphaned_runs()` can tell a run whose trainer died.
//!
//! Best effort: a step is skipped while `recsys.max_progress_workers` of these workers run
//! (so no tenant can take every worker slot of the server) or no slot is free; the NOTICEs go
//! out regardless.

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::prelude::*;

use crate::{guc, spi};

/// The library this build installs as (`cargo pgrx install` names it after the version).
const LIBRARY: &str = concat!("recsys-", env!("CARGO_PKG_VERSION"));
const WORKER_TYPE: &str = "recsys run progress";

/// Records that queued run `run_id` is running and `progress` (0 to 1) of it is done.
pub fn publish(run_id: i64, progress: f32) {
    // Under REPEATABLE READ or SERIALIZABLE the training could not update at the end a row
    // that a worker changed after its snapshot was taken.
    let snapshot_per_transaction =
        unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32;
    if snapshot_per_transaction {
        return;
    }
    let running: Option<i64> = spi::select_one(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity a \
         WHERE a.backend_type OPERATOR(pg_catalog.=) $1",
        &[WORKER_TYPE.into()],
    )
    .unwrap_or(None);
    if running.unwrap_or(i64::MAX) >= guc::max_progress_workers() {
        debug1!("recsys: recsys.max_progress_workers reached; run {run_id}'s progress skipped");
        return;
    }
    // SAFETY: reads the backend's own database and process id.
    let (database, trainer) = unsafe { (pg_sys::MyDatabaseId.to_u32(), pg_sys::MyProcPid) };
    let launched = BackgroundWorkerBuilder::new(WORKER_TYPE)
        .set_type(WORKER_TYPE)
        .set_library(LIBRARY)
        .set_function("recsys_run_progress_main")
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .enable_spi_access()
        .set_extra(&format!("{database} {run_id} {progress} {trainer}"))
        .load_dynamic();
    if launched.is_err() {
        debug1!("recsys: no background worker slot free to record the progress of run {run_id}");
    }
}

/// What a worker writes: database, run, progress and the trainer's process id.
fn parse(extra: &str) -> Option<(u32, i64, f32, i32)> {
    let mut parts = extra.split(' ');
    let parsed = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(parsed)
}

/// The worker's entry point, named by [`publish`].
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn recsys_run_progress_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let Some((database, run_id, progress, trainer)) = parse(BackgroundWorker::get_extra()) else {
        warning!("recsys: malformed run progress request");
        return;
    };
    // As the bootstrap superuser: the run was checked to be the trainer's tenant's before
    // any worker was started, and the update touches that one row.
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database)), None);
    let written = BackgroundWorker::transaction(|| {
        // A superuser session: nothing in it may resolve through a search_path a database
        // owner may have set.
        Spi::run("SET LOCAL search_path TO pg_catalog, pg_temp")?;
        // SKIP LOCKED: a locked row is the training storing its result, which supersedes any
        // progress; waiting would only hold a worker slot.
        Spi::run_with_args(
            "UPDATE recsys.training_runs r SET status = 'running', \
                progress = GREATEST(r.progress, $2), owner_pid = a.pid, \
                owner_started = a.backend_start \
             FROM pg_catalog.pg_stat_activity a \
             WHERE a.pid OPERATOR(pg_catalog.=) $3 AND r.id OPERATOR(pg_catalog.=) \
                (SELECT q.id FROM recsys.training_runs q \
                 WHERE q.id OPERATOR(pg_catalog.=) $1 AND q.status IN ('queued', 'running') \
                 FOR UPDATE SKIP LOCKED)",
            &[run_id.into(), progress.into(), trainer.into()],
        )
    });
    if let Err(e) = written {
        warning!("recsys: could not record the progress of run {run_id}: {e}");
    }
}
