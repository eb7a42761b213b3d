//! The HTTP side of the resource kit: the pieces every resource's endpoints share, and
//! [`resource_endpoints!`], which writes a resource's six endpoints (list, create, read,
//! patch, delete, restore) with one set of OpenAPI responses, `x-permission`, ETag and
//! If-Match, Idempotency-Key on create and problem+json errors.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, HttpResponseBuilder};
use bulkhead_domain::resource::{ListParams, Record, Resource};
use serde::{Deserialize, Deserializer, Serialize};

use crate::extract::{bool_param, etag, int_param};
use crate::problem::ApiError;

/// Where every resource's paths start; the OpenAPI document names full paths, the routes are
/// registered under the scope of this prefix.
pub(crate) const API_PREFIX: &str = "/api/v1";

/// `path` (as the OpenAPI document names it) relative to [`API_PREFIX`], for routing.
pub(crate) fn route(path: &'static str) -> &'static str {
    path.strip_prefix(API_PREFIX).unwrap_or(path)
}

/// A list request of a resource: the shared parameters, and the resource's own filters.
pub(crate) trait ListRequest {
    /// The resource's validated filters.
    type Filter;

    /// The shared parameters and the filters, with a bad one reported by name.
    fn parse(self) -> Result<(ListParams, Self::Filter), ApiError>;
}

/// The shared list parameters as they arrive: integers as text, so that a bad one is reported
/// by name.
pub(crate) fn list_params(
    limit: Option<&str>,
    offset: Option<&str>,
    q: Option<String>,
    sort: Option<String>,
    include_deleted: Option<&str>,
) -> Result<ListParams, ApiError> {
    Ok(ListParams {
        limit: int_param("limit", limit)?,
        offset: int_param("offset", offset)?,
        q,
        sort,
        include_deleted: bool_param("include_deleted", include_deleted)?,
    })
}

/// A row as its body, with its version as a strong `ETag`.
pub(crate) fn respond<R, B>(mut builder: HttpResponseBuilder, record: Record<R>) -> HttpResponse
where
    R: Resource,
    B: From<Record<R>> + Serialize,
{
    builder
        .insert_header(etag(record.version))
        .json(B::from(record))
}

/// 201 with the new row's URL and its body.
pub(crate) fn created<R, B>(collection: &str, record: Record<R>) -> HttpResponse
where
    R: Resource,
    B: From<Record<R>> + Serialize,
{
    let mut builder = HttpResponse::Created();
    builder.insert_header((LOCATION, format!("{collection}/{}", record.id)));
    respond::<R, B>(builder, record)
}

/// Tells "absent" (`None`, via `default`) from "null" (`Some(None)`) in a partial update.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A required field of a partial update sent as `null`: 422, since it cannot be cleared.
pub(crate) fn not_null<T>(field: &str, value: Option<Option<T>>) -> Result<Option<T>, ApiError> {
    match value {
        Some(None) => Err(ApiError::invalid(
            field,
            "null",
            format!("{field} cannot be null"),
        )),
        other => Ok(other.flatten()),
    }
}

/// Writes a resource's endpoints in the module it is called from: `routes`, and the handlers
/// `list`, `create`, `get`, `update`, `delete` and `restore` with their OpenAPI operations.
///
/// The module provides the body (`From<Record<R>>`), optionally a `get_with` function that
/// reads a single row with more than a list shows (what a list would pay too much for), in one
/// unit of work, answering its version and body, the create and
/// patch requests
/// (`Into`/`TryInto` the resource's `Create` and `Patch`), the list query ([`ListRequest`]) and
/// the path (a struct with the id field). The service is `AppState`'s field `service` with the
/// kit's signatures (`Resources<R>`, or an aggregate's service with the same methods).
/// utoipa reads paths, permissions and texts only from literals, hence the many arguments.
macro_rules! resource_endpoints {
    (
        service: $service:ident,
        id: $Id:ty,
        body: $Body:ty,
        create: $Create:ty,
        patch: $Patch:ty,
        query: $Query:ty,
        path: $Path:ty => $id:ident,
        tag: $tag:literal,
        collection: $collection:literal,
        item: $item:literal,
        restore: $restore:literal,
        $(get_with: $get_with:path,)?
        read: $read:literal,
        write: $write:literal,
        remove: $remove:literal,
        write_permission: $write_permission:expr,
        docs: {
            list: $list_doc:literal,
            list_ok: $list_ok:literal,
            create: $create_doc:literal,
            key: $key_doc:literal,
            location: $location_doc:literal,
            get: $get_doc:literal,
            get_ok: $get_ok:literal,
            update: $update_doc:literal,
            update_ok: $update_ok:literal,
            delete: $delete_doc:literal,
            restore: $restore_doc:literal $(,)?
        } $(,)?
    ) => {
        // utoipa names the page schema after the type as written, so it is written plainly.
        use crate::pagination::PageBody;

        pub(crate) fn routes(cfg: &mut actix_web::web::ServiceConfig) {
            use actix_web::web;
            cfg.service(
                web::resource(crate::resource::route($collection))
                    .route(web::get().to(list))
                    .route(web::post().to(create)),
            )
            .service(
                web::resource(crate::resource::route($item))
                    .route(web::get().to(get))
                    .route(web::patch().to(update))
                    .route(web::delete().to(delete)),
            )
            .service(web::resource(crate::resource::route($restore)).route(web::post().to(restore)));
        }

        #[doc = $list_doc]
        #[utoipa::path(
            get, path = $collection, extensions(("x-permission" = json!($read))), tag = $tag, params($Query), security(("bearer" = [])),
            responses(
                (status = 200, description = $list_ok, body = PageBody<$Body>),
                (status = 401, response = crate::problem::responses::Unauthorized),
                (status = 403, response = crate::problem::responses::Forbidden),
                (status = 422, response = crate::problem::responses::Invalid),
            )
        )]
        pub(crate) async fn list(
            state: actix_web::web::Data<crate::AppState>,
            crate::extract::Auth(scope): crate::extract::Auth,
            query: actix_web::web::Query<$Query>,
        ) -> Result<actix_web::HttpResponse, crate::problem::ApiError> {
            let (params, filter) =
                crate::resource::ListRequest::parse(query.into_inner())?;
            let page = state.$service.list(&scope, params, filter).await?;
            Ok(actix_web::HttpResponse::Ok()
                .json(PageBody::<$Body>::from_page(page)))
        }

        #[doc = $create_doc]
        #[utoipa::path(
            post, path = $collection, extensions(("x-permission" = json!($write))), tag = $tag, request_body = $Create, security(("bearer" = [])),
            params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = $key_doc)),
            responses(
                (status = 201, description = "Created", body = $Body, headers(("location" = String, description = $location_doc))),
                (status = 400, response = crate::problem::responses::MalformedJson),
                (status = 401, response = crate::problem::responses::Unauthorized),
                (status = 403, response = crate::problem::responses::Forbidden),
                (status = 409, response = crate::problem::responses::Conflict),
                (status = 413, response = crate::problem::responses::PayloadTooLarge),
                (status = 415, response = crate::problem::responses::UnsupportedMediaType),
                (status = 422, response = crate::problem::responses::Invalid),
            )
        )]
        pub(crate) async fn create(
            state: actix_web::web::Data<crate::AppState>,
            crate::extract::Auth(scope): crate::extract::Auth,
            req: actix_web::HttpRequest,
            crate::extract::Json(body): crate::extract::Json<$Create>,
        ) -> Result<actix_web::HttpResponse, crate::problem::ApiError> {
            crate::idempotency::once(&state, &scope, $write_permission, &req, || async {
                let record = state.$service.create(&scope, body.into()).await?;
                Ok(crate::resource::created::<_, $Body>($collection, record))
            })
            .await
        }

        #[doc = $get_doc]
        #[utoipa::path(
            get, path = $item, extensions(("x-permission" = json!($read))), tag = $tag, params($Path), security(("bearer" = [])),
            responses(
                (status = 200, description = $get_ok, body = $Body, headers(("etag" = String, description = "The version, for If-Match"))),
                (status = 401, response = crate::problem::responses::Unauthorized),
                (status = 403, response = crate::problem::responses::Forbidden),
                (status = 404, response = crate::problem::responses::NotFound),
            )
        )]
        #[allow(unreachable_code)]
        pub(crate) async fn get(
            state: actix_web::web::Data<crate::AppState>,
            crate::extract::Auth(scope): crate::extract::Auth,
            path: actix_web::web::Path<$Path>,
        ) -> Result<actix_web::HttpResponse, crate::problem::ApiError> {
            let id = <$Id>::from_uuid(path.$id);
            $(
                let (version, body): (i64, $Body) = $get_with(&state, &scope, id).await?;
                return Ok(actix_web::HttpResponse::Ok()
                    .insert_header(crate::extract::etag(version))
                    .json(body));
            )?
            let record = state.$service.get(&scope, id).await?;
            let version = record.version;
            let body = <$Body>::from(record);
            Ok(actix_web::HttpResponse::Ok()
                .insert_header(crate::extract::etag(version))
                .json(body))
        }

        #[doc = $update_doc]
        #[utoipa::path(
            patch, path = $item, extensions(("x-permission" = json!($write))), tag = $tag, params($Path),
            request_body = $Patch, security(("bearer" = [])),
            responses(
                (status = 200, description = $update_ok, body = $Body, headers(("etag" = String, description = "The new version"))),
                (status = 400, response = crate::problem::responses::MalformedJson),
                (status = 401, response = crate::problem::responses::Unauthorized),
                (status = 403, response = crate::problem::responses::Forbidden),
                (status = 404, response = crate::problem::responses::NotFound),
                (status = 409, response = crate::problem::responses::Conflict),
                (status = 412, response = crate::problem::responses::PreconditionFailed),
                (status = 413, response = crate::problem::responses::PayloadTooLarge),
                (status = 415, response = crate::problem::responses::UnsupportedMediaType),
                (status = 422, response = crate::problem::responses::Invalid),
            )
        )]
        pub(crate) async fn update(
            state: actix_web::web::Data<crate::AppState>,
            crate::extract::Auth(scope): crate::extract::Auth,
            req: actix_web::HttpRequest,
            path: actix_web::web::Path<$Path>,
            crate::extract::Json(body): crate::extract::Json<$Patch>,
        ) -> Result<actix_web::HttpResponse, crate::problem::ApiError> {
            let expected_version = crate::extract::if_match(&req)?;
            let record = state
                .$service
                .update(
                    &scope,
                    <$Id>::from_uuid(path.$id),
                    body.try_into()?,
                    expected_version,
                )
                .await?;
            Ok(crate::resource::respond::<_, $Body>(actix_web::HttpResponse::Ok(), record))
        }

        #[doc = $delete_doc]
        #[utoipa::path(
            delete, path = $item, extensions(("x-permission" = json!($remove))), tag = $tag, params($Path), security(("bearer" = [])),
            responses(
                (status = 204, description = "Deleted"),
                (status = 401, response = crate::problem::responses::Unauthorized),
                (status = 403, response = crate::problem::responses::Forbidden),
                (status = 404, response = crate::problem::responses::NotFound),
                (status = 412, response = crate::problem::responses::PreconditionFailed),
            )
        )]
        pub(crate) async fn delete(
            state: actix_web::web::Data<crate::AppState>,
            crate::extract::Auth(scope): crate::extract::Auth,
            req: actix_web::HttpRequest,
            path: actix_web::web::Path<$Path>,
        ) -> Result<actix_web::HttpResponse, crate::problem::ApiError> {
            let expected_version = crate::extract::if_match(&req)?;
            state
                .$service
                .delete(&scope, <$Id>::from_uuid(path.$id), expected_version)
                .await?;
            Ok(actix_web::HttpResponse::NoContent().finish())
        }

        #[doc = $restore_doc]
        #[utoipa::path(
            post, path = $restore, extensions(("x-permission" = json!($remove))), tag = $tag, params($Path), security(("bearer" = [])),
            responses(
                (status = 200, description = "Restored", body = $Body, headers(("etag" = String, description = "The new version"))),
                (status = 401, response = crate::problem::responses::Unauthorized),
                (status = 403, response = crate::problem::responses::Forbidden),
                (status = 404, response = crate::problem::responses::NotFound),
                (status = 409, response = crate::problem::responses::Conflict),
            )
        )]
        pub(crate) async fn restore(
            state: actix_web::web::Data<crate::AppState>,
            crate::extract::Auth(scope): crate::extract::Auth,
            path: actix_web::web::Path<$Path>,
        ) -> Result<actix_web::HttpResponse, crate::problem::ApiError> {
            let record = state.$service.restore(&scope, <$Id>::from_uuid(path.$id)).await?;
            Ok(crate::resource::respond::<_, $Body>(actix_web::HttpResponse::Ok(), record))
        }
    };
}

pub(crate) use resource_endpoints;
