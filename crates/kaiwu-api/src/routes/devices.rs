use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::{Action, random_token};
use kaiwu_registry::{Device, DeviceFilter, DevicePatch, NewDevice};

use super::Problem;
use crate::caller::Caller;
use crate::json::{Body, Q};
use crate::{ApiError, AppState};

/// Generated access tokens: 32 alphanumerics, about 190 bits.
const TOKEN_LEN: usize = 32;
const MAX_PAGE: usize = 10_000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices, create_device))
        .routes(routes!(get_device, patch_device, delete_device))
        .routes(routes!(set_credentials))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only devices of this type.
    #[serde(default, rename = "type")]
    device_type: Option<String>,
    /// Only devices directly under this asset.
    #[serde(default)]
    asset: Option<String>,
    /// Page size (default 1000, at most 10000). The total is in `X-Total-Count`.
    #[serde(default)]
    limit: Option<usize>,
    /// Devices to skip, ordered by id.
    #[serde(default)]
    offset: Option<usize>,
}

/// Devices of the caller's tenant, ordered by id.
#[utoipa::path(get, path = "/api/devices", tag = "devices", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<Device>, headers(("X-Total-Count" = usize, description = "devices matching the filter"))),
              (status = 401, body = Problem)))]
async fn list_devices(
    State(s): State<AppState>,
    caller: Caller,
    Q(q): Q<ListParams>,
) -> Result<(HeaderMap, Json<Vec<Device>>), ApiError> {
    caller.require(Action::Read)?;
    let limit = q.limit.unwrap_or(1000);
    if limit > MAX_PAGE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be at most {MAX_PAGE}"),
        ));
    }
    let mut f = DeviceFilter {
        device_type: q.device_type,
        asset: q.asset,
        limit: Some(limit),
        offset: q.offset.unwrap_or(0),
    };
    let (total, devices) = s
        .db(move |r| {
            let total = r.count_devices(&caller.tenant, &f)?;
            f.limit = Some(limit);
            Ok((total, r.devices(&caller.tenant, &f)?))
        })
        .await?;
    let mut h = HeaderMap::new();
    h.insert("x-total-count", HeaderValue::from(total));
    Ok((h, Json(devices)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceCreate {
    /// `[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}`, unique in the tenant.
    id: String,
    /// Device type id.
    #[serde(rename = "type")]
    device_type: String,
    #[serde(default)]
    name: Option<String>,
    /// Asset the device hangs under.
    #[serde(default)]
    asset: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// An existing token (8 to 128 printable ASCII characters), so ThingsBoard devices move
    /// unchanged; generated when absent.
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DeviceCreated {
    #[serde(flatten)]
    device: Device,
    /// The MQTT username / HTTP device API token. Shown only here; stored as a hash.
    access_token: String,
}

/// Create a device; the answer carries its access token, shown only this once.
#[utoipa::path(post, path = "/api/devices", tag = "devices", request_body = DeviceCreate, security(("bearer" = [])),
    responses((status = 201, body = DeviceCreated), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_device(
    State(s): State<AppState>,
    caller: Caller,
    Body(d): Body<DeviceCreate>,
) -> Result<(StatusCode, Json<DeviceCreated>), ApiError> {
    caller.require(Action::Configure)?;
    let token = d.access_token.unwrap_or_else(|| random_token(TOKEN_LEN));
    let new = NewDevice {
        id: d.id,
        device_type: d.device_type,
        name: d.name,
        asset: d.asset,
        labels: d.labels,
    };
    s.db(move |r| {
        let device = r.create_device(&caller.tenant, new, &token)?;
        Ok((
            StatusCode::CREATED,
            Json(DeviceCreated {
                device,
                access_token: token,
            }),
        ))
    })
    .await
}

/// One device.
#[utoipa::path(get, path = "/api/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Device), (status = 404, body = Problem)))]
async fn get_device(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Device>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| Ok(Json(r.device(&caller.tenant, &id)?)))
        .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceUpdate {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    device_type: Option<String>,
    /// New asset; `null` detaches the device.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    asset: Option<Option<String>>,
    /// Replaces all labels.
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Keeps an explicit `null` apart from an absent field.
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Change a device's name, type, asset or labels.
#[utoipa::path(patch, path = "/api/devices/{id}", tag = "devices", request_body = DeviceUpdate, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Device), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_device(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(p): Body<DeviceUpdate>,
) -> Result<Json<Device>, ApiError> {
    caller.require(Action::Configure)?;
    let patch = DevicePatch {
        name: p.name,
        device_type: p.device_type,
        asset: p.asset,
        labels: p.labels,
    };
    s.db(move |r| Ok(Json(r.update_device(&caller.tenant, &id, patch)?)))
        .await
}

/// Delete a device.
#[utoipa::path(delete, path = "/api/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_device(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Configure)?;
    s.db(move |r| {
        r.delete_device(&caller.tenant, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialsRequest {
    /// `access_token` (rotate) or `x509` (sign a CSR).
    kind: String,
    /// For `access_token`: the new token; generated when absent.
    #[serde(default)]
    access_token: Option<String>,
    /// For `x509`: a PEM certificate signing request.
    #[serde(default)]
    csr: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Credentials {
    kind: String,
    /// The new access token, shown only here.
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    /// For `x509`: the signed client certificate (PEM; CN = device id), for MQTT over TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
    /// For `x509`: the tenant CA that signed it (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<String>,
    /// For `x509`: end of validity, epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_ms: Option<i64>,
}

/// Rotate a device's access token (the old one stops working at once), or sign a client
/// certificate for MQTT over TLS from a certificate signing request (`{"kind": "x509", "csr":
/// PEM}`; CN = the device id; a previous certificate stops working at once).
#[utoipa::path(post, path = "/api/devices/{id}/credentials", tag = "devices", request_body = CredentialsRequest, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Credentials), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem), (status = 501, body = Problem)))]
async fn set_credentials(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(c): Body<CredentialsRequest>,
) -> Result<Json<Credentials>, ApiError> {
    caller.require(Action::Configure)?;
    match c.kind.as_str() {
        "access_token" if c.csr.is_none() => {}
        "access_token" => return Err(ApiError::invalid("`csr` belongs to kind x509")),
        "x509" if c.access_token.is_some() => {
            return Err(ApiError::invalid(
                "`access_token` belongs to kind access_token",
            ));
        }
        "x509" => return sign_certificate(&s, caller, id, c.csr).await,
        other => {
            return Err(ApiError::invalid(format!(
                "unknown credential kind `{other}`; expected access_token or x509"
            )));
        }
    }
    let token = c.access_token.unwrap_or_else(|| random_token(TOKEN_LEN));
    s.db(move |r| {
        r.set_device_token(&caller.tenant, &id, &token)?;
        Ok(Json(Credentials {
            kind: "access_token".into(),
            access_token: Some(token),
            certificate: None,
            ca: None,
            expires_ms: None,
        }))
    })
    .await
}

/// Sign a device's client certificate with its tenant's CA and make it the device's
/// certificate (a previous one stops working).
async fn sign_certificate(
    s: &AppState,
    caller: Caller,
    id: String,
    csr: Option<String>,
) -> Result<Json<Credentials>, ApiError> {
    let csr =
        csr.ok_or_else(|| ApiError::invalid("csr: a PEM certificate signing request is required"))?;
    let ca = s.device_ca().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this node issues no device certificates",
        )
    })?;
    let (t, d) = (caller.tenant.clone(), id.clone());
    s.db(move |r| Ok(r.device(&t, &d).map(|_| ())?)).await?;
    let (t, d) = (caller.tenant.clone(), id.clone());
    let issued = tokio::task::spawn_blocking(move || ca.sign(&t, &d, &csr))
        .await
        .map_err(|e| ApiError::internal(format!("signing task failed: {e}")))?
        .map_err(|e| match e {
            kaiwu_auth::Error::Csr(m) => ApiError::invalid(format!("csr: {m}")),
            e => {
                tracing::error!(error = %e, "device CA failed");
                ApiError::internal("the device CA failed")
            }
        })?;
    let (t, fp) = (caller.tenant.clone(), issued.sha256.clone());
    s.db(move |r| Ok(r.set_device_cert(&t, &id, &fp)?)).await?;
    Ok(Json(Credentials {
        kind: "x509".into(),
        access_token: None,
        certificate: Some(issued.certificate),
        ca: Some(issued.ca),
        expires_ms: Some(issued.not_after_ms),
    }))
}
