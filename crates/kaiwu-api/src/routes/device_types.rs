use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::Action;
use kaiwu_model::DeviceType;

use super::Problem;
use crate::caller::Caller;
use crate::json::{Q, RawJson, parse};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_types, create_type))
        .routes(routes!(import_type))
        .routes(routes!(get_type, put_type, delete_type))
        .routes(routes!(get_version))
        .routes(routes!(export_wot))
}

/// Device types of the caller's tenant.
#[utoipa::path(get, path = "/api/device-types", tag = "device-types", security(("bearer" = [])),
    responses((status = 200, body = Vec<DeviceType>), (status = 401, body = Problem)))]
async fn list_types(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<DeviceType>>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| Ok(Json(r.device_types(&caller.tenant)?)))
        .await
}

/// Create a device type from its native JSON (interfaces.md section 3). Starts at version 1.
#[utoipa::path(post, path = "/api/device-types", tag = "device-types", request_body = DeviceType, security(("bearer" = [])),
    responses((status = 201, body = DeviceType), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn create_type(
    State(s): State<AppState>,
    caller: Caller,
    RawJson(body): RawJson,
) -> Result<(StatusCode, Json<DeviceType>), ApiError> {
    caller.require(Action::Configure)?;
    let dt = DeviceType::from_json(&body)?;
    s.db(move |r| {
        Ok((
            StatusCode::CREATED,
            Json(r.create_device_type(&caller.tenant, dt)?),
        ))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportParams {
    /// Document format; only `wot` (W3C WoT Thing Description 1.0/1.1).
    format: String,
    /// Device type id; defaults to a slug of the TD's title.
    #[serde(default)]
    id: Option<String>,
}

/// Import a device type from a W3C WoT Thing Description.
#[utoipa::path(post, path = "/api/device-types/import", tag = "device-types", params(ImportParams),
    request_body(content = serde_json::Value, description = "W3C WoT Thing Description", content_type = "application/td+json"),
    security(("bearer" = [])),
    responses((status = 201, body = DeviceType), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn import_type(
    State(s): State<AppState>,
    caller: Caller,
    Q(q): Q<ImportParams>,
    RawJson(body): RawJson,
) -> Result<(StatusCode, Json<DeviceType>), ApiError> {
    caller.require(Action::Configure)?;
    if q.format != "wot" {
        return Err(ApiError::invalid(format!(
            "unsupported import format `{}`; supported: wot",
            q.format
        )));
    }
    let td: serde_json::Value = parse(&body)?;
    let dt = DeviceType::from_wot(&td, q.id.as_deref())?;
    s.db(move |r| {
        Ok((
            StatusCode::CREATED,
            Json(r.create_device_type(&caller.tenant, dt)?),
        ))
    })
    .await
}

/// The current version of a device type.
#[utoipa::path(get, path = "/api/device-types/{id}", tag = "device-types", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = DeviceType), (status = 404, body = Problem)))]
async fn get_type(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeviceType>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| Ok(Json(r.device_type(&caller.tenant, &id)?)))
        .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutParams {
    /// Allow removing properties that already have stored data.
    #[serde(default)]
    force: bool,
}

/// Replace a device type. A real change bumps the version; removing a property that has data
/// needs `force=true`; retyping one is refused.
#[utoipa::path(put, path = "/api/device-types/{id}", tag = "device-types", request_body = DeviceType, security(("bearer" = [])),
    params(("id" = String, Path), PutParams),
    responses((status = 200, body = DeviceType), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn put_type(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(q): Q<PutParams>,
    RawJson(body): RawJson,
) -> Result<Json<DeviceType>, ApiError> {
    caller.require(Action::Configure)?;
    let dt = DeviceType::from_json(&body)?;
    s.db(move |r| {
        Ok(Json(r.update_device_type(
            &caller.tenant,
            &id,
            dt,
            q.force,
        )?))
    })
    .await
}

/// Delete a device type that no device uses.
#[utoipa::path(delete, path = "/api/device-types/{id}", tag = "device-types", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_type(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Configure)?;
    s.db(move |r| {
        r.delete_device_type(&caller.tenant, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// A specific version of a device type.
#[utoipa::path(get, path = "/api/device-types/{id}/versions/{version}", tag = "device-types", security(("bearer" = [])),
    params(("id" = String, Path), ("version" = u32, Path)),
    responses((status = 200, body = DeviceType), (status = 404, body = Problem)))]
async fn get_version(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, String)>,
) -> Result<Json<DeviceType>, ApiError> {
    caller.require(Action::Read)?;
    let version: u32 = version.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("version `{version}` is not a positive integer"),
        )
    })?;
    s.db(move |r| Ok(Json(r.device_type_version(&caller.tenant, &id, version)?)))
        .await
}

/// The device type as a W3C WoT Thing Description 1.1.
#[utoipa::path(get, path = "/api/device-types/{id}/wot", tag = "device-types", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = serde_json::Value, content_type = "application/td+json"), (status = 404, body = Problem)))]
async fn export_wot(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require(Action::Read)?;
    let dt = s
        .db(move |r| Ok(r.device_type(&caller.tenant, &id)?))
        .await?;
    let body = serde_json::to_vec(&dt.to_wot()).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/td+json")],
        body,
    )
        .into_response())
}
