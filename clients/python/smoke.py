"""What an integrator does first, through the Python client generated from the committed
document (openapi-python-client): sign up, create a project, list it, change the organization's
free-form settings, read them back in the audit trail, and meet a 404 and a 422 problem as typed
errors. A document change that breaks the generated client (a renamed operation or model, a
free-form object the client cannot carry) fails here.

Usage: python smoke.py http://127.0.0.1:PORT (with the generated package on sys.path).
"""

import sys
import time

from bulkhead_client import AuthenticatedClient, Client
from bulkhead_client.api.audit import get_audit_events
from bulkhead_client.api.auth import post_auth_register
from bulkhead_client.api.organizations import patch_organizations_current
from bulkhead_client.api.projects import get_projects, get_projects_project_id, post_projects
from bulkhead_client.models import (
    CreateProjectRequest,
    PageBodyAuditEventBody,
    PageBodyProjectBody,
    Problem,
    ProjectBody,
    RegisterRequest,
    RegisterResponse,
    UpdateOrganizationRequest,
    UpdateOrganizationRequestSettings,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main(base: str) -> None:
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    registered = expect(
        post_auth_register.sync(
            client=anonymous,
            body=RegisterRequest(
                email=f"py-{time.time_ns()}@example.com",
                password="correct horse battery",
                name="Py",
                organization_name="Py Ltd",
            ),
        ),
        RegisterResponse,
        "register",
    )
    client = AuthenticatedClient(
        base_url=base, token=registered.access_token, raise_on_unexpected_status=True
    )

    project = expect(
        post_projects.sync(client=client, body=CreateProjectRequest(name="Apollo")),
        ProjectBody,
        "create",
    )
    listed = expect(get_projects.sync(client=client, limit=10), PageBodyProjectBody, "list")
    if listed.total != 1 or not any(p.id == project.id for p in listed.data):
        raise SystemExit(f"the new project is not listed: {listed}")

    settings = UpdateOrganizationRequestSettings.from_dict({"theme": "dark"})
    updated = patch_organizations_current.sync(
        client=client, body=UpdateOrganizationRequest(settings=settings)
    )
    if isinstance(updated, Problem) or updated is None:
        raise SystemExit(f"settings: {updated}")
    if updated.settings.additional_properties.get("theme") != "dark":
        raise SystemExit(f"the setting did not stick: {updated}")
    audit = expect(
        get_audit_events.sync(client=client, action="organization.updated"),
        PageBodyAuditEventBody,
        "audit",
    )
    changes = audit.data[0].changes
    if changes is None or "before" not in changes.additional_properties:
        raise SystemExit(f"no changes.before: {audit}")

    missing = get_projects_project_id.sync(
        client=client, project_id="00000000-0000-7000-8000-000000000000"
    )
    missing = expect(missing, Problem, "a missing project")
    if missing.status != 404 or missing.type_ != "urn:bulkhead:problem:not-found":
        raise SystemExit(f"404: {missing}")

    invalid = expect(
        post_projects.sync(client=client, body=CreateProjectRequest(name="")),
        Problem,
        "an empty name",
    )
    if invalid.status != 422 or invalid.type_ != "urn:bulkhead:problem:validation":
        raise SystemExit(f"422: {invalid}")
    if not any(field.field == "name" for field in invalid.errors or []):
        raise SystemExit(f"the 422 does not name the field: {invalid}")

    print("python client: register, create, list, settings, audit, 404 and 422 as typed problems: ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
