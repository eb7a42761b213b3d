//! API keys: long-lived credentials with which machines act inside one organization, holding
//! only the permissions (scopes) given to the key.

pub mod model;
pub mod port;
pub mod service;

pub use model::{
    API_KEY_PREFIX, ApiKey, ApiKeyName, CreateApiKey, IssuedApiKey, NewApiKey, ResolvedKey,
    Revocation,
};
pub use port::ApiKeyRepository;
#[cfg(any(test, feature = "mock"))]
pub use port::MockApiKeyRepository;
pub use service::ApiKeyService;
