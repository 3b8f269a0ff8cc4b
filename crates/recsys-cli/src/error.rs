// SPDX-License-Identifier: Apache-2.0
//! The CLI's one error type. Its exit code comes from the core's classification
//! ([`recsys_core::ErrorKind::exit_code`]), the same one the extension and the sidecar map.

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
}

impl From<recsys_eval::EvalError> for CliError {
    fn from(e: recsys_eval::EvalError) -> Self {
        CliError::Core(e.into())
    }
}

impl CliError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CliError::Input(_) => ErrorKind::InvalidArgument,
            CliError::Core(e) => e.kind(),
            CliError::Io(_) => ErrorKind::Io,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }

    pub fn io(what: &str, e: std::io::Error) -> Self {
        CliError::Io(format!("{what}: {e}"))
    }
}
