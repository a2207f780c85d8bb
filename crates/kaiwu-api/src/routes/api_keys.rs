use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::{API_KEY_PREFIX, Action, allowed, covers, random_token};
use kaiwu_core::{Role, now_ms};
use kaiwu_registry::{ApiKey, NewApiKey};

use super::Problem;
use crate::caller::Caller;
use crate::json::Body;
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, delete_key))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKeyCreate {
    /// Label.
    name: String,
    /// Roles of the key; default: the caller's roles. Each must be within the caller's own
    /// (a tenant admin may issue a viewer key).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    roles: Option<Vec<Role>>,
    /// Expiry, epoch ms; none for no expiry.
    #[serde(default)]
    expires_ms: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyCreated {
    #[serde(flatten)]
    key: ApiKey,
    /// The secret, shown only in this response. Use it as `Authorization: Bearer <secret>`.
    secret: String,
}

/// Tenant admins see every key of the tenant; others only their own.
fn owner_filter(caller: &Caller) -> Option<String> {
    (!allowed(&caller.roles, Action::ManageUsers)).then(|| caller.username.clone())
}

/// A key of the tenant, if the caller may see it (another user's key is simply not there).
fn visible_key(
    r: &kaiwu_registry::Registry,
    tenant: &str,
    owner: Option<&str>,
    id: &str,
) -> Result<ApiKey, ApiError> {
    let k = r.api_key(tenant, id)?;
    if owner.is_some_and(|o| o != k.username) {
        return Err(ApiError::not_found(format!("api key `{id}` not found")));
    }
    Ok(k)
}

/// API keys visible to the caller.
#[utoipa::path(get, path = "/api/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKey>), (status = 401, body = Problem)))]
async fn list_keys(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    caller.require(Action::Own)?;
    let owner = owner_filter(&caller);
    s.db(move |r| Ok(Json(r.api_keys(&caller.tenant, owner.as_deref())?)))
        .await
}

/// Create an API key for the caller.
#[utoipa::path(post, path = "/api/api-keys", tag = "api-keys", request_body = ApiKeyCreate, security(("bearer" = [])),
    responses((status = 201, body = ApiKeyCreated), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_key(
    State(s): State<AppState>,
    caller: Caller,
    Body(k): Body<ApiKeyCreate>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    caller.require(Action::Own)?;
    let roles = k.roles.unwrap_or_else(|| caller.roles.clone());
    if let Some(r) = roles.iter().find(|r| !covers(&caller.roles, **r)) {
        return Err(ApiError::forbidden(format!(
            "an api key cannot hold the role `{r}`: it is beyond your own roles"
        )));
    }
    if k.expires_ms.is_some_and(|e| e <= now_ms()) {
        return Err(ApiError::invalid("expires_ms is in the past"));
    }
    let secret = format!("{API_KEY_PREFIX}{}", random_token(40));
    let new = NewApiKey {
        id: random_token(12).to_ascii_lowercase(),
        tenant: caller.tenant.clone(),
        username: caller.username.clone(),
        name: k.name,
        roles,
        expires_ms: k.expires_ms,
        secret: secret.clone(),
    };
    let key = s.db(move |r| Ok(r.create_api_key(new)?)).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { key, secret })))
}

/// One API key.
#[utoipa::path(get, path = "/api/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ApiKey), (status = 404, body = Problem)))]
async fn get_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    caller.require(Action::Own)?;
    let owner = owner_filter(&caller);
    s.db(move |r| Ok(Json(visible_key(r, &caller.tenant, owner.as_deref(), &id)?)))
        .await
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Own)?;
    let owner = owner_filter(&caller);
    s.db(move |r| {
        visible_key(r, &caller.tenant, owner.as_deref(), &id)?;
        r.delete_api_key(&caller.tenant, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
