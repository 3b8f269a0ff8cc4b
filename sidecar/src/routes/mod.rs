// SPDX-License-Identifier: BUSL-1.1
//! The REST operations, one module per resource. Each handler validates, opens a transaction
//! as the caller (`db::begin`), calls one recsys SQL function or query with bound parameters,
//! commits and answers.

pub mod health;
pub mod interactions;
pub mod items;
pub mod models;
pub mod recommendations;
pub mod training;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(interactions::router())
        .merge(items::router())
        .merge(recommendations::router())
        .merge(models::router())
        .merge(training::router())
}
