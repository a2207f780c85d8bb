use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::Action;
use kaiwu_ingest::Row;
use kaiwu_model::DataType;
use kaiwu_registry::RetentionPolicy;

use super::Problem;
use crate::caller::Caller;
use crate::error::FieldError;
use crate::json::{Body, RawBody, from_value, parse};
use crate::{ApiError, AppState};

/// Rows one request may carry (the body limit bounds it too).
const MAX_ROWS: usize = 100_000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_telemetry))
        .routes(routes!(latest))
        .routes(routes!(get_retention, put_retention))
}

/// The tenant's retention policy (days of time-series data kept; absent: forever).
#[utoipa::path(get, path = "/api/retention", tag = "telemetry", security(("bearer" = [])),
    responses((status = 200, body = RetentionPolicy), (status = 401, body = Problem)))]
async fn get_retention(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<RetentionPolicy>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| Ok(Json(r.retention(&caller.tenant)?))).await
}

/// Replace the tenant's retention policy. Expired data goes by whole time partitions, within a
/// minute of a partition passing its horizon.
#[utoipa::path(put, path = "/api/retention", tag = "telemetry", request_body = RetentionPolicy, security(("bearer" = [])),
    responses((status = 200, body = RetentionPolicy), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_retention(
    State(s): State<AppState>,
    caller: Caller,
    Body(p): Body<RetentionPolicy>,
) -> Result<Json<RetentionPolicy>, ApiError> {
    caller.require(Action::Configure)?;
    s.db(move |r| Ok(Json(r.set_retention(&caller.tenant, &p)?)))
        .await
}

/// One row of `POST /api/telemetry`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TelemetryRow {
    /// Device id in the caller's tenant.
    device: String,
    /// Epoch ms; default: time of arrival.
    #[serde(default)]
    ts: Option<i64>,
    /// Values by property id.
    #[schema(value_type = Object)]
    values: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TelemetryAccepted {
    /// Rows stored (durably, as configured).
    accepted: usize,
    /// Property values stored.
    points: usize,
    /// Values stored with quality `uncertain` (outside their declared range).
    uncertain: usize,
}

/// Store telemetry for devices of the caller's tenant (trusted integrations). The answer comes
/// once the rows are durable; one invalid value refuses the whole request. With
/// `Content-Type: text/csv` the body is CSV with the header `device,ts,<property>,...` (import).
#[utoipa::path(post, path = "/api/telemetry", tag = "telemetry",
    request_body(
        description = "JSON: an array of rows, or one row. CSV: header `device,ts,<property>,...`, ts epoch ms or RFC 3339.",
        content((Vec<TelemetryRow> = "application/json"), (String = "text/csv"))
    ),
    security(("bearer" = [])),
    responses((status = 200, body = TelemetryAccepted), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 413, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn post_telemetry(
    State(s): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> Result<Json<TelemetryAccepted>, ApiError> {
    caller.require(Action::Operate)?;
    let rows = match body.content_type.as_str() {
        "text/csv" => csv_rows(&s, &caller, &body.bytes).await?,
        "" | "application/json" => json_rows(&body.bytes)?,
        other => {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("expected application/json or text/csv, got `{other}`"),
            ));
        }
    };
    let acc = s.inner.ingest.write(&caller.tenant, rows).await?;
    Ok(Json(TelemetryAccepted {
        accepted: acc.rows,
        points: acc.points,
        uncertain: acc.uncertain,
    }))
}

async fn csv_rows(s: &AppState, caller: &Caller, bytes: &[u8]) -> Result<Vec<Row>, ApiError> {
    let refused =
        |errors| ApiError::invalid("malformed CSV; nothing was stored").with_errors(errors);
    let table = super::csv_rows::parse(bytes, MAX_ROWS).map_err(refused)?;
    let (tenant, devices) = (caller.tenant.clone(), table.devices());
    let types = s
        .db(move |r| {
            let mut types = BTreeMap::new();
            for d in devices {
                if let Ok(dev) = r.device(&tenant, &d) {
                    types.insert(d, r.device_type(&tenant, &dev.device_type)?);
                }
            }
            Ok(types)
        })
        .await?;
    super::csv_rows::rows(table, &types).map_err(refused)
}

fn json_rows(bytes: &[u8]) -> Result<Vec<Row>, ApiError> {
    let doc: serde_json::Value = parse(bytes)?;
    let items = match doc {
        serde_json::Value::Array(a) => a,
        o @ serde_json::Value::Object(_) => vec![o],
        _ => {
            return Err(ApiError::invalid(
                "expected a telemetry row object or an array of them",
            ));
        }
    };
    if items.len() > MAX_ROWS {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_ROWS} rows per request"),
        ));
    }
    let mut rows = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match from_value::<TelemetryRow>(item) {
            Ok(r) => rows.push(Row {
                device: r.device,
                ts: r.ts,
                values: r.values,
            }),
            Err(e) => errors.push(FieldError {
                path: format!("[{i}]"),
                message: e.detail().to_owned(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(
            ApiError::invalid("malformed telemetry rows; nothing was stored").with_errors(errors),
        );
    }
    Ok(rows)
}

/// One property's latest reading.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Latest {
    /// Epoch ms of the reading.
    ts: i64,
    /// The value.
    #[schema(value_type = Object)]
    value: serde_json::Value,
    /// `good`, `uncertain` or `bad`.
    quality: String,
}

/// Latest value of every property of a device, from memory.
#[utoipa::path(get, path = "/api/devices/{id}/latest", tag = "telemetry", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = BTreeMap<String, Latest>), (status = 404, body = Problem)))]
async fn latest(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BTreeMap<String, Latest>>, ApiError> {
    caller.require(Action::Read)?;
    let dt = s.device_type_of(&caller.tenant, &id).await?;
    let values = s.inner.tsdb.latest(&caller.tenant, &id).unwrap_or_default();
    let out = values
        .into_iter()
        .map(|(k, v)| {
            // json properties are stored as text; give them back as JSON.
            let is_json = dt.property(&k).is_some_and(|p| p.r#type == DataType::Json);
            let value = match (&v.value, is_json) {
                (serde_json::Value::String(s), true) => serde_json::from_str(s).unwrap_or(v.value),
                _ => v.value,
            };
            let quality = v.quality.as_str().to_owned();
            (
                k,
                Latest {
                    ts: v.ts,
                    value,
                    quality,
                },
            )
        })
        .collect();
    Ok(Json(out))
}
