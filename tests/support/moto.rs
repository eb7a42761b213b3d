//! A real S3-compatible server for the S3 adapter's tests: moto's, from PyPI, installed on first
//! use into a virtualenv kept beside the compiled dependencies (so CI installs it once), and
//! started on a free port for the test that asks. It fails, never skips, when it cannot start.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::*;

/// The moto version the tests run against.
const VERSION: &str = "5.2.5";

/// A running moto S3 server; stopped when dropped.
pub struct Moto {
    pub port: u16,
    child: Child,
    client: Client,
}

fn venv() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/bulkhead/moto-venv"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv"),
    }
}

fn run(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

/// Installs moto if needed and starts its server.
pub async fn start() -> Moto {
    let venv = venv();
    let server = venv.join("bin/moto_server");
    if !server.exists() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        );
        run(
            Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                &format!("moto[server]=={VERSION}"),
            ]),
            "pip install moto[server]",
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", server.display()));
    let moto = Moto {
        port,
        child,
        client: Client::new(),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while moto.client.get(moto.url("/")).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "moto did not answer on port {port} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    moto
}

impl Moto {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, name: &str) {
        let reply = self
            .client
            .put(self.url(&format!("/{name}")))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success(), "{}", reply.status());
    }

    /// The keys in a bucket, sorted.
    pub async fn list(&self, bucket: &str) -> Vec<String> {
        let body = self
            .client
            .get(self.url(&format!("/{bucket}?list-type=2")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut keys: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
