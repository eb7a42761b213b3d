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
