use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::Action;
use kaiwu_query::{Agg, HistoryPoint, HistoryRequest, parse_time};

use super::Problem;
use crate::caller::Caller;
use crate::json::{Body, Q};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_query))
        .routes(routes!(history))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryRequest {
    /// One SQL query (DataFusion dialect) over the caller's tenant.
    sql: String,
}

const CSV: &str = "text/csv";
const PARQUET: &str = "application/vnd.apache.parquet";

/// Run SQL over the caller's tenant. `Accept: text/csv` answers CSV and
/// `Accept: application/vnd.apache.parquet` a Parquet file (exports); JSON otherwise, as
/// `{"columns":[{"name","type"}],"rows":[[...]]}` (timestamps as epoch ms).
#[utoipa::path(post, path = "/api/query", tag = "query", request_body = QueryRequest, security(("bearer" = [])),
    responses((status = 200, description = "result as JSON, CSV or Parquet", body = serde_json::Value),
              (status = 400, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem),
              (status = 503, body = Problem)))]
async fn post_query(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(q): Body<QueryRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let _slot = s.query_slot().await?;
    let out = s.inner.query.sql(&caller.tenant, &q.sql).await?;
    let encode = |e: kaiwu_query::Error| ApiError::from(e);
    if accept.contains(CSV) {
        let mut buf = Vec::new();
        out.write_csv(&mut buf).map_err(encode)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], buf).into_response());
    }
    if accept.contains(PARQUET) {
        let mut buf = Vec::new();
        out.write_parquet(&mut buf).map_err(encode)?;
        return Ok(([(header::CONTENT_TYPE, PARQUET)], buf).into_response());
    }
    let max = s.inner.query.limits().max_json_rows;
    Ok(Json(out.to_json(max).map_err(encode)?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    /// Comma-separated property ids; default all.
    #[serde(default)]
    keys: Option<String>,
    /// Start (inclusive): RFC 3339 or epoch ms.
    #[serde(default)]
    from: Option<String>,
    /// End (exclusive): RFC 3339 or epoch ms.
    #[serde(default)]
    to: Option<String>,
    /// Bucket width in ms (with `agg`).
    #[serde(default)]
    interval: Option<i64>,
    /// avg, min, max, sum, count, first or last (with `interval`).
    #[serde(default)]
    agg: Option<String>,
    /// Most points per key.
    #[serde(default)]
    limit: Option<usize>,
}

fn time(name: &str, v: Option<String>) -> Result<Option<i64>, ApiError> {
    v.map(|t| {
        parse_time(&t).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("`{name}`: {e}")))
    })
    .transpose()
}

/// A device's history in ThingsBoard's shape `{"key":[{"ts":ms,"value":v}]}`: raw values newest
/// first, or with `interval` and `agg` one point per bucket (ts = bucket start), empty buckets
/// as null when `from` and `to` are given.
#[utoipa::path(get, path = "/api/devices/{id}/telemetry", tag = "telemetry", params(("id" = String, Path), HistoryParams),
    security(("bearer" = [])),
    responses((status = 200, body = BTreeMap<String, Vec<serde_json::Value>>), (status = 400, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn history(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(p): Q<HistoryParams>,
) -> Result<Json<BTreeMap<String, Vec<HistoryPoint>>>, ApiError> {
    caller.require(Action::Read)?;
    let agg = p
        .agg
        .map(|a| a.parse::<Agg>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let req = HistoryRequest {
        keys: p
            .keys
            .map(|k| {
                k.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        from: time("from", p.from)?,
        to: time("to", p.to)?,
        interval_ms: p.interval,
        agg,
        limit: p.limit,
    };
    let _slot = s.query_slot().await?;
    Ok(Json(s.inner.query.history(&caller.tenant, &id, req).await?))
}
