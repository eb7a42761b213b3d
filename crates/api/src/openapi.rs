//! The OpenAPI document, generated from the handlers and DTOs.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    accounts, admin, agent_configs, agents, api_keys, artifacts, audit, auth, billing, checkpoints,
    conversations, documents, exports, health, invitations, members, organizations, permissions,
    problem, project_members, projects, roles, runs, sessions, users, work_sessions,
};

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bulkhead API",
        description = "Multi-tenant SaaS backend. Every tenant object is confined to the organization of the \
                       access token; another organization's object answers 404 exactly like a missing one. \
                       Errors are RFC 9457 problem+json.",
    ),
    paths(
        auth::register, auth::login, auth::me,
        sessions::refresh, sessions::logout, sessions::logout_all, sessions::list, sessions::revoke,
        sessions::organizations, sessions::switch_organization,
        accounts::change_password, accounts::forgot_password, accounts::reset_password,
        accounts::verify_email, accounts::resend_verification,
        projects::list, projects::create, projects::get, projects::update, projects::delete, projects::restore,
        project_members::list, project_members::put, project_members::remove,
        agent_configs::list, agent_configs::create, agent_configs::get, agent_configs::update,
        agent_configs::delete, agent_configs::restore, agent_configs::activate, agent_configs::deactivate,
        agent_configs::set_credential, agent_configs::remove_credential, agent_configs::versions,
        agent_configs::tools,
        agents::list, agents::create, agents::get, agents::update, agents::delete, agents::restore,
        agents::pause, agents::resume,
        runs::start, runs::list, runs::get, runs::cancel, runs::events, runs::metrics,
        conversations::list, conversations::create, conversations::get, conversations::update,
        conversations::delete, conversations::restore, conversations::post, conversations::messages,
        conversations::message, conversations::delete_message, conversations::events,
        documents::upload, documents::list, documents::search, documents::get, documents::update,
        documents::delete, documents::restore, documents::content,
        work_sessions::create, work_sessions::list_in_project, work_sessions::list,
        work_sessions::get, work_sessions::start, work_sessions::cancel, work_sessions::events,
        work_sessions::artifacts, work_sessions::checkpoints,
        artifacts::get, artifacts::review, checkpoints::get, checkpoints::resolve,
        audit::list, audit::verify, audit::export, exports::export,
        api_keys::create, api_keys::list, api_keys::revoke,
        organizations::current, organizations::update, organizations::delete, organizations::restore, permissions::list, roles::list, roles::get, roles::create, roles::update, roles::delete,
        members::list, members::change_role, members::remove, members::leave,
        users::get_user, users::update_me,
        invitations::create, invitations::list, invitations::revoke, invitations::accept,
        admin::login, admin::list, admin::get, admin::create, admin::suspend, admin::reactivate,
        admin::impersonate, billing::admin_subscription, billing::admin_set_plan,
        billing::plans, billing::subscription, billing::checkout, billing::portal,
        billing::invoices, billing::usage, billing::stripe_webhook,
        health::live, health::ready,
    ),
    components(
        schemas(problem::Problem, problem::ProblemField),
        responses(
            problem::responses::MalformedJson,
            problem::responses::Unauthorized,
            problem::responses::Forbidden,
            problem::responses::NotFound,
            problem::responses::Conflict,
            problem::responses::PreconditionFailed,
            problem::responses::PayloadTooLarge,
            problem::responses::UnsupportedMediaType,
            problem::responses::Invalid,
            problem::responses::TooManyRequests,
            problem::responses::PaymentRequired,
        )
    ),
    modifiers(&BearerAuth, &RateLimited, &BodyLimits, &PaymentRequired, &FreeFormObjects, &OperationIds),
    tags(
        (name = "auth", description = "Sign-up, login, sessions, refresh tokens and the current user"),
        (name = "projects", description = "The organization's projects"),
        (name = "runs", description = "Runs of agents: queued, executed once by a worker, followed live as Server-Sent Events, summed up as metrics"),
        (name = "agents", description = "Agent configurations (provider, model, prompt, tools, a write-only credential, numbered versions) and the agents that run with them"),
        (name = "conversations", description = "Your private conversations with the organization's agents: messages, replies started as runs, and events as Server-Sent Events; nobody else in the organization can read them"),
        (name = "documents", description = "The organization's files: uploaded as streams, checked against their type, downloaded as stored, and searched through their extracted text"),
        (name = "work", description = "Work sessions on projects: executed by an agent's runs, producing artifacts for review, stopping at checkpoints for a person's decision, followed as Server-Sent Events"),
        (name = "audit", description = "The organization's tamper-evident audit trail"),
        (name = "organizations", description = "The caller's organization, its roles and the permission catalogue"),
        (name = "members", description = "Members, their roles, invitations and profiles"),
        (name = "api-keys", description = "Credentials for machines: `Authorization: Bearer bhk_…` acts in the key's organization with the key's scopes only"),
        (name = "billing", description = "Plans and their limits, the subscription through Stripe (checkout, portal, invoices), this month's usage, and Stripe's signed webhook"),
        (name = "admin", description = "Platform administration by superusers (`bulkhead create-superuser`): organizations' records, suspension, and audited read-only impersonation"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token, or an API key (bhk_…)")
                    .build(),
            ),
        );
    }
}

/// The operations of a path item, whatever their method.
fn operations(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// Every operation that is rate limited may answer 429: those behind a bearer credential (the
/// per-principal limit) and the sign-in, refresh and email operations (per address).
struct RateLimited;

const LIMITED_WITHOUT_BEARER: &[&str] = &[
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/forgot-password",
    "/api/v1/auth/reset-password",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/resend-verification",
    "/api/v1/invitations/accept",
    "/api/v1/admin/auth/login",
];

/// Platform tokens are not counted against a per-principal budget: superusers are few, and
/// their tokens are checked against the database on every request anyway.
const PLATFORM_PREFIX: &str = "/api/v1/admin/";

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, RefOr};
        for (path, item) in openapi.paths.paths.iter_mut() {
            let by_address = LIMITED_WITHOUT_BEARER.contains(&path.as_str());
            let by_principal = !path.starts_with(PLATFORM_PREFIX);
            for operation in operations(item) {
                if by_address || (by_principal && operation.security.is_some()) {
                    operation.responses.responses.insert(
                        "429".into(),
                        RefOr::Ref(Ref::from_response_name("TooManyRequests")),
                    );
                }
            }
        }
    }
}

/// Every operation that takes a body may answer 413: the body limit applies to all of them, and
/// a client generated from the document should know that answer as a typed error.
struct BodyLimits;

impl Modify for BodyLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, RefOr};
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                if operation.request_body.is_some() {
                    operation
                        .responses
                        .responses
                        .entry("413".into())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("PayloadTooLarge")));
                }
            }
        }
    }
}

/// Every write of an organization's data may answer 402: a create past a limit of the plan
/// (`quota-exceeded`), or any write while the organization is read-only for a lapsed
/// subscription (`subscription-inactive`). Billing itself, sign-in and sessions, and the
/// platform's operations stay open.
struct PaymentRequired;

/// Writes that only take away, open while read-only (and no create): method and path.
const ONLY_TAKE_AWAY: &[(&str, &str)] = &[
    ("delete", "/api/v1/members/me"),
    ("delete", "/api/v1/members/{user_id}"),
    ("delete", "/api/v1/organizations/current"),
];

const NOT_METERED: &[&str] = &[
    "/api/v1/auth/",
    "/api/v1/admin/",
    "/api/v1/billing/",
    "/api/v1/webhooks/",
    "/api/v1/users/me",
];

impl Modify for PaymentRequired {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, RefOr};
        for (path, item) in openapi.paths.paths.iter_mut() {
            if NOT_METERED.iter().any(|prefix| path.starts_with(prefix)) {
                continue;
            }
            let writes = [
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in writes {
                let Some(operation) = operation else { continue };
                if operation.security.is_none() || ONLY_TAKE_AWAY.contains(&(method, path.as_str()))
                {
                    continue;
                }
                operation
                    .responses
                    .responses
                    .entry("402".into())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name("PaymentRequired")));
            }
        }
    }
}

/// Marks every object without declared properties (settings, a run's input, an audit event's
/// changes) as free-form: `additionalProperties: true`. utoipa leaves it out, and a generated
/// client then types such an object as one that holds nothing (openapi-typescript makes it
/// `Record<string, never>`), so a typed client could neither send nor read what the server
/// accepts and sends.
struct FreeFormObjects;

fn free_form(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            let is_object = match &object.schema_type {
                SchemaType::Type(kind) => *kind == Type::Object,
                SchemaType::Array(kinds) => kinds.contains(&Type::Object),
                SchemaType::AnyValue => false,
            };
            if is_object && object.properties.is_empty() && object.additional_properties.is_none() {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
            }
            object.properties.values_mut().for_each(free_form);
            if let Some(extra) = object.additional_properties.as_deref_mut()
                && let AdditionalProperties::RefOr(inner) = extra
            {
                free_form(inner);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                free_form(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(free_form),
        Schema::AllOf(all) => all.items.iter_mut().for_each(free_form),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(free_form),
        _ => {}
    }
}

impl Modify for FreeFormObjects {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.values_mut().for_each(free_form);
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
                    for content in body.content.values_mut() {
                        if let RefOr::T(content) = content
                            && let Some(schema) = content.schema.as_mut()
                        {
                            free_form(schema);
                        }
                    }
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        for content in response.content.values_mut() {
                            if let RefOr::T(content) = content
                                && let Some(schema) = content.schema.as_mut()
                            {
                                free_form(schema);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Names every operation after its method and path (`get_projects_project_id`). utoipa takes
/// the handler's function name, and handlers of different resources share names (`list`,
/// `get`), while operation ids must be unique: client generators and tools that follow links
/// key operations by them.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let resource: Vec<String> = path
                .trim_start_matches("/api/v1")
                .split('/')
                .filter(|segment| !segment.is_empty())
                .map(|segment| {
                    segment
                        .trim_matches(|c| c == '{' || c == '}')
                        .replace(['-', '.'], "_")
                })
                .collect();
            for (method, operation) in [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ] {
                if let Some(operation) = operation {
                    let mut id = vec![method.to_owned()];
                    id.extend(resource.iter().cloned());
                    operation.operation_id = Some(id.join("_"));
                }
            }
        }
    }
}

/// The document as pretty-printed JSON, exactly as committed in `openapi/openapi.json`.
pub fn json() -> Result<String, serde_json::Error> {
    let mut text = ApiDoc::openapi().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
