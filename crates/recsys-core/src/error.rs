// SPDX-License-Identifier: BUSL-1.1
//! The one error type of the core. Every layer above maps it once (SQLSTATE, HTTP status, exit code).

use thiserror::Error;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum CoreError {
    /// A parameter is missing its constraints: wrong type, out of range, NaN, unknown name.
    #[error("invalid parameter \"{name}\": {reason}")]
    InvalidParameter { name: String, reason: String },
    /// An input record (interaction, id) is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("unknown algorithm \"{0}\"")]
    UnknownAlgorithm(String),
    /// Training needs data that is not there (no interactions, a single item, ...).
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// The work would need more memory than allowed.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A model artifact is corrupt or truncated.
    #[error("invalid model artifact: {0}")]
    Artifact(String),
    /// A model artifact this build cannot read: another format, or a format, algorithm or
    /// algorithm version it does not know (written by a newer release, or another build).
    #[error("incompatible model artifact: {0}")]
    Incompatible(String),
    /// The caller asked the work to stop (cancel, timeout).
    #[error("cancelled")]
    Cancelled,
    /// Splitting or scoring for an offline evaluation failed.
    #[error(transparent)]
    Eval(#[from] recsys_eval::EvalError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl CoreError {
    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::InvalidParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }
}
