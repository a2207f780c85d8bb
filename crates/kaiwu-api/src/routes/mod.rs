//! Route table. Handlers are registered through `utoipa_axum::routes!`, which records each one
//! in the OpenAPI document as it adds it to the router.

mod api_keys;
mod assets;
mod connectors;
mod csv_rows;
mod device_http;
mod device_types;
mod devices;
mod ops;
mod query;
mod shadow;
mod telemetry;
mod tenants;
mod users;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::openapi::ApiDoc;
use crate::{ApiError, AppState};

/// Common error responses, referenced from every route's documentation.
pub(crate) type Problem = crate::error::Problem;

/// The whole HTTP application over `state`.
pub fn router(state: AppState) -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::routes())
        .merge(users::auth_routes())
        .merge(tenants::routes())
        .merge(users::routes())
        .merge(api_keys::routes())
        .merge(device_types::routes())
        .merge(assets::routes())
        .merge(connectors::routes())
        .merge(devices::routes())
        .merge(shadow::routes())
        .merge(device_http::routes())
        .merge(telemetry::routes())
        .merge(query::routes())
        .split_for_parts();
    let mut api = api;
    crate::openapi::fill_response_descriptions(&mut api);
    let doc = api.to_json().unwrap_or_else(|_| "{}".into());
    let _ = state.inner.openapi.set(doc);
    let limit = state.inner.config.max_body_bytes;
    router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(track))
        .with_state(state)
}

/// Request metrics by route template (never the raw path: ids would explode cardinality).
async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let method = req.method().as_str().to_owned();
    let start = std::time::Instant::now();
    let resp = next.run(req).await.into_response();
    let status = resp.status().as_u16().to_string();
    tracing::debug!(%method, %route, %status, "http request");
    metrics::counter!("kaiwu_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("kaiwu_http_request_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}
