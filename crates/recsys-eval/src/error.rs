// SPDX-License-Identifier: Apache-2.0
//! The one error type of the evaluation crate. Callers map it once (exit code, SQLSTATE, HTTP status).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum EvalError {
    /// A parameter is out of range, NaN, or inconsistent with the data (maps to SQLSTATE 22023).
    #[error("invalid parameter \"{name}\": {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// There is nothing to split or evaluate (maps to SQLSTATE P0002).
    #[error("no data: {0}")]
    EmptyData(String),
}

impl EvalError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        EvalError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}
