// SPDX-License-Identifier: BUSL-1.1
//! The extension's one error type: every failure becomes an `ErrorReport` with a specific
//! SQLSTATE, a lowercase message and, where it helps, a hint. Mapped once, here.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use recsys_core::{CoreError, ErrorKind};
use recsys_eval::EvalError;

#[derive(Debug)]
pub struct SqlError {
    pub code: PgSqlErrorCode,
    pub message: String,
    pub hint: Option<String>,
}

pub type SqlResult<T> = Result<T, SqlError>;

impl SqlError {
    pub fn new(code: PgSqlErrorCode, message: impl Into<String>) -> Self {
        SqlError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message)
    }

    /// A required argument was NULL.
    pub fn null(argument: &str) -> Self {
        Self::new(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("{argument} must not be null"),
        )
    }

    pub fn no_data(message: impl Into<String>) -> Self {
        Self::new(PgSqlErrorCode::ERRCODE_NO_DATA_FOUND, message)
    }

    /// Raises the error in PostgreSQL; never returns.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.code, self.message, "recsys");
        if let Some(h) = self.hint {
            report = report.set_hint(h);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR-level reports do not return")
    }
}

/// Runs `f` and raises its error, for the body of every `#[pg_extern]`.
pub fn run<T>(f: impl FnOnce() -> SqlResult<T>) -> T {
    f().unwrap_or_else(|e| e.raise())
}

/// The SQLSTATE of the core's classification ([`recsys_core::ErrorKind::sqlstate`]), encoded
/// as PostgreSQL's `MAKE_SQLSTATE` does.
fn sqlstate(kind: ErrorKind) -> PgSqlErrorCode {
    let code = kind
        .sqlstate()
        .bytes()
        .enumerate()
        .fold(0i32, |acc, (i, c)| {
            acc + (((i32::from(c) - i32::from(b'0')) & 0x3F) << (6 * i))
        });
    PgSqlErrorCode::from(code)
}

/// The SQLSTATE comes from the core's kind; the hints, which name SQL, are this layer's.
impl From<CoreError> for SqlError {
    fn from(e: CoreError) -> Self {
        let error = SqlError::new(sqlstate(e.kind()), e.to_string());
        match e {
            CoreError::InvalidParameter { .. } => {
                error.hint("SELECT * FROM recsys.algorithms() lists every parameter with its default")
            }
            CoreError::UnknownAlgorithm(_) => error.hint(format!(
                "choose one of: {}",
                recsys_core::Registry::builtin().names().join(", ")
            )),
            CoreError::NotEnoughData(_) => error
                .hint("insert interactions first: INSERT INTO recsys.interactions (user_id, item_id) VALUES (...)"),
            CoreError::TooLarge(_) => error.hint(
                "use less data or smaller parameters, or ask a superuser to raise recsys.max_train_memory_mb",
            ),
            CoreError::Artifact(_) => error.hint("retrain the model: SELECT * FROM recsys.train(...)"),
            CoreError::Incompatible(_) => error
                .hint("a newer recsys wrote it: update the extension (ALTER EXTENSION recsys UPDATE), or activate another version"),
            CoreError::Eval(EvalError::EmptyData(_)) => error
                .hint("the split left no train or no test interactions: with random_holdout or leave_last_out users need at least min_user_items distinct items; with time_cut there must be interactions on both sides of the cut"),
            CoreError::InvalidInput(_)
            | CoreError::Cancelled
            | CoreError::Io(_)
            | CoreError::Eval(EvalError::InvalidParameter { .. }) => error,
        }
    }
}

impl From<EvalError> for SqlError {
    fn from(e: EvalError) -> Self {
        CoreError::from(e).into()
    }
}

impl From<pgrx::spi::Error> for SqlError {
    fn from(e: pgrx::spi::Error) -> Self {
        // SPI errors that reach here (not raised by PostgreSQL itself) are bugs in this glue.
        SqlError::new(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("recsys internal error: {e}"),
        )
    }
}
