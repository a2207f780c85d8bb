use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::Action;
use kaiwu_registry::{Asset, AssetPatch, NewAsset};

use super::Problem;
use crate::caller::Caller;
use crate::json::{Body, Q};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assets, create_asset))
        .routes(routes!(get_asset, patch_asset, delete_asset))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only the direct children of this asset.
    #[serde(default)]
    parent: Option<String>,
}

/// Assets of the caller's tenant (flat; each names its parent).
#[utoipa::path(get, path = "/api/assets", tag = "assets", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<Asset>), (status = 401, body = Problem)))]
async fn list_assets(
    State(s): State<AppState>,
    caller: Caller,
    Q(q): Q<ListParams>,
) -> Result<Json<Vec<Asset>>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| Ok(Json(r.assets(&caller.tenant, q.parent.as_deref())?)))
        .await
}

/// Create an asset. Its parent must sit at a higher ISA-95 level (enterprise > site > area >
/// line > cell).
#[utoipa::path(post, path = "/api/assets", tag = "assets", request_body = NewAsset, security(("bearer" = [])),
    responses((status = 201, body = Asset), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_asset(
    State(s): State<AppState>,
    caller: Caller,
    Body(a): Body<NewAsset>,
) -> Result<(StatusCode, Json<Asset>), ApiError> {
    caller.require(Action::Configure)?;
    s.db(move |r| {
        Ok((
            StatusCode::CREATED,
            Json(r.create_asset(&caller.tenant, a)?),
        ))
    })
    .await
}

/// One asset.
#[utoipa::path(get, path = "/api/assets/{id}", tag = "assets", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Asset), (status = 404, body = Problem)))]
async fn get_asset(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Asset>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| Ok(Json(r.asset(&caller.tenant, &id)?))).await
}

/// Rename, describe or move an asset (`"parent": null` moves it to the root).
#[utoipa::path(patch, path = "/api/assets/{id}", tag = "assets", request_body = AssetPatch, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Asset), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_asset(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(p): Body<AssetPatch>,
) -> Result<Json<Asset>, ApiError> {
    caller.require(Action::Configure)?;
    s.db(move |r| Ok(Json(r.update_asset(&caller.tenant, &id, p)?)))
        .await
}

/// Delete an asset without children or devices.
#[utoipa::path(delete, path = "/api/assets/{id}", tag = "assets", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_asset(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Configure)?;
    s.db(move |r| {
        r.delete_asset(&caller.tenant, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
