//! The console's "How we did" panel: what `frontline report` prints, as JSON.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::api::{ApiError, AuthAgent, Json, Q};
use super::WebState;
use crate::core::report;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportQuery {
    #[serde(default = "default_report_days")]
    days: u32,
    #[serde(default = "default_report_top")]
    top: usize,
}

fn default_report_days() -> u32 {
    7
}

fn default_report_top() -> usize {
    20
}

/// What `frontline report` prints, for the console: the last `days` days up to now.
pub(super) async fn report(
    State(state): State<WebState>,
    _agent: AuthAgent,
    Q(query): Q<ReportQuery>,
) -> Result<Json<report::Report>, ApiError> {
    if !(1..=report::MAX_DAYS).contains(&query.days) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("days must be 1 to {}", report::MAX_DAYS),
        ));
    }
    let (from, to) = report::last_days(state.services.now(), query.days);
    let top = query.top.min(200);
    Ok(Json(
        report::build(
            state.services.store.as_ref(),
            &state.services.config,
            from,
            to,
            top,
        )
        .await?,
    ))
}
