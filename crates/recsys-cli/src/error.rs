// SPDX-License-Identifier: Apache-2.0
//! The CLI's one error type and its exit codes.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments or input files: the user can fix them. Exit code 2.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Core(#[from] recsys_core::CoreError),
    #[error(transparent)]
    Eval(#[from] recsys_eval::EvalError),
    #[error("{0}")]
    Io(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        use recsys_core::CoreError as C;
        match self {
            CliError::Input(_) | CliError::Eval(_) => 2,
            CliError::Core(
                C::InvalidParameter { .. }
                | C::InvalidInput(_)
                | C::UnknownAlgorithm(_)
                | C::NotEnoughData(_)
                | C::TooLarge(_)
                | C::Incompatible(_),
            ) => 2,
            CliError::Core(_) | CliError::Io(_) => 1,
        }
    }

    pub fn io(what: &str, e: std::io::Error) -> Self {
        CliError::Io(format!("{what}: {e}"))
    }
}
