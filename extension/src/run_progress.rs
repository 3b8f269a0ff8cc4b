// SPDX-License-Identifier: BUSL-1.1
//! Live progress of a queued training run. `recsys.train` writes its results in the caller's
//! transaction, which no other session sees before it commits, so a poller (the REST
//! sidecar's clients) would see the run `queued` until the very end. Each step of progress is
//! therefore written by a short-lived background worker in a transaction of its own: the run
//! turns `running` when fitting starts and its `progress` rises as the fit goes; the training's
//! own transaction then stores `succeeded` and 1, or its caller marks the run `failed`.
//!
//! Best effort: a step is skipped when no worker slot is free (`max_worker_processes`); the
//! NOTICEs go out regardless.

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::prelude::*;

/// Records that queued run `run_id` is running and `progress` (0 to 1) of it is done.
pub fn publish(run_id: i64, progress: f32) {
    // Under REPEATABLE READ or SERIALIZABLE the training could not update at the end a row
    // that a worker changed after its snapshot was taken.
    let snapshot_per_transaction =
        unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32;
    if snapshot_per_transaction {
        return;
    }
    let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    let launched = BackgroundWorkerBuilder::new("recsys run progress")
        .set_type("recsys run progress")
        .set_library("recsys")
        .set_function("recsys_run_progress_main")
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .enable_spi_access()
        .set_extra(&format!("{database} {run_id} {progress}"))
        .load_dynamic();
    if launched.is_err() {
        debug1!("recsys: no background worker slot free to record the progress of run {run_id}");
    }
}

/// What a worker writes: database, run and progress.
fn parse(extra: &str) -> Option<(u32, i64, f32)> {
    let mut parts = extra.split(' ');
    let parsed = (
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
    let Some((database, run_id, progress)) = parse(BackgroundWorker::get_extra()) else {
        warning!("recsys: malformed run progress request");
        return;
    };
    // As the bootstrap superuser: the run was checked to be the trainer's tenant's before
    // any worker was started, and the update touches that one row.
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(database)), None);
    let written = BackgroundWorker::transaction(|| {
        // SKIP LOCKED: a locked row is the training storing its result, which supersedes any
        // progress; waiting would only hold a worker slot.
        Spi::run_with_args(
            "UPDATE recsys.training_runs SET status = 'running', progress = greatest(progress, $2) \
             WHERE id = (SELECT id FROM recsys.training_runs \
                         WHERE id = $1 AND status IN ('queued', 'running') FOR UPDATE SKIP LOCKED)",
            &[run_id.into(), progress.into()],
        )
    });
    if let Err(e) = written {
        warning!("recsys: could not record the progress of run {run_id}: {e}");
    }
}
