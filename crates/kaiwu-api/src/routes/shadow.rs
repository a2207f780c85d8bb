//! Device shadows (`/api/devices/{id}/shadow`) and commands (`/api/devices/{id}/commands/{cmd}`).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::Action;
use kaiwu_model::validate_field_value;

use super::Problem;
use crate::caller::Caller;
use crate::error::FieldError;
use crate::json::Body;
use crate::{ApiError, AppState, CommandError};

/// Longest a command may wait for its answer.
const MAX_TIMEOUT_MS: u64 = 300_000;
const DEFAULT_TIMEOUT_MS: u64 = 5_000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_shadow, patch_shadow))
        .routes(routes!(run_command))
}

/// A device's shadow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ShadowDoc {
    /// Attributes the device reported.
    #[schema(value_type = Object)]
    reported: Map<String, Value>,
    /// Attributes the platform wants the device to take.
    #[schema(value_type = Object)]
    desired: Map<String, Value>,
    /// Connected now.
    online: bool,
    /// Epoch ms of the device's last message (0: not since the node started).
    last_seen: i64,
    /// Incremented by every attribute change.
    version: i64,
}

async fn shadow_doc(s: &AppState, tenant: String, id: String) -> Result<ShadowDoc, ApiError> {
    let (t, d) = (tenant.clone(), id.clone());
    let sh = s.db(move |r| Ok(r.shadow(&t, &d)?)).await?;
    let p = s.presence(&tenant, &id);
    Ok(ShadowDoc {
        reported: sh.reported,
        desired: sh.desired,
        online: p.online,
        last_seen: p.last_seen,
        version: sh.version,
    })
}

/// Reported and desired attributes, and presence.
#[utoipa::path(get, path = "/api/devices/{id}/shadow", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ShadowDoc), (status = 404, body = Problem)))]
async fn get_shadow(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ShadowDoc>, ApiError> {
    caller.require(Action::Read)?;
    Ok(Json(shadow_doc(&s, caller.tenant, id).await?))
}

/// Merge into the desired attributes (a key set to `null` is removed); connected devices get
/// the change on `v1/devices/me/attributes` at once.
#[utoipa::path(patch, path = "/api/devices/{id}/shadow", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = Object, description = "desired attributes to merge"),
    responses((status = 200, body = ShadowDoc), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_shadow(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(patch): Body<Map<String, Value>>,
) -> Result<Json<ShadowDoc>, ApiError> {
    caller.require(Action::Operate)?;
    if patch.is_empty() {
        return Err(ApiError::invalid("the patch is empty"));
    }
    let (t, d, p) = (caller.tenant.clone(), id.clone(), patch.clone());
    s.db(move |r| Ok(r.merge_shadow(&t, &d, true, &p)?)).await?;
    s.link().push_attributes(&caller.tenant, &id, &patch).await;
    push_to_connector(&s, &caller.tenant, &id, &patch).await;
    Ok(Json(shadow_doc(&s, caller.tenant, id).await?))
}

/// A command request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandRequest {
    /// Parameters, checked against the command's declaration in the thing model.
    #[serde(default)]
    #[schema(value_type = Object)]
    params: Map<String, Value>,
    /// How long to wait for the device's answer (default 5000, at most 300000).
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// The device's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CommandResult {
    /// Whatever the device answered.
    #[schema(value_type = Object)]
    result: Value,
}

/// Run a command on a device (ThingsBoard server-side RPC) and wait for its answer.
#[utoipa::path(post, path = "/api/devices/{id}/commands/{command}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path), ("command" = String, Path)),
    request_body = CommandRequest,
    responses((status = 200, body = CommandResult), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "device offline"),
              (status = 422, body = Problem, description = "unknown command or bad params"),
              (status = 504, body = Problem, description = "no answer in time")))]
async fn run_command(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, command)): Path<(String, String)>,
    Body(req): Body<CommandRequest>,
) -> Result<Json<CommandResult>, ApiError> {
    caller.require(Action::Operate)?;
    let timeout_ms = req.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
        return Err(ApiError::invalid(format!(
            "timeout_ms must be 1 to {MAX_TIMEOUT_MS}"
        )));
    }
    let dt = s.device_type_of(&caller.tenant, &id).await?;
    if let Some(c) = s.connector_for(&caller.tenant, &id) {
        // `write` is built in for connector devices; the connector checks each value against
        // the property it writes.
        if command != kaiwu_connect::WRITE_COMMAND {
            check_params(&dt, &command, &req.params)?;
        }
        let call = c.command(&caller.tenant, &id, &command, Value::Object(req.params));
        return match tokio::time::timeout(Duration::from_millis(timeout_ms), call).await {
            Ok(r) => Ok(Json(CommandResult { result: r? })),
            Err(_) => Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("device {id} did not answer within {timeout_ms} ms"),
            )),
        };
    }
    check_params(&dt, &command, &req.params)?;
    let link = s.link();
    let timeout = Duration::from_millis(timeout_ms);
    let params = Value::Object(req.params);
    // A device long-polling the HTTP device API takes the command there; otherwise it goes
    // over MQTT (or the device is offline).
    let out = match s
        .inner
        .http_rpc
        .offer(&caller.tenant, &id, &command, params.clone())
    {
        Some((n, rx)) => match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => Ok(v),
            _ => {
                s.inner.http_rpc.cancel(&caller.tenant, &id, n);
                Err(CommandError::Timeout {
                    device: id.clone(),
                    ms: timeout_ms,
                })
            }
        },
        None => {
            link.command(&caller.tenant, &id, &command, params, timeout)
                .await
        }
    };
    match out {
        Ok(result) => Ok(Json(CommandResult { result })),
        Err(e @ CommandError::Offline(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e @ CommandError::Timeout { .. }) => {
            Err(ApiError::new(StatusCode::GATEWAY_TIMEOUT, e.to_string()))
        }
        Err(e @ CommandError::Invalid(_)) => Err(ApiError::invalid(e.to_string())),
        Err(e @ CommandError::Failed(_)) => {
            Err(ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))
        }
    }
}

/// A declared command's params must all be known and valid; an extensible type accepts
/// undeclared commands (devices moved from ThingsBoard call methods no model lists).
fn check_params(
    dt: &kaiwu_model::DeviceType,
    command: &str,
    params: &Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(def) = dt.commands.iter().find(|c| c.id == command) else {
        if dt.extensible {
            return Ok(());
        }
        return Err(ApiError::invalid(format!(
            "device type {} has no command {command}",
            dt.id
        )));
    };
    let mut errors = Vec::new();
    for (k, v) in params {
        match def.params.iter().find(|p| &p.id == k) {
            None => errors.push(FieldError {
                path: format!("params.{k}"),
                message: format!("command {command} has no parameter {k}"),
            }),
            Some(f) => {
                if let Err(e) = validate_field_value(f, v) {
                    errors.push(FieldError {
                        path: format!("params.{k}"),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("bad parameters for command {command}")).with_errors(errors))
    }
}

/// Desired values of a connector-attached device are written to it where a point maps them
/// for writing (best effort, like the MQTT push: the shadow keeps them either way).
async fn push_to_connector(s: &AppState, tenant: &str, device: &str, patch: &Map<String, Value>) {
    let Some(c) = s.connector_for(tenant, device) else {
        return;
    };
    let values: Map<String, Value> = patch
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if values.is_empty() {
        return;
    }
    if let Err(e) = c.write(tenant, device, values).await {
        tracing::warn!(tenant, device, error = %e, "desired values not written to the device");
    }
}
