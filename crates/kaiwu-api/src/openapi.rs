use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Document-level parts: info, tags and the bearer security scheme. Paths and schemas come from
/// the handlers registered in `routes`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Kaiwu management API",
        description = "Management API of the Kaiwu industrial internet platform. Errors are \
                       application/problem+json (RFC 9457).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "ops", description = "Health, readiness, metrics and this document"),
        (name = "auth", description = "Login and the caller's own account"),
        (name = "tenants", description = "Tenants (platform admins only)"),
        (name = "users", description = "Users of the caller's tenant"),
        (name = "api-keys", description = "API keys"),
        (name = "device-types", description = "Thing models and their W3C WoT Thing Descriptions"),
        (name = "assets", description = "ISA-95 asset tree"),
        (name = "devices", description = "Devices and their credentials"),
        (name = "telemetry", description = "Writing and reading device data"),
        (name = "query", description = "SQL over the tenant's data")
    )
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or kwk_ API key")
                    .build(),
            ),
        );
    }
}

/// Finish the generated responses in one place instead of repeating it in every handler: error
/// bodies are `application/problem+json`, and every response gets the description OpenAPI
/// requires (the status's reason phrase where a handler gives none).
pub(crate) fn fill_response_descriptions(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in api.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            for (status, resp) in op.responses.responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let RefOr::T(r) = resp
                    && is_error
                    && let Some(c) = r.content.shift_remove("application/json")
                {
                    r.content.insert("application/problem+json".to_owned(), c);
                }
                if let RefOr::T(r) = resp
                    && r.description.is_empty()
                {
                    r.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
                        .and_then(|c| c.canonical_reason())
                        .unwrap_or("Response")
                        .to_owned();
                }
            }
        }
    }
}
