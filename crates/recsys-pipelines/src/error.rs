// SPDX-License-Identifier: Apache-2.0
//! The pipelines' one error classification: each kind has its exit code, mapped once here.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PipelineError {
    /// A bad flag, source URL or setting: nothing was read.
    #[error("{0}")]
    Usage(String),
    /// The source could not be listed or read (I/O, S3, the source database).
    #[error("source: {0}")]
    Source(String),
    /// The recsys database refused or failed a statement; the batch was rolled back.
    #[error("database: {message}")]
    Database {
        message: String,
        hint: Option<String>,
    },
    /// Another run of the same pipeline moved its checkpoint while this one ran.
    #[error("pipeline {0} was advanced by another run; this run stopped without committing its last batch")]
    Conflict(String),
    /// More dead letters than the run allows: the batch that crossed the limit was rolled back.
    #[error("{count} dead letters in this run, more than --max-dead-letters {limit}; the batch that crossed the limit was not committed")]
    TooManyDeadLetters { count: u64, limit: u64 },
    /// SIGINT or SIGTERM: every committed batch stays committed.
    #[error("interrupted; the checkpoint holds every committed batch, run again to resume")]
    Interrupted,
}

impl PipelineError {
    pub fn exit_code(&self) -> i32 {
        match self {
            PipelineError::Usage(_) => 2,
            PipelineError::Source(_)
            | PipelineError::Database { .. }
            | PipelineError::Conflict(_) => 1,
            PipelineError::TooManyDeadLetters { .. } => 3,
            PipelineError::Interrupted => 130,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            PipelineError::Database { hint, .. } => hint.as_deref(),
            PipelineError::TooManyDeadLetters { .. } => {
                Some("read their reasons in recsys.dead_letters, fix the source or raise the limit, and run again")
            }
            PipelineError::Conflict(_) => Some("run one instance of a pipeline at a time"),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for PipelineError {
    fn from(e: sqlx::Error) -> Self {
        match e.as_database_error() {
            Some(db) => {
                let hint = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|pg| pg.hint().map(str::to_owned));
                let code = db.code().map(|c| format!(" ({c})")).unwrap_or_default();
                PipelineError::Database {
                    message: format!("{}{code}", db.message()),
                    hint,
                }
            }
            None => PipelineError::Database {
                message: e.to_string(),
                hint: None,
            },
        }
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
