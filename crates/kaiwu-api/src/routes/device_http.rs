//! The ThingsBoard HTTP device API (interfaces.md section 4): a device authenticates with its
//! access token in the path and uses the same payloads as over MQTT.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_ingest::Row;
use kaiwu_mqtt::payload;

use super::Problem;
use crate::json::{Q, RawBody};
use crate::{ApiError, AppState};

/// Longest a device may long-poll for a command.
const MAX_POLL_MS: u64 = 300_000;
const DEFAULT_POLL_MS: u64 = 30_000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_device_telemetry))
        .routes(routes!(get_device_attributes, post_device_attributes))
        .routes(routes!(poll_rpc))
        .routes(routes!(answer_rpc))
}

/// (tenant, device id) of an access token; 401 when it is unknown.
async fn device_of(s: &AppState, token: String) -> Result<(String, String), ApiError> {
    let found = s.db(move |r| Ok(r.device_by_token(&token)?)).await?;
    found
        .map(|(t, d)| (t, d.id))
        .ok_or_else(|| ApiError::unauthorized("unknown device access token"))
}

fn bad_payload(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
}

/// What was stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Stored {
    /// Rows stored.
    accepted: usize,
}

/// Telemetry of the token's device: `{"key":v}`, `{"ts":ms,"values":{...}}` or an array of
/// either. Answers once the values are durable.
#[utoipa::path(post, path = "/api/v1/{token}/telemetry", tag = "device api",
    params(("token" = String, Path, description = "the device's access token")),
    request_body(content = Object, description = "ThingsBoard telemetry payload"),
    responses((status = 200, body = Stored), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
async fn post_device_telemetry(
    State(s): State<AppState>,
    Path(token): Path<String>,
    body: RawBody,
) -> Result<Json<Stored>, ApiError> {
    let (tenant, device) = device_of(&s, token).await?;
    let rows: Vec<Row> = payload::decode_telemetry(&body.bytes)
        .map_err(bad_payload)?
        .into_iter()
        .map(|r| Row {
            device: device.clone(),
            ts: r.ts,
            values: r.values,
        })
        .collect();
    let acc = s.ingest().write(&tenant, rows).await.map_err(|e| {
        tracing::warn!(tenant = %tenant, device = %device, error = %e, "device telemetry refused");
        ApiError::from_kind(e.kind(), e.to_string())
    })?;
    Ok(Json(Stored { accepted: acc.rows }))
}

/// Reported attributes of the token's device (merged into its shadow).
#[utoipa::path(post, path = "/api/v1/{token}/attributes", tag = "device api",
    params(("token" = String, Path, description = "the device's access token")),
    request_body(content = Object, description = "attributes"),
    responses((status = 200), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn post_device_attributes(
    State(s): State<AppState>,
    Path(token): Path<String>,
    body: RawBody,
) -> Result<StatusCode, ApiError> {
    let (tenant, device) = device_of(&s, token).await?;
    let attrs = payload::decode_attributes(&body.bytes).map_err(bad_payload)?;
    s.db(move |r| Ok(r.merge_shadow(&tenant, &device, false, &attrs)?))
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysParams {
    /// Comma-separated reported (client-side) keys.
    #[serde(default, rename = "clientKeys")]
    client_keys: Option<String>,
    /// Comma-separated desired (shared) keys.
    #[serde(default, rename = "sharedKeys")]
    shared_keys: Option<String>,
}

/// Attribute values: `{"client":{...},"shared":{...}}`; no keys asked means all.
#[utoipa::path(get, path = "/api/v1/{token}/attributes", tag = "device api",
    params(("token" = String, Path, description = "the device's access token"), KeysParams),
    responses((status = 200, body = Object), (status = 401, body = Problem)))]
async fn get_device_attributes(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Q(q): Q<KeysParams>,
) -> Result<Json<Value>, ApiError> {
    let (tenant, device) = device_of(&s, token).await?;
    let sh = s.db(move |r| Ok(r.shadow(&tenant, &device)?)).await?;
    let list = |k: &Option<String>| -> Vec<String> {
        k.iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let req = payload::AttributeRequest {
        client_keys: list(&q.client_keys),
        shared_keys: list(&q.shared_keys),
    };
    let (client, shared) = req.select(&sh.reported, &sh.desired);
    Ok(Json(payload::attribute_response(&client, &shared)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PollParams {
    /// How long to wait for a command, ms (default 30000, at most 300000).
    #[serde(default)]
    timeout: Option<u64>,
}

/// A command for the device.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RpcRequest {
    /// Answer with `POST /api/v1/{token}/rpc/{id}`.
    id: u64,
    /// The command.
    method: String,
    /// Its parameters.
    #[schema(value_type = Object)]
    params: Value,
}

/// Wait for the next command (ThingsBoard server-side RPC over HTTP); 408 when none came.
#[utoipa::path(get, path = "/api/v1/{token}/rpc", tag = "device api",
    params(("token" = String, Path, description = "the device's access token"), PollParams),
    responses((status = 200, body = RpcRequest), (status = 401, body = Problem),
              (status = 408, body = Problem, description = "no command in time")))]
async fn poll_rpc(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Q(q): Q<PollParams>,
) -> Result<Json<RpcRequest>, ApiError> {
    let (tenant, device) = device_of(&s, token).await?;
    let ms = q.timeout.unwrap_or(DEFAULT_POLL_MS);
    if ms == 0 || ms > MAX_POLL_MS {
        return Err(ApiError::invalid(format!(
            "timeout must be 1 to {MAX_POLL_MS} ms"
        )));
    }
    let rx = s.inner.http_rpc.poll(&tenant, &device);
    match tokio::time::timeout(Duration::from_millis(ms), rx).await {
        Ok(Ok(c)) => Ok(Json(RpcRequest {
            id: c.id,
            method: c.method,
            params: c.params,
        })),
        _ => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("no command within {ms} ms"),
        )),
    }
}

/// The device's answer to command `id`.
#[utoipa::path(post, path = "/api/v1/{token}/rpc/{id}", tag = "device api",
    params(("token" = String, Path, description = "the device's access token"), ("id" = u64, Path)),
    request_body(content = Object, description = "the result"),
    responses((status = 200), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem, description = "no such command waiting")))]
async fn answer_rpc(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, u64)>,
    body: RawBody,
) -> Result<StatusCode, ApiError> {
    let (tenant, device) = device_of(&s, token).await?;
    let v = payload::decode_rpc_response(&body.bytes).map_err(bad_payload)?;
    if s.inner.http_rpc.answer(&tenant, &device, id, v) {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(format!(
            "no command {id} is waiting for an answer"
        )))
    }
}
