use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kaiwu_auth::{Action, Claims, can_grant, hash_password, validate_password, verify_password};
use kaiwu_core::{Role, now_ms};
use kaiwu_registry::{NewUser, User, UserPatch};

use super::Problem;
use crate::caller::Caller;
use crate::json::Body;
use crate::{ApiError, AppState};

pub(super) fn auth_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(get_me, patch_me))
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, patch_user, delete_user))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
    /// One-time code, for accounts with MFA enabled.
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LoginResponse {
    /// Bearer token for the Authorization header.
    token: String,
    /// Expiry, epoch ms.
    expires_at: i64,
}

/// Exchange username and password for a bearer token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn login(
    State(s): State<AppState>,
    Body(req): Body<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let _ = &req.totp; // MFA enrolment arrives with the security issue; no account has it yet.
    if req.username.len() > 64 || req.password.len() > 256 {
        return Err(ApiError::unauthorized("invalid username or password"));
    }
    let ttl = s.inner.config.token_ttl_secs;
    let jwt = s.inner.jwt.clone();
    s.db(move |reg| {
        let creds = reg.user_credentials(&req.username)?;
        // Verify against a fixed hash for unknown users too, so timing does not reveal names.
        let (hash, user) = match creds {
            Some(c) => (c.password_hash, Some(c.user)),
            None => (DUMMY_HASH.clone(), None),
        };
        let ok = verify_password(&req.password, &hash).unwrap_or(false);
        let user = user.filter(|u| ok && !u.disabled).ok_or_else(|| {
            tracing::info!(username = %req.username, "login refused");
            ApiError::unauthorized("invalid username or password")
        })?;
        let now = now_ms();
        let claims = Claims {
            sub: user.username.clone(),
            ten: user.tenant.clone(),
            iat: now / 1000,
            exp: now / 1000 + ttl,
            iat_ms: now,
        };
        Ok(Json(LoginResponse {
            token: jwt.sign(&claims),
            expires_at: claims.exp * 1000,
        }))
    })
    .await
}

/// Argon2id hash of a random string nobody knows, for refusals that take as long as a real check.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&kaiwu_auth::random_token(32)).unwrap_or_default());

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    #[serde(flatten)]
    user: User,
    /// Set when the call was made with an API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
}

/// The calling user.
#[utoipa::path(get, path = "/api/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn get_me(State(s): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let name = caller.username.clone();
    let user = s.db(move |r| Ok(r.user(None, &name)?)).await?;
    Ok(Json(Me {
        user,
        api_key: caller.api_key,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MePatch {
    /// The current password, required to set a new one.
    current_password: String,
    /// The new password (8 to 256 characters).
    password: String,
}

/// Change the caller's own password; earlier tokens stop working.
#[utoipa::path(patch, path = "/api/me", tag = "auth", request_body = MePatch, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn patch_me(
    State(s): State<AppState>,
    caller: Caller,
    Body(p): Body<MePatch>,
) -> Result<Json<User>, ApiError> {
    caller.require(Action::Own)?;
    if caller.api_key.is_some() {
        return Err(ApiError::forbidden(
            "passwords cannot be changed with an api key",
        ));
    }
    validate_password(&p.password)?;
    let name = caller.username.clone();
    s.db(move |r| {
        let c = r
            .user_credentials(&name)?
            .ok_or_else(|| ApiError::unauthorized("user is gone"))?;
        if !verify_password(&p.current_password, &c.password_hash)? {
            return Err(ApiError::forbidden("current password is wrong"));
        }
        let patch = UserPatch {
            password_hash: Some(hash_password(&p.password)?),
            ..Default::default()
        };
        Ok(Json(r.update_user(None, &name, patch)?))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserCreate {
    username: String,
    password: String,
    /// Defaults to the caller's tenant; only platform admins may name another.
    #[serde(default)]
    tenant: Option<String>,
    #[schema(value_type = Vec<String>)]
    roles: Vec<Role>,
    /// Highest data classification (1-3) the user may read; default 1.
    #[serde(default)]
    clearance: Option<u8>,
}

/// Which tenant a user call may act on: the caller's own, or any for platform admins.
fn scope(caller: &Caller) -> Option<String> {
    (!caller.is_platform_admin()).then(|| caller.tenant.clone())
}

fn check_grants(caller: &Caller, roles: &[Role]) -> Result<(), ApiError> {
    match roles.iter().find(|r| !can_grant(&caller.roles, **r)) {
        Some(r) => Err(ApiError::forbidden(format!(
            "you may not grant the role `{r}`"
        ))),
        None => Ok(()),
    }
}

/// Users of the caller's tenant.
#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<User>), (status = 403, body = Problem)))]
async fn list_users(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<User>>, ApiError> {
    caller.require(Action::ReadUsers)?;
    let t = caller.tenant.clone();
    s.db(move |r| Ok(Json(r.users(&t)?))).await
}

/// Create a user.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = UserCreate, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(s): State<AppState>,
    caller: Caller,
    Body(u): Body<UserCreate>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    caller.require(Action::ManageUsers)?;
    let tenant = u.tenant.unwrap_or_else(|| caller.tenant.clone());
    if tenant != caller.tenant && !caller.is_platform_admin() {
        // Another tenant is invisible, not forbidden.
        return Err(ApiError::not_found(format!("tenant `{tenant}` not found")));
    }
    check_grants(&caller, &u.roles)?;
    kaiwu_core::validate_username(&u.username)?;
    validate_password(&u.password)?;
    s.db(move |r| {
        let user = r.create_user(NewUser {
            username: u.username,
            tenant,
            password_hash: hash_password(&u.password)?,
            roles: u.roles,
            clearance: u.clearance.unwrap_or(1),
        })?;
        Ok((StatusCode::CREATED, Json(user)))
    })
    .await
}

/// One user.
#[utoipa::path(get, path = "/api/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<User>, ApiError> {
    caller.require(Action::ReadUsers)?;
    let t = scope(&caller);
    s.db(move |r| Ok(Json(r.user(t.as_deref(), &name)?))).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserUpdate {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    roles: Option<Vec<Role>>,
    #[serde(default)]
    clearance: Option<u8>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// Change a user: password reset, roles, clearance, disabling.
#[utoipa::path(patch, path = "/api/users/{username}", tag = "users", request_body = UserUpdate, security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn patch_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(p): Body<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    caller.require(Action::ManageUsers)?;
    if let Some(roles) = &p.roles {
        check_grants(&caller, roles)?;
    }
    if let Some(pw) = &p.password {
        validate_password(pw)?;
    }
    let t = scope(&caller);
    s.db(move |r| {
        let cur = r.user(t.as_deref(), &name)?;
        if cur.roles.contains(&Role::PlatformAdmin) && !caller.is_platform_admin() {
            return Err(ApiError::forbidden(
                "only platform admins may change a platform admin",
            ));
        }
        let demoted = p
            .roles
            .as_ref()
            .is_some_and(|n| !n.contains(&Role::PlatformAdmin))
            || p.disabled == Some(true);
        if cur.roles.contains(&Role::PlatformAdmin)
            && demoted
            && r.count_role(None, Role::PlatformAdmin)? <= 1
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "the last platform admin cannot be demoted or disabled",
            ));
        }
        let patch = UserPatch {
            password_hash: p.password.as_deref().map(hash_password).transpose()?,
            roles: p.roles,
            clearance: p.clearance,
            disabled: p.disabled,
        };
        Ok(Json(r.update_user(t.as_deref(), &name, patch)?))
    })
    .await
}

/// Delete a user and their API keys.
#[utoipa::path(delete, path = "/api/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageUsers)?;
    if name == caller.username {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "you cannot delete yourself",
        ));
    }
    let t = scope(&caller);
    s.db(move |r| {
        let cur = r.user(t.as_deref(), &name)?;
        if cur.roles.contains(&Role::PlatformAdmin) && !caller.is_platform_admin() {
            return Err(ApiError::forbidden(
                "only platform admins may delete a platform admin",
            ));
        }
        r.delete_user(t.as_deref(), &name)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
