//! Sign-up: a new organization with its first owner, signed in.

use super::model::Registered;
use super::service::{AuthService, Register};

use crate::accounts::TokenPurpose;
use crate::accounts::model::token_email;
use crate::error::{DomainResult, Validator};
use crate::ids::{OrganizationId, UserId};
use crate::limits::{address_key, enforce};
use crate::memberships::Membership;
use crate::organizations::{Organization, OrganizationName, Registration};
use crate::scope::{Grant, RequestMeta, Role, TenantScope};
use crate::secret::Secret;
use crate::sessions::{NewSession, REFRESH_TOKEN_PREFIX, Session};
use crate::users::{Email, Password, User, UserName};

impl AuthService {
    /// Creates an organization with the new user as its owner, and signs the user in.
    /// An email that is already registered is a [`crate::DomainError::Conflict`].
    pub async fn register(
        &self,
        input: Register,
        request: RequestMeta,
    ) -> DomainResult<Registered> {
        let address = address_key("auth", request.client_ip.as_deref());
        enforce(&*self.limiter, &address, self.limits.auth_per_address).await?;
        let mut v = Validator::new();
        let email = v.check(Email::parse(&input.email));
        let password = match &email {
            Some(email) => v.check(Password::parse_new("password", &input.password, email)),
            None => v.check(Password::parse("password", &input.password)),
        };
        let name = v.check(UserName::parse(&input.name));
        let organization_name = v.check(OrganizationName::parse(
            "organization_name",
            &input.organization_name,
        ));
        let (email, password, name, organization_name) =
            v.values((email, password, name, organization_name))?;

        let password_hash = self.hasher.hash(&password).await?;
        let now = crate::now();
        let organization = Organization {
            id: OrganizationId::new(),
            name: organization_name,
            created_at: now,
            settings: Default::default(),
        };
        let user = User {
            id: UserId::new(),
            email,
            name,
            created_at: now,
            email_verified_at: None,
        };
        let membership = Membership {
            organization_id: organization.id,
            user_id: user.id,
            role: Role::Owner.into(),
            created_at: now,
        };
        let session = Session::start(user.id, organization.id, self.policy, &request);
        let refresh = Secret::generate(REFRESH_TOKEN_PREFIX);
        let verification = token_email(&user, TokenPurpose::EmailVerification, &self.settings);
        let registration = Registration {
            organization,
            user,
            password_hash,
            membership,
            session: NewSession {
                session,
                refresh: refresh.digest(),
            },
            verification,
        };
        let scope = TenantScope::authenticated(
            registration.organization.id,
            registration.user.id,
            Grant::system(Role::Owner),
        )
        .with_request(request);
        self.organizations.register(&scope, &registration).await?;
        let tokens = self.issue(&registration.session.session, refresh)?;
        Ok(Registered {
            user: registration.user,
            organization: registration.organization,
            role: Role::Owner,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainError;
    use crate::auth::mocks::*;

    use crate::scope::RoleRef;

    use crate::users::PasswordHash;

    use crate::scope::Role;

    fn register_input() -> Register {
        Register {
            email: "Ada@Example.com".into(),
            password: "correct horse battery".into(),
            name: "Ada".into(),
            organization_name: "Analytical Engines".into(),
        }
    }

    #[tokio::test]
    async fn register_stores_org_user_and_owner_membership_together() {
        let mut m = Mocks::default();
        m.hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok(PasswordHash::new("$2b$hash".into())));
        m.organizations
            .expect_register()
            .withf(|scope, r| {
                scope.organization_id() == r.organization.id
                    && r.membership.role == RoleRef::OWNER
                    && r.membership.organization_id == r.organization.id
                    && r.membership.user_id == r.user.id
                    && r.user.email.as_str() == "ada@example.com"
                    && r.session.session.user_id == r.user.id
                    && r.session.session.organization_id == r.organization.id
            })
            .times(1)
            .returning(|_, _| Ok(()));
        m.tokens.expect_issue().times(1).returning(|_| Ok(token()));
        let registered = m
            .service()
            .register(register_input(), RequestMeta::default())
            .await
            .expect("registered");
        assert_eq!(registered.role, Role::Owner);
        assert_eq!(registered.organization.name.as_str(), "Analytical Engines");
    }

    #[tokio::test]
    async fn register_rejects_bad_input_without_hashing_or_storing() {
        let mut m = Mocks::default();
        m.hasher.expect_hash().never();
        m.organizations.expect_register().never();
        let input = Register {
            email: "nope".into(),
            password: "é".repeat(40),
            name: String::new(),
            organization_name: String::new(),
        };
        let Err(DomainError::Validation(errors)) =
            m.service().register(input, RequestMeta::default()).await
        else {
            panic!("expected validation errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "name", "organization_name"]);
    }

    #[tokio::test]
    async fn register_rejects_the_email_as_password() {
        let m = Mocks::default();
        let input = Register {
            password: "ada@example.com".into(),
            ..register_input()
        };
        let Err(DomainError::Validation(errors)) =
            m.service().register(input, RequestMeta::default()).await
        else {
            panic!("expected validation errors")
        };
        assert_eq!(errors[0].code, "equals_email");
    }
}
