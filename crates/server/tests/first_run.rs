//! A newcomer's first `make run`: the server starts on the default SQLite store and every
//! warning it prints before it says where it listens tells them what to set or use.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The development key `make run` seals secrets with.
const DEV_SECRETS_KEY: &str =
    "dev:6465762d6f6e6c792d6b65792d6e6f742d666f722d70726f64756374696f6e21";

#[test]
fn a_first_run_warns_only_about_what_a_newcomer_can_act_on() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    // As `make run` starts it: the default database URL, in a fresh directory.
    let mut server = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args([
            "serve",
            "--ephemeral-jwt-secret",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("BULKHEAD_SECRETS_KEY", DEV_SECRETS_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the bulkhead binary runs");
    let (lines, received) = mpsc::channel();
    for output in [
        server
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        server
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let mut before = Vec::new();
    let listening = loop {
        match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("Bulkhead listening on") => break Some(line),
            Ok(line) => before.push(line),
            Err(_) => break None,
        }
    };
    let _ = server.kill();
    let _ = server.wait();
    let listening = listening.unwrap_or_else(|| panic!("the server did not start: {before:#?}"));
    assert!(listening.contains("/docs/"), "{listening}");
    let warnings: Vec<&String> = before.iter().filter(|l| l.contains("WARN")).collect();
    assert!(
        !warnings.is_empty(),
        "the development defaults are announced"
    );
    for warning in warnings {
        assert!(
            !warning.contains("unrecognized"),
            "a warning nobody can act on: {warning}"
        );
        assert!(
            warning.contains("BULKHEAD_") || warning.contains("Use PostgreSQL"),
            "a warning that does not say what to set or use: {warning}"
        );
    }
}

#[test]
fn a_bad_plans_file_stops_the_server_with_its_reason() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (contents, reason) in [
        (
            r#"[{"name": "pro", "limits": {"projects": -1}}]"#,
            "negative limit",
        ),
        (
            r#"[{"name": "pro", "limits": {"seats": 3}}]"#,
            "unknown field",
        ),
        (r#"[{"name": "Pro Plan"}]"#, "must be 1-40"),
    ] {
        let plans = dir.path().join("plans.json");
        std::fs::write(&plans, contents).expect("the file is written");
        let output = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(["serve", "--ephemeral-jwt-secret", "--bind", "127.0.0.1:0"])
            .arg("--billing-plans")
            .arg(&plans)
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .output()
            .expect("the bulkhead binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "started with {contents}");
        assert!(
            stderr.contains("--billing-plans") && stderr.contains(reason),
            "{contents}: {stderr}"
        );
    }
}
