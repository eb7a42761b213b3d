//! `/audit-events`: the organization's audit trail (audit:read).

use actix_web::{HttpResponse, web};
use bulkhead_domain::audit::{AuditEvent, AuditService, ListAuditEvents};
use bulkhead_domain::{DomainError, TenantScope};
use chrono::{DateTime, Utc};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::extract::{Auth, int_param};
use crate::pagination::PageBody;
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/audit-events").route(web::get().to(list)))
        .service(web::resource("/audit-events/verify").route(web::get().to(verify)))
        .service(web::resource("/audit-events/export").route(web::get().to(export)));
}

/// One recorded event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    pub id: Uuid,
    /// Position in the organization's chain, from 1.
    pub seq: i64,
    /// `user` or `system`.
    #[schema(example = "user")]
    pub actor_type: String,
    /// The user's id, or the system task's name.
    pub actor_id: Option<String>,
    pub impersonator_id: Option<Uuid>,
    #[schema(example = "project.updated")]
    pub action: String,
    #[schema(example = "project")]
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The changed fields, `{"before": {...}, "after": {...}}`, or details of the event.
    #[schema(value_type = Option<Object>)]
    pub changes: serde_json::Value,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// The previous event's hash (empty for the first).
    pub prev_hash: String,
    /// SHA-256 of this event's canonical form and the previous hash.
    pub hash: String,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            seq: e.seq,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            impersonator_id: e.impersonator_id.map(|id| id.as_uuid()),
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            changes: e.changes,
            request_id: e.request_id,
            client_ip: e.client_ip,
            user_agent: e.user_agent,
            created_at: e.created_at,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// The first event that does not match the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLink {
    pub id: Uuid,
    pub seq: i64,
}

/// The result of checking the organization's chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainReportBody {
    /// Whether every event is unchanged and in place.
    pub intact: bool,
    pub events_checked: u64,
    /// The first event that was changed, removed or moved, if any.
    pub first_broken: Option<BrokenLink>,
}

/// Filters of the audit list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
    /// Only this actor (a user id, or a system task's name).
    pub actor_id: Option<String>,
    /// Only this action, e.g. `project.updated`.
    pub action: Option<String>,
    /// Only this resource type, e.g. `project`.
    pub resource_type: Option<String>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// RFC 3339: only events at or after this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339: only events before this time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

/// The organization's audit events, newest first (audit:read).
#[utoipa::path(
    get, path = "/api/v1/audit-events", extensions(("x-permission" = json!("audit:read"))), tag = "audit", params(ListAuditQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = PageBody<AuditEventBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    query: web::Query<ListAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let input = ListAuditEvents {
        limit: int_param("limit", query.limit.as_deref())?,
        offset: int_param("offset", query.offset.as_deref())?,
        actor_id: query.actor_id,
        action: query.action,
        resource_type: query.resource_type,
        resource_id: query.resource_id,
        since: query.since,
        until: query.until,
    };
    let page = state.audit.list(&scope, input).await?;
    Ok(HttpResponse::Ok().json(PageBody::<AuditEventBody>::from_page(page)))
}

/// Check that no event was changed, removed or reordered (audit:read).
#[utoipa::path(
    get, path = "/api/v1/audit-events/verify", extensions(("x-permission" = json!("audit:read"))), tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "The verdict", body = ChainReportBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn verify(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let report = state.audit.verify(&scope).await?;
    Ok(HttpResponse::Ok().json(ChainReportBody {
        intact: report.intact,
        events_checked: report.events_checked,
        first_broken: report.first_broken.map(|(id, seq)| BrokenLink {
            id: id.as_uuid(),
            seq,
        }),
    }))
}

fn json_lines(events: Vec<AuditEvent>) -> Result<web::Bytes, ApiError> {
    let mut buffer = Vec::new();
    for event in events {
        serde_json::to_writer(&mut buffer, &AuditEventBody::from(event))
            .map_err(|e| DomainError::Internal(format!("cannot serialize audit event: {e}")))?;
        buffer.push(b'\n');
    }
    Ok(buffer.into())
}

/// Every event of the organization, oldest first, as JSON lines (audit:read).
#[utoipa::path(
    get, path = "/api/v1/audit-events/export", extensions(("x-permission" = json!("audit:read"))), tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "One AuditEventBody per line", content_type = "application/x-ndjson", body = String),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn export(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    // The first batch is read before answering, so that a refusal is still a proper 403.
    let first = state.audit.export_batch(&scope, 0).await?;
    let service: AuditService = state.audit.clone();
    let body = stream::try_unfold(
        (Some(first), service, scope),
        |(pending, service, scope): (Option<Vec<AuditEvent>>, AuditService, TenantScope)| async move {
            let batch = match pending {
                Some(batch) => batch,
                None => return Ok::<_, ApiError>(None),
            };
            let Some(last_seq) = batch.last().map(|e| e.seq) else {
                return Ok(None);
            };
            let full = batch.len() as u64 == AuditService::BATCH;
            let chunk = json_lines(batch)?;
            let next = if full {
                Some(service.export_batch(&scope, last_seq).await?)
            } else {
                None
            };
            Ok(Some((chunk, (next, service, scope))))
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}
