//! `/api/connectors`: southbound connector configurations (interfaces.md section 6), their
//! status, and browsing an OPC UA server to help with mapping. A change takes effect at once:
//! the connector's task is replaced without a restart.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::Action;
use kaiwu_connect::{ConfigError, Connectors, StatusDoc};

use super::Problem;
use crate::caller::Caller;
use crate::error::FieldError;
use crate::json::{Body, Q};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connectors, create_connector))
        .routes(routes!(get_connector, put_connector, delete_connector))
        .routes(routes!(connector_status))
        .routes(routes!(browse_connector))
}

/// A connector document: `{"id","kind","enabled", ...}` with the kind's fields (interfaces.md
/// section 6); passwords read back as `null`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub(crate) struct ConnectorDoc(Value);

impl From<Vec<ConfigError>> for ApiError {
    fn from(errors: Vec<ConfigError>) -> Self {
        let detail = match errors.first() {
            Some(e) => format!("invalid connector configuration: {e}"),
            None => "invalid connector configuration".to_owned(),
        };
        ApiError::invalid(detail).with_errors(
            errors
                .into_iter()
                .map(|e| FieldError {
                    path: e.path,
                    message: e.message,
                })
                .collect(),
        )
    }
}

impl From<kaiwu_connect::Error> for ApiError {
    fn from(e: kaiwu_connect::Error) -> Self {
        match e {
            kaiwu_connect::Error::Invalid(errors) => errors.into(),
            kaiwu_connect::Error::Registry(e) => e.into(),
            kaiwu_connect::Error::Device(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
            e => ApiError::from_kind(e.kind(), e.to_string()),
        }
    }
}

fn connectors(s: &AppState) -> Result<std::sync::Arc<Connectors>, ApiError> {
    s.connectors().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "connectors are not running on this node",
        )
    })
}

/// Connectors of the caller's tenant.
#[utoipa::path(get, path = "/api/connectors", tag = "connectors", security(("bearer" = [])),
    responses((status = 200, body = Vec<ConnectorDoc>), (status = 401, body = Problem)))]
async fn list_connectors(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ConnectorDoc>>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| {
        Ok(Json(
            r.connectors(Some(&caller.tenant))?
                .iter()
                .map(|c| ConnectorDoc(kaiwu_connect::redact(&c.doc)))
                .collect(),
        ))
    })
    .await
}

/// Create a connector. Every point is checked against its device's thing model (the property
/// exists with a type the point can carry; writes only to `read_write` properties); each
/// failure names its field. An enabled connector starts at once.
#[utoipa::path(post, path = "/api/connectors", tag = "connectors", request_body = ConnectorDoc, security(("bearer" = [])),
    responses((status = 201, body = ConnectorDoc), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_connector(
    State(s): State<AppState>,
    caller: Caller,
    Body(doc): Body<Value>,
) -> Result<(StatusCode, Json<ConnectorDoc>), ApiError> {
    caller.require(Action::Configure)?;
    let tenant = caller.tenant.clone();
    let c = s
        .db(move |r| {
            let cfg = kaiwu_connect::validate(r, &tenant, &doc)?;
            Ok(r.create_connector(&tenant, &cfg.id, cfg.kind.as_str(), cfg.enabled, &doc)?)
        })
        .await?;
    if let Some(m) = s.connectors() {
        m.reload(&caller.tenant, &c.id)?;
    }
    Ok((
        StatusCode::CREATED,
        Json(ConnectorDoc(kaiwu_connect::redact(&c.doc))),
    ))
}

/// One connector.
#[utoipa::path(get, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectorDoc), (status = 404, body = Problem)))]
async fn get_connector(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectorDoc>, ApiError> {
    caller.require(Action::Read)?;
    s.db(move |r| {
        let c = r.connector(&caller.tenant, &id)?;
        Ok(Json(ConnectorDoc(kaiwu_connect::redact(&c.doc))))
    })
    .await
}

/// Replace a connector's configuration (same checks as create; the kind cannot change; a
/// password left out or `null` keeps the stored one). The connector restarts with it.
#[utoipa::path(put, path = "/api/connectors/{id}", tag = "connectors", request_body = ConnectorDoc, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectorDoc), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn put_connector(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(mut doc): Body<Value>,
) -> Result<Json<ConnectorDoc>, ApiError> {
    caller.require(Action::Configure)?;
    if let Some(o) = doc.as_object_mut() {
        match o.get("id") {
            None => {
                o.insert("id".into(), Value::String(id.clone()));
            }
            Some(Value::String(b)) if *b == id => {}
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "id: the body names another connector than the path ({id})"
                )));
            }
        }
    }
    let tenant = caller.tenant.clone();
    let c = s
        .db(move |r| {
            let old = r.connector(&tenant, &id)?;
            kaiwu_connect::keep_secrets(&mut doc, &old.doc);
            let cfg = kaiwu_connect::validate(r, &tenant, &doc)?;
            if cfg.kind.as_str() != old.kind {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "connector {id} is {}; delete it to make a {} connector",
                        old.kind,
                        cfg.kind.as_str()
                    ),
                ));
            }
            Ok(r.update_connector(&tenant, &id, cfg.enabled, &doc)?)
        })
        .await?;
    if let Some(m) = s.connectors() {
        m.reload(&caller.tenant, &c.id)?;
    }
    Ok(Json(ConnectorDoc(kaiwu_connect::redact(&c.doc))))
}

/// Delete a connector; it stops at once.
#[utoipa::path(delete, path = "/api/connectors/{id}", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_connector(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::Configure)?;
    let (tenant, i) = (caller.tenant.clone(), id.clone());
    s.db(move |r| Ok(r.delete_connector(&tenant, &i)?)).await?;
    if let Some(m) = s.connectors() {
        m.reload(&caller.tenant, &id)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Status of a connector: `state` (connected, connecting, error, disabled), `last_error`,
/// counters, last success time, and which devices read good.
#[utoipa::path(get, path = "/api/connectors/{id}/status", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
async fn connector_status(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StatusDoc>, ApiError> {
    caller.require(Action::Read)?;
    connectors(&s)?
        .status(&caller.tenant, &id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("connector `{id}` not found")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrowseParams {
    /// Node to list the children of (default: the Objects folder).
    #[serde(default)]
    node: Option<String>,
}

/// One node of an OPC UA server's address space.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BrowseNode {
    node_id: String,
    browse_name: String,
    display_name: String,
    node_class: String,
    data_type: Option<String>,
}

/// Children of a node on an OPC UA connector's server, to help with mapping.
#[utoipa::path(get, path = "/api/connectors/{id}/browse", tag = "connectors", security(("bearer" = [])),
    params(("id" = String, Path), BrowseParams),
    responses((status = 200, body = Vec<BrowseNode>), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "not an OPC UA connector, or not running"),
              (status = 502, body = Problem, description = "the server failed")))]
async fn browse_connector(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(q): Q<BrowseParams>,
) -> Result<Json<Vec<BrowseNode>>, ApiError> {
    caller.require(Action::Read)?;
    let m = connectors(&s)?;
    if m.status(&caller.tenant, &id).is_none() {
        return Err(ApiError::not_found(format!("connector `{id}` not found")));
    }
    if let Some(n) = &q.node {
        kaiwu_opcua::parse_node_id(n).map_err(|e| ApiError::invalid(format!("node: {e}")))?;
    }
    let entries = m.browse(&caller.tenant, &id, q.node).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| BrowseNode {
                node_id: e.node_id,
                browse_name: e.browse_name,
                display_name: e.display_name,
                node_class: e.node_class,
                data_type: e.data_type,
            })
            .collect(),
    ))
}
