//! A PostgreSQL server of one test's own, on a free port and a temporary directory: for tests
//! that stop and start the database itself, which the shared server must never be.

use std::path::PathBuf;
use std::process::Command;

use super::*;

/// A private PostgreSQL cluster, stopped and removed on drop.
pub struct OwnedPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    /// Run as this user (PostgreSQL refuses to run as root).
    user: Option<&'static str>,
}

impl OwnedPostgres {
    /// Creates the cluster (trust authentication, superuser `postgres`) and starts it.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|version| version.path().join("bin"))
            .find(|bin| bin.join("initdb").is_file())
            .expect("no PostgreSQL server binaries under /usr/lib/postgresql (initdb)");
        let root = Command::new("id").arg("-u").output().unwrap();
        let user = (String::from_utf8_lossy(&root.stdout).trim() == "0").then_some("postgres");
        let dir = tempfile::tempdir().unwrap();
        if let Some(user) = user {
            // The server's user must reach its directory and own its data.
            let owned = Command::new("chown")
                .args([&format!("{user}:"), &dir.path().display().to_string()])
                .status()
                .unwrap();
            assert!(
                owned.success(),
                "cannot give the cluster's directory to {user}"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            bin,
            dir,
            port,
            user,
        };
        let data = cluster.data().display().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.resume();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the server's programs, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", data.as_str(), "-w"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Starts the stopped server (waiting until it accepts connections).
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg_ctl(&["-o", &options, "-l", &log, "start"]);
    }

    /// Stops the server, ending every connection (`pg_ctl stop -m fast`).
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    /// The superuser's URL of `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates database `name`, migrates it as the owner, and answers the application
    /// role's URL of it.
    pub async fn migrated(&self, name: &str) -> String {
        let admin = crate::database::connect_admin(&self.url("postgres")).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        admin.close().await.unwrap();
        bulkhead_server::migrate(&self.url(name)).await.unwrap();
        let mut app = Url::parse(&self.url(name)).unwrap();
        app.set_username(bulkhead_migrations::APP_ROLE).unwrap();
        app.to_string()
    }
}

impl Drop for OwnedPostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
