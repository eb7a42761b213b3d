//! The committed `openapi/openapi.json` is exactly what the binary prints.

use std::process::Command;

#[test]
fn committed_openapi_document_matches_the_binary() {
    let output = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .arg("openapi")
        .output()
        .expect("the bulkhead binary runs");
    assert!(
        output.status.success(),
        "bulkhead openapi failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = String::from_utf8(output.stdout).expect("UTF-8");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/openapi.json is stale; regenerate it with `make openapi` and commit it"
    );
    let document: serde_json::Value = serde_json::from_str(&generated).expect("valid JSON");
    assert_eq!(
        document["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
}

/// What an operation without a catalogue permission asks of its caller.
const NON_PERMISSIONS: &[&str] = &[
    "none",
    "authenticated",
    "user",
    "refresh token",
    "reset token",
    "verification token",
    "invitation token",
    "superuser",
    "stripe signature",
];

#[test]
fn every_operation_declares_the_permission_it_needs() {
    let document: serde_json::Value =
        serde_json::from_str(&bulkhead_api::openapi::json().expect("serializes")).expect("JSON");
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let name = format!("{} {path}", method.to_uppercase());
            let permission = operation["x-permission"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} declares no x-permission"));
            let responses = &operation["responses"];
            match bulkhead_domain::Permission::parse(permission) {
                // Lacking a permission inside one's own organization is a documented 403.
                Some(_) => assert!(
                    responses.get("403").is_some(),
                    "{name} needs {permission} but documents no 403"
                ),
                None => assert!(
                    NON_PERMISSIONS.contains(&permission),
                    "{name}: {permission:?} is neither a permission nor a known requirement"
                ),
            }
            // Whatever needs a bearer credential documents 401.
            if operation.get("security").is_some() {
                assert!(responses.get("401").is_some(), "{name} documents no 401");
            }
            checked += 1;
        }
    }
    assert!(checked >= 48, "only {checked} operations");
}

#[test]
fn operation_ids_are_unique() {
    let document: serde_json::Value =
        serde_json::from_str(&bulkhead_api::openapi::json().expect("serializes")).expect("JSON");
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(id) = operation.get("operationId").and_then(|id| id.as_str()) else {
                continue;
            };
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("{id} names both {other} and {method} {path}");
            }
        }
    }
    assert!(seen.contains_key("get_projects_project_id"));
}

#[test]
fn key_scopes_are_the_catalogues_permissions_a_key_may_hold() {
    let document: serde_json::Value =
        serde_json::from_str(&bulkhead_api::openapi::json().expect("serializes")).expect("JSON");
    let listed: Vec<&str> = document["components"]["schemas"]["KeyScope"]["enum"]
        .as_array()
        .expect("KeyScope is a string enum")
        .iter()
        .map(|v| v.as_str().expect("a name"))
        .collect();
    let expected: Vec<&str> = bulkhead_domain::Permission::ALL
        .iter()
        .filter(|p| p.for_keys())
        .map(|p| p.as_str())
        .collect();
    assert_eq!(listed, expected);
    assert!(!listed.contains(&"api_keys:manage"));
}

/// Objects a typed client must be able to fill and read: every object schema either declares
/// its properties or says what else it holds. Without `additionalProperties`, generators type a
/// free-form object (settings, an audit event's changes) as one that holds nothing.
#[test]
fn every_object_declares_its_properties_or_is_free_form() {
    fn walk(node: &serde_json::Value, at: &str, found: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => {
                let object = match map.get("type") {
                    Some(serde_json::Value::String(kind)) => kind == "object",
                    Some(serde_json::Value::Array(kinds)) => kinds.iter().any(|k| k == "object"),
                    _ => false,
                };
                if object
                    && !map.contains_key("properties")
                    && !map.contains_key("additionalProperties")
                {
                    found.push(at.to_owned());
                }
                for (key, value) in map {
                    walk(value, &format!("{at}/{key}"), found);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    walk(value, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let document: serde_json::Value =
        serde_json::from_str(&bulkhead_api::openapi::json().expect("serializes")).expect("JSON");
    let mut found = Vec::new();
    walk(&document, "", &mut found);
    assert!(found.is_empty(), "objects that hold nothing: {found:#?}");
    let settings =
        &document["components"]["schemas"]["UpdateOrganizationRequest"]["properties"]["settings"];
    assert_eq!(settings["additionalProperties"], true, "{settings}");
}

/// Every operation that takes a body documents 413: the body limit applies to each of them.
#[test]
fn every_operation_with_a_body_documents_413() {
    let document: serde_json::Value =
        serde_json::from_str(&bulkhead_api::openapi::json().expect("serializes")).expect("JSON");
    let mut with_body = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if operation.get("requestBody").is_some() {
                with_body += 1;
                assert!(
                    operation["responses"].get("413").is_some(),
                    "{} {path} takes a body but documents no 413",
                    method.to_uppercase()
                );
            }
        }
    }
    assert!(with_body >= 30, "only {with_body} operations take a body");
}
