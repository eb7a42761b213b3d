// What an integrator does first, through the typed client generated from the committed
// document: sign up, create a project, list it, change the organization's free-form settings,
// read them back in the audit trail, and meet a 404 and a 422 problem as typed errors.
// `tsc` checks this file against the generated types, so a document change that breaks the
// client (a renamed operation, a free-form object typed as empty) fails before it runs.
import createClient from "openapi-fetch";
import type { components, paths } from "../generated/schema.js";

type Problem = components["schemas"]["Problem"];

const base = process.argv[2];
if (!base) {
  throw new Error("usage: node dist/src/smoke.js http://127.0.0.1:PORT");
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new Error(message);
  }
}

function isProblem(error: unknown, status: number, kind: string): error is Problem {
  const problem = error as Problem | undefined;
  return problem?.status === status && problem.type === `urn:bulkhead:problem:${kind}`;
}

const anonymous = createClient<paths>({ baseUrl: base });
const email = `ts-${Date.now()}@example.com`;
const registered = await anonymous.POST("/api/v1/auth/register", {
  body: { email, password: "correct horse battery", name: "TS", organization_name: "TS Ltd" },
});
check(registered.data, `register: ${JSON.stringify(registered.error)}`);
const client = createClient<paths>({
  baseUrl: base,
  headers: { Authorization: `Bearer ${registered.data.access_token}` },
});

const created = await client.POST("/api/v1/projects", { body: { name: "Apollo" } });
check(created.data, `create: ${JSON.stringify(created.error)}`);
const project: components["schemas"]["ProjectBody"] = created.data;

const listed = await client.GET("/api/v1/projects", { params: { query: { limit: 10 } } });
check(listed.data, `list: ${JSON.stringify(listed.error)}`);
check(
  listed.data.data.some((p) => p.id === project.id) && listed.data.total === 1,
  `the new project is not listed: ${JSON.stringify(listed.data)}`,
);

const updated = await client.PATCH("/api/v1/organizations/current", {
  body: { settings: { theme: "dark" } },
});
check(updated.data, `settings: ${JSON.stringify(updated.error)}`);
check(updated.data.settings["theme"] === "dark", "the setting did not stick");
const audit = await client.GET("/api/v1/audit-events", {
  params: { query: { action: "organization.updated" } },
});
check(audit.data, `audit: ${JSON.stringify(audit.error)}`);
const changes = audit.data.data[0]?.changes;
check(changes && "before" in changes, `no changes.before: ${JSON.stringify(audit.data)}`);

const missing = await client.GET("/api/v1/projects/{project_id}", {
  params: { path: { project_id: "00000000-0000-7000-8000-000000000000" } },
});
check(missing.data === undefined, "a missing project was found");
check(isProblem(missing.error, 404, "not-found"), `404: ${JSON.stringify(missing.error)}`);

const invalid = await client.POST("/api/v1/projects", { body: { name: "" } });
check(invalid.data === undefined, "an empty name was accepted");
check(isProblem(invalid.error, 422, "validation"), `422: ${JSON.stringify(invalid.error)}`);
check(
  invalid.error.errors?.some((field) => field.field === "name") ?? false,
  `the 422 does not name the field: ${JSON.stringify(invalid.error)}`,
);

console.log("typescript client: register, create, list, settings, audit, 404 and 422 as typed problems: ok");
