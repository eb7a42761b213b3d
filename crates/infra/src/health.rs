//! Readiness: does the database answer?

use async_trait::async_trait;
use bulkhead_domain::health::HealthProbe;
use bulkhead_domain::{DomainError, DomainResult};

use crate::store::Store;

#[async_trait]
impl HealthProbe for Store {
    async fn ready(&self) -> DomainResult<()> {
        self.connection()
            .ping()
            .await
            .map_err(|e| DomainError::Unavailable(e.to_string()))
    }
}
