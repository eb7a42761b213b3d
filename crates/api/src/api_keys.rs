//! `/api-keys`: the organization's API keys (api_keys:manage, signed-in users only).

use actix_web::{HttpResponse, web};
use bulkhead_domain::api_keys::{ApiKey, CreateApiKey, IssuedApiKey};
use bulkhead_domain::{ApiKeyId, Permission};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::extract::{Auth, Json};
use crate::pagination::{PageBody, PageQuery};
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api-keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/api-keys/{api_key_id}").route(web::delete().to(revoke)));
}

/// A permission an API key can hold: any of the catalogue but those only a person may hold.
/// The domain checks the name; the document lists the catalogue's, so a new resource's
/// permissions appear here by themselves.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct KeyScope(String);

impl PartialSchema for KeyScope {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A permission an API key can hold: any of the catalogue (`GET /permissions`) \
                 but organization:delete, members:invite, members:manage, roles:manage, \
                 api_keys:manage and billing:manage, which only a person may hold.",
            ))
            .enum_values(Some(
                Permission::ALL
                    .iter()
                    .filter(|p| p.for_keys())
                    .map(|p| p.as_str()),
            ))
            .into()
    }
}

impl ToSchema for KeyScope {}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(
        example = "CI deploys",
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// What the key may do; only permissions you hold yourself.
    #[schema(min_items = 1)]
    pub scopes: Vec<KeyScope>,
    /// When the key stops working (must be in the future); never, if absent.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyBody {
    pub id: Uuid,
    #[schema(example = "CI deploys")]
    pub name: String,
    /// The public start of the secret, `bhk_<prefix>_…`, to recognise the key.
    #[schema(example = "3f1c0a9b7d2e4f60")]
    pub prefix: String,
    #[schema(value_type = Vec<String>, example = json!(["projects:read"]))]
    pub scopes: Vec<&'static str>,
    pub created_by: Uuid,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyBody {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id.as_uuid(),
            name: key.name.as_str().to_owned(),
            prefix: key.prefix,
            scopes: key.scopes.iter().map(|p| p.as_str()).collect(),
            created_by: key.created_by.as_uuid(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
        }
    }
}

/// A key just created, with its secret: shown this once, stored only as a digest.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyBody {
    #[serde(flatten)]
    pub key: ApiKeyBody,
    /// Send it as `Authorization: Bearer <secret>`.
    #[schema(example = "bhk_3f1c0a9b7d2e4f60_9c…")]
    pub secret: String,
}

impl From<IssuedApiKey> for CreatedApiKeyBody {
    fn from(issued: IssuedApiKey) -> Self {
        Self {
            secret: issued.secret.expose().to_owned(),
            key: issued.key.into(),
        }
    }
}

/// The key's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ApiKeyPath {
    pub api_key_id: Uuid,
}

/// Create an API key (api_keys:manage; users only). The secret is in this response only.
#[utoipa::path(
    post, path = "/api/v1/api-keys", extensions(("x-permission" = json!("api_keys:manage"))), tag = "api-keys", request_body = CreateApiKeyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedApiKeyBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn create(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = CreateApiKey {
        name: body.name,
        scopes: body.scopes.into_iter().map(|s| s.0).collect(),
        expires_at: body.expires_at,
    };
    let issued = state.api_keys.create(&scope, input).await?;
    Ok(HttpResponse::Created().json(CreatedApiKeyBody::from(issued)))
}

/// The organization's live API keys, newest first (api_keys:manage; users only).
#[utoipa::path(
    get, path = "/api/v1/api-keys", extensions(("x-permission" = json!("api_keys:manage"))), tag = "api-keys", params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of keys", body = PageBody<ApiKeyBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let keys = state.api_keys.list(&scope, page).await?;
    Ok(HttpResponse::Ok().json(PageBody::<ApiKeyBody>::from_page(keys)))
}

/// Revoke an API key: it stops working at once (api_keys:manage; users only).
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{api_key_id}", extensions(("x-permission" = json!("api_keys:manage"))), tag = "api-keys", params(ApiKeyPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    path: web::Path<ApiKeyPath>,
) -> Result<HttpResponse, ApiError> {
    state
        .api_keys
        .revoke(&scope, ApiKeyId::from_uuid(path.api_key_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
