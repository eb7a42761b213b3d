//! The dependency arrows of DESIGN.md: the domain depends on no web or database crate, and the
//! api crate on no database crate, directly or transitively.

use std::process::Command;

fn normal_dependencies(package: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn crate_names(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

#[test]
fn the_domain_depends_on_no_web_or_database_crate() {
    let tree = normal_dependencies("bulkhead-domain");
    let names = crate_names(&tree);
    assert!(
        names.contains(&"uuid"),
        "cargo tree output looks wrong: {tree}"
    );
    for forbidden in [
        "actix-web",
        "sea-orm",
        "sqlx",
        "sqlx-core",
        "hyper",
        "jsonwebtoken",
        "bcrypt",
    ] {
        assert!(
            !names.contains(&forbidden),
            "bulkhead-domain depends on {forbidden}"
        );
    }
}

#[test]
fn the_api_depends_on_no_database_crate() {
    let tree = normal_dependencies("bulkhead-api");
    let names = crate_names(&tree);
    assert!(
        names.contains(&"actix-web"),
        "cargo tree output looks wrong: {tree}"
    );
    for forbidden in [
        "sea-orm",
        "sea-query",
        "sqlx",
        "sqlx-core",
        "bulkhead-infra",
    ] {
        assert!(
            !names.contains(&forbidden),
            "bulkhead-api depends on {forbidden}"
        );
    }
}
