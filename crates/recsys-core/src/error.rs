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

/// What went wrong, as every surface tells its caller: each kind has one CLI exit code and one
/// SQLSTATE here, and the sidecar maps those SQLSTATEs to one HTTP status (its `error.rs`,
/// whose table test covers every kind). Adding a kind fails to compile until every surface
/// says what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A parameter or argument the caller can fix.
    InvalidArgument,
    /// A malformed input record.
    InvalidInput,
    /// The data needed is not there.
    NoData,
    /// Over a memory limit.
    TooLarge,
    /// A stored model that fails its checks.
    Corrupt,
    /// A stored model another release or build wrote.
    Incompatible,
    /// Stopped on request.
    Cancelled,
    /// The operating system refused a read or a write.
    Io,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::InvalidArgument,
        ErrorKind::InvalidInput,
        ErrorKind::NoData,
        ErrorKind::TooLarge,
        ErrorKind::Corrupt,
        ErrorKind::Incompatible,
        ErrorKind::Cancelled,
        ErrorKind::Io,
    ];

    /// The CLI's exit code: 2 when the command or its input is what must change, 1 when a
    /// model directory is refused or the system failed.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::InvalidArgument
            | ErrorKind::InvalidInput
            | ErrorKind::NoData
            | ErrorKind::TooLarge => 2,
            ErrorKind::Corrupt | ErrorKind::Incompatible | ErrorKind::Cancelled | ErrorKind::Io => {
                1
            }
        }
    }

    /// The SQLSTATE the extension raises.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "22023",
            ErrorKind::InvalidInput => "22000",
            ErrorKind::NoData => "P0002",
            ErrorKind::TooLarge => "53200",
            ErrorKind::Corrupt => "XX001",
            ErrorKind::Incompatible => "0A000",
            ErrorKind::Cancelled => "57014",
            ErrorKind::Io => "58030",
        }
    }
}

impl CoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoreError::InvalidParameter { .. } | CoreError::UnknownAlgorithm(_) => {
                ErrorKind::InvalidArgument
            }
            CoreError::InvalidInput(_) => ErrorKind::InvalidInput,
            CoreError::NotEnoughData(_) => ErrorKind::NoData,
            CoreError::TooLarge(_) => ErrorKind::TooLarge,
            CoreError::Artifact(_) => ErrorKind::Corrupt,
            CoreError::Incompatible(_) => ErrorKind::Incompatible,
            CoreError::Cancelled => ErrorKind::Cancelled,
            CoreError::Io(_) => ErrorKind::Io,
            CoreError::Eval(recsys_eval::EvalError::InvalidParameter { .. }) => {
                ErrorKind::InvalidArgument
            }
            CoreError::Eval(recsys_eval::EvalError::EmptyData(_)) => ErrorKind::NoData,
        }
    }

    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::InvalidParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }
}
