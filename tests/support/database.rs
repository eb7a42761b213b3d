//! A fresh PostgreSQL database per test, migrated by the owner and dropped afterwards.

use super::*;

/// The superuser URL tests create their databases with.
pub fn admin_url() -> String {
    std::env::var("BULKHEAD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A PostgreSQL database of one test, migrated, dropped on drop.
pub struct TestDatabase {
    pub name: String,
    /// The owner's (superuser's) URL of this database.
    pub owner_url: String,
    /// The application role's URL of this database.
    pub app_url: String,
}

pub(crate) async fn connect_admin(url: &str) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await.unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {url}: {err}. `make test` starts one; otherwise set \
             BULKHEAD_TEST_DATABASE_URL to a superuser URL"
        )
    })
}

impl TestDatabase {
    /// Creates and migrates a fresh database.
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("bulkhead_test_{}", Uuid::now_v7().simple());
        let conn = connect_admin(&admin).await;
        conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        conn.close().await.unwrap();
        let mut owner = Url::parse(&admin).unwrap();
        owner.set_path(&format!("/{name}"));
        let mut app = owner.clone();
        app.set_username(bulkhead_migrations::APP_ROLE).unwrap();
        app.set_password(None).unwrap();
        bulkhead_server::migrate(owner.as_str()).await.unwrap();
        Self {
            name,
            owner_url: owner.to_string(),
            app_url: app.to_string(),
        }
    }

    /// A connection as the application role, for raw-SQL policy tests.
    pub async fn connect_as_app(&self) -> DatabaseConnection {
        connect_admin(&self.app_url).await
    }

    /// A connection to the server's admin database, as the superuser.
    pub async fn connect_admin_server() -> DatabaseConnection {
        connect_admin(&admin_url()).await
    }

    /// A connection as the owner.
    pub async fn connect_as_owner(&self) -> DatabaseConnection {
        connect_admin(&self.owner_url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; use a runtime of its own on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let conn = connect_admin(&admin_url()).await;
                let _ = conn
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}
