//! Invitations in SQL.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::invitations::{Invitation, InvitationRepository, Joining};
use bulkhead_domain::outbox::OutgoingEmail;
use bulkhead_domain::page::{Page, PageRequest};
use bulkhead_domain::secret::SecretDigest;
use bulkhead_domain::users::Email;
use bulkhead_domain::{
    DomainError, DomainResult, InvitationId, OrganizationId, TenantScope, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::error::{conflict_on_key, conflict_or_domain, corrupt, to_domain};
use crate::store::Store;
use crate::tx::OrgTx;
use crate::{memberships, users};

use crate::entities::invitations as entity;

use entity::{Column, Entity};

/// Stores a pending invitation inside `txn`.
pub(crate) async fn insert(
    txn: &DatabaseTransaction,
    invitation: &Invitation,
    digest: &SecretDigest,
) -> DomainResult<()> {
    let (role, role_id) = crate::tenant::role_columns(invitation.role);
    entity::ActiveModel {
        organization_id: Set(invitation.organization_id.as_uuid()),
        id: Set(invitation.id.as_uuid()),
        email: Set(invitation.email.as_str().to_owned()),
        role: Set(role),
        role_id: Set(role_id),
        token_digest: Set(digest.as_str().to_owned()),
        invited_by: Set(invitation.invited_by.as_uuid()),
        created_at: Set(invitation.created_at),
        expires_at: Set(invitation.expires_at),
        accepted_at: Set(None),
        accepted_by: Set(None),
        revoked_at: Set(None),
    }
    .insert(txn)
    .await
    .map_err(conflict_on_key("the role was deleted meanwhile"))?;
    Ok(())
}

impl TryFrom<entity::Model> for Invitation {
    type Error = DomainError;

    fn try_from(row: entity::Model) -> DomainResult<Self> {
        Ok(Invitation {
            id: InvitationId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            email: Email::parse(&row.email).map_err(corrupt("invitation email"))?,
            role: crate::tenant::role_ref(&row.role, row.role_id)?,
            invited_by: UserId::from_uuid(row.invited_by),
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

/// Invitations still usable at `now`.
fn pending(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::AcceptedAt.is_null())
        .add(Column::RevokedAt.is_null())
        .add(Column::ExpiresAt.gt(now))
}

fn invalid_token() -> DomainError {
    DomainError::invalid(
        "token",
        "invalid",
        "the invitation is invalid, used or expired",
    )
}

/// Opens the one invitation with this digest to reads in `txn` (PostgreSQL's policy checks the
/// setting; SQLite has no policies).
async fn name_digest(txn: &DatabaseTransaction, digest: &SecretDigest) -> DomainResult<()> {
    crate::tx::set_local(txn, "app.invitation_digest", digest.as_str()).await
}

/// [`InvitationRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlInvitationRepository {
    store: Store,
}

impl SqlInvitationRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl InvitationRepository for SqlInvitationRepository {
    async fn create(
        &self,
        scope: &TenantScope,
        invitation: &Invitation,
        digest: &SecretDigest,
        email: &OutgoingEmail,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        // Early word for the inviter; accepting checks again, exactly.
        crate::quotas::admit(
            &tx,
            &self.store,
            scope.organization_id(),
            bulkhead_domain::Quota::Members,
            1,
        )
        .await?;
        let invitee = crate::entities::users::Entity::find()
            .filter(crate::entities::users::Column::Email.eq(invitation.email.as_str()))
            .one(&*tx)
            .await
            .map_err(to_domain)?;
        if let Some(invitee) = invitee {
            let already = crate::entities::memberships::Entity::find()
                .filter(
                    crate::entities::memberships::Column::OrganizationId
                        .eq(scope.organization_id().as_uuid()),
                )
                .filter(crate::entities::memberships::Column::UserId.eq(invitee.id))
                .count(&*tx)
                .await
                .map_err(to_domain)?;
            if already > 0 {
                return Err(DomainError::Conflict(
                    "this address already belongs to a member".into(),
                ));
            }
        }
        insert(&tx, invitation, digest).await?;
        crate::outbox::enqueue(&*tx, self.store.keyring(), email).await?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn list(&self, scope: &TenantScope, page: PageRequest) -> DomainResult<Page<Invitation>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let select = Entity::find()
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(pending(bulkhead_domain::now()));
        let page = crate::paging::page_of(
            &tx,
            select,
            |s| s.order_by_desc(Column::CreatedAt).order_by_desc(Column::Id),
            page,
        )
        .await?;
        tx.finish_read().await?;
        Ok(page)
    }

    async fn revoke(
        &self,
        scope: &TenantScope,
        id: InvitationId,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        let revoked = Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(bulkhead_domain::now()))
            .filter(Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(pending(bulkhead_domain::now()))
            .exec(&*tx)
            .await
            .map_err(to_domain)?
            .rows_affected;
        if revoked == 0 {
            return Err(DomainError::NotFound);
        }
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn find_pending(&self, digest: &SecretDigest) -> DomainResult<Option<Invitation>> {
        let txn = self.store.begin().await.map_err(to_domain)?;
        name_digest(&txn, digest).await?;
        let row = Entity::find()
            .filter(Column::TokenDigest.eq(digest.as_str()))
            .filter(pending(bulkhead_domain::now()))
            .one(&txn)
            .await
            .map_err(to_domain)?;
        txn.commit().await.map_err(to_domain)?;
        row.map(Invitation::try_from).transpose()
    }

    async fn accept(
        &self,
        scope: &TenantScope,
        digest: &SecretDigest,
        joining: &Joining,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let org = scope.organization_id();
        let user = scope.require_user()?;
        // The joining user is not a member yet: enter the tenant without the membership check.
        let tx = OrgTx::begin_for_new_tenant(&self.store, scope).await?;
        name_digest(&tx, digest).await?;
        let now = bulkhead_domain::now();
        let invitation = Entity::find()
            .filter(Column::OrganizationId.eq(org.as_uuid()))
            .filter(Column::TokenDigest.eq(digest.as_str()))
            .filter(pending(now))
            .lock_exclusive()
            .one(&*tx)
            .await
            .map_err(to_domain)?
            .ok_or_else(invalid_token)?;
        if let Joining::New {
            user: new,
            password_hash,
        } = joining
        {
            users::new_row(new, password_hash)
                .insert(&*tx)
                .await
                .map_err(conflict_or_domain(
                    "an account with this email already exists; accept again to join with it",
                ))?;
        }
        let role = crate::tenant::role_ref(&invitation.role, invitation.role_id)?;
        crate::quotas::admit(&tx, &self.store, org, bulkhead_domain::Quota::Members, 1).await?;
        memberships::insert(&tx, org, user, role, now)
            .await
            .map_err(conflict_or_domain(
                "you are already a member of this organization",
            ))?;
        Entity::update_many()
            .col_expr(Column::AcceptedAt, Expr::value(now))
            .col_expr(Column::AcceptedBy, Expr::value(user.as_uuid()))
            .filter(Column::OrganizationId.eq(org.as_uuid()))
            .filter(Column::Id.eq(invitation.id))
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }
}
