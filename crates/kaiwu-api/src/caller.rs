//! Who is calling: resolved from the bearer token (login JWT or API key) on every request, with
//! roles read fresh from the registry so revocations apply at once.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use kaiwu_auth::{API_KEY_PREFIX, Action, allowed, covers};
use kaiwu_core::{Role, now_ms};

use crate::{ApiError, AppState};

/// The authenticated caller. Every handler acts inside `tenant`.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) username: String,
    pub(crate) tenant: String,
    pub(crate) roles: Vec<Role>,
    pub(crate) api_key: Option<String>,
}

impl Caller {
    /// Refuse with 403 unless the caller's roles permit `action`.
    pub(crate) fn require(&self, action: Action) -> Result<(), ApiError> {
        if allowed(&self.roles, action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "user `{}` lacks the permission for this operation",
                self.username
            )))
        }
    }

    pub(crate) fn is_platform_admin(&self) -> bool {
        self.roles.contains(&Role::PlatformAdmin)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer header"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Authorization header must be `Bearer <token>`"))?
            .to_owned();
        let jwt = state.inner.jwt.clone();
        state
            .db(move |reg| {
                let now = now_ms();
                if token.starts_with(API_KEY_PREFIX) {
                    let key = reg
                        .api_key_by_secret(&token)?
                        .filter(|k| k.expires_ms.is_none_or(|e| e > now))
                        .ok_or_else(|| ApiError::unauthorized("invalid or expired api key"))?;
                    let user = reg
                        .user_credentials(&key.username)?
                        .filter(|c| !c.user.disabled)
                        .ok_or_else(|| ApiError::unauthorized("api key owner is disabled or gone"))?
                        .user;
                    // A key never holds more than its owner holds now.
                    let roles = key
                        .roles
                        .iter()
                        .copied()
                        .filter(|r| covers(&user.roles, *r))
                        .collect();
                    return Ok(Caller {
                        username: user.username,
                        tenant: user.tenant,
                        roles,
                        api_key: Some(key.id),
                    });
                }
                let claims = jwt.verify(&token, now / 1000)?;
                let creds = reg
                    .user_credentials(&claims.sub)?
                    .filter(|c| !c.user.disabled && c.user.tenant == claims.ten)
                    .filter(|c| claims.iat_ms >= c.tokens_after_ms)
                    .ok_or_else(|| ApiError::unauthorized("token is no longer valid"))?;
                Ok(Caller {
                    username: creds.user.username,
                    tenant: creds.user.tenant,
                    roles: creds.user.roles,
                    api_key: None,
                })
            })
            .await
    }
}
