//! The dependency arrows of DESIGN.md: the domain depends on no web or database crate, and the
//! api crate on no database crate, directly or transitively; and inside each crate, no modules
//! import each other in a circle.

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

/// The top-level modules of the crate whose sources are under `src`, each with the modules of
/// the same crate its production code names (`crate::x`, `crate::{x, y}`). Test modules at the
/// end of a file and `mocks.rs` files are test code and do not count.
fn module_imports(src: &std::path::Path) -> std::collections::BTreeMap<String, Vec<String>> {
    fn visit(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable source folder") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                visit(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    visit(src, &mut files);
    let mut graph: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in files {
        let relative = file.strip_prefix(src).expect("below src");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a file name")
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" || file.ends_with("mocks.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let mut named = Vec::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                if let Some(list) = rest.strip_prefix('{') {
                    let list = list.split('}').next().unwrap_or_default();
                    named.extend(
                        list.split(',')
                            .map(|m| m.trim().split("::").next().unwrap_or_default().to_owned()),
                    );
                } else {
                    named.push(
                        rest.chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect(),
                    );
                }
            }
        }
        let imports = graph.entry(top.clone()).or_default();
        imports.extend(named.into_iter().filter(|m| !m.is_empty() && *m != top));
    }
    graph
}

/// A cycle among `graph`'s modules, if there is one.
fn a_cycle(graph: &std::collections::BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn walk(
        module: &str,
        graph: &std::collections::BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = walk(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = Default::default();
    graph
        .keys()
        .find_map(|module| walk(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_modules_that_import_each_other_in_a_circle() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for src in [
        "crates/domain/src",
        "crates/infra/src",
        "crates/api/src",
        "crates/server/src",
        "migrations/src",
    ] {
        let graph = module_imports(&root.join(src));
        assert!(graph.len() > 3, "{src}: no modules found");
        if let Some(cycle) = a_cycle(&graph) {
            panic!(
                "{src}: modules import each other in a circle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let graph = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(m, i)| (m.to_owned(), i.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        a_cycle(&graph).map(|c| c.join(" -> ")),
        Some("a -> b -> c -> a".to_owned())
    );
}
