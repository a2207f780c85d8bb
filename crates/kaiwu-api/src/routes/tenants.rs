use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::Action;
use kaiwu_registry::Tenant;

use super::Problem;
use crate::caller::Caller;
use crate::json::{Body, Q};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, patch_tenant, delete_tenant))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantCreate {
    /// `[a-z][a-z0-9_-]{0,62}`.
    id: String,
    /// Display name; defaults to the id.
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantPatch {
    name: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteParams {
    /// Delete everything the tenant holds.
    #[serde(default)]
    force: bool,
}

/// All tenants.
#[utoipa::path(get, path = "/api/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = Vec<Tenant>), (status = 403, body = Problem)))]
async fn list_tenants(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Tenant>>, ApiError> {
    caller.require(Action::ManageTenants)?;
    s.db(|r| Ok(Json(r.tenants()?))).await
}

/// Create a tenant.
#[utoipa::path(post, path = "/api/tenants", tag = "tenants", request_body = TenantCreate, security(("bearer" = [])),
    responses((status = 201, body = Tenant), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Body(t): Body<TenantCreate>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    caller.require(Action::ManageTenants)?;
    let name = t.name.unwrap_or_else(|| t.id.clone());
    s.db(move |r| Ok((StatusCode::CREATED, Json(r.create_tenant(&t.id, &name)?))))
        .await
}

/// One tenant.
#[utoipa::path(get, path = "/api/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Tenant), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    caller.require(Action::ManageTenants)?;
    s.db(move |r| Ok(Json(r.tenant(&id)?))).await
}

/// Rename a tenant.
#[utoipa::path(patch, path = "/api/tenants/{id}", tag = "tenants", request_body = TenantPatch, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Tenant), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(p): Body<TenantPatch>,
) -> Result<Json<Tenant>, ApiError> {
    caller.require(Action::ManageTenants)?;
    s.db(move |r| Ok(Json(r.rename_tenant(&id, &p.name)?)))
        .await
}

/// Delete a tenant; refused while it holds anything unless `force=true`.
#[utoipa::path(delete, path = "/api/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path), DeleteParams),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_tenant(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(q): Q<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageTenants)?;
    if id == caller.tenant {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "you cannot delete your own tenant",
        ));
    }
    s.db(move |r| {
        r.delete_tenant(&id, q.force)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
