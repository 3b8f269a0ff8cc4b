// SPDX-License-Identifier: Apache-2.0
//! The CLI's one error type. Its exit code comes from the core's classification
//! ([`recsys_core::ErrorKind::exit_code`]), the same one the extension and the sidecar map;
//! only `recsys eval --baseline`'s verdict, a quality regression, has a code of its own (3).

use recsys_core::{CoreError, ErrorKind};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments or input files: the user can fix them.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("{0}")]
    Io(String),
    /// `recsys eval --baseline` found this many metrics below the baseline: not an error of
    /// the input or the system, so outside the classification, with an exit code of its own.
    #[error("{0} metric(s) fell below the baseline by more than --max-drop")]
    Regression(usize),
}

impl From<recsys_eval::EvalError> for CliError {
    fn from(e: recsys_eval::EvalError) -> Self {
        CliError::Core(e.into())
    }
}

impl CliError {
    /// The classification of the errors that have one; a regression has none.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            CliError::Input(_) => Some(ErrorKind::InvalidArgument),
            CliError::Core(e) => Some(e.kind()),
            CliError::Io(_) => Some(ErrorKind::Io),
            CliError::Regression(_) => None,
        }
    }

    /// The kind's exit code; 3 for a quality regression.
    pub fn exit_code(&self) -> i32 {
        self.kind().map_or(3, ErrorKind::exit_code)
    }

    pub fn io(what: &str, e: std::io::Error) -> Self {
        CliError::Io(format!("{what}: {e}"))
    }
}
