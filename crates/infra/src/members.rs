//! Members of an organization in SQL, with the last-owner rule enforced under row locks.

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::members::{Member, MemberQuery, MemberRepository};
use bulkhead_domain::page::Page;
use bulkhead_domain::users::{Email, User, UserName};
use bulkhead_domain::{ApiKeyId, DomainError, DomainResult, Role, RoleRef, TenantScope, UserId};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect,
};
use uuid::Uuid;

use crate::entities::memberships as membership;
use crate::error::{corrupt, to_domain};
use crate::store::Store;
use crate::tx::OrgTx;

/// The member columns of `memberships m JOIN users u`, filtered to the scope's organization.
fn members_of(scope: &TenantScope) -> SelectStatement {
    let (m, u) = (Alias::new("m"), Alias::new("u"));
    Query::select()
        .from_as(Alias::new("memberships"), m.clone())
        .join_as(
            JoinType::InnerJoin,
            Alias::new("users"),
            u.clone(),
            Expr::col((u.clone(), Alias::new("id"))).equals((m.clone(), Alias::new("user_id"))),
        )
        .and_where(
            Expr::col((m, Alias::new("organization_id"))).eq(scope.organization_id().as_uuid()),
        )
        .to_owned()
}

fn member_columns(select: &mut SelectStatement) {
    let (m, u) = (Alias::new("m"), Alias::new("u"));
    for column in ["id", "email", "name", "created_at", "email_verified_at"] {
        select.column((u.clone(), Alias::new(column)));
    }
    select.column((m.clone(), Alias::new("role")));
    select.column((m.clone(), Alias::new("role_id"))).expr_as(
        Expr::col((m, Alias::new("created_at"))),
        Alias::new("joined_at"),
    );
}

fn to_member(row: &QueryResult) -> DomainResult<Member> {
    let get_err = |e| DomainError::Internal(format!("member row: {e}"));
    let user = User {
        id: UserId::from_uuid(row.try_get::<Uuid>("", "id").map_err(get_err)?),
        email: Email::parse(&row.try_get::<String>("", "email").map_err(get_err)?)
            .map_err(corrupt("user email"))?,
        name: UserName::parse(&row.try_get::<String>("", "name").map_err(get_err)?)
            .map_err(corrupt("user name"))?,
        created_at: row.try_get("", "created_at").map_err(get_err)?,
        email_verified_at: row.try_get("", "email_verified_at").map_err(get_err)?,
    };
    Ok(Member {
        user,
        role: crate::tenant::role_ref(
            &row.try_get::<String>("", "role").map_err(get_err)?,
            row.try_get::<Option<Uuid>>("", "role_id")
                .map_err(get_err)?,
        )?,
        joined_at: row.try_get("", "joined_at").map_err(get_err)?,
    })
}

async fn fetch_one(tx: &OrgTx, scope: &TenantScope, user: UserId) -> DomainResult<Member> {
    let mut select = members_of(scope);
    member_columns(&mut select);
    select.and_where(Expr::col((Alias::new("m"), Alias::new("user_id"))).eq(user.as_uuid()));
    let statement = tx.get_database_backend().build(&select);
    let row = tx
        .query_one_raw(statement)
        .await
        .map_err(to_domain)?
        .ok_or(DomainError::NotFound)?;
    to_member(&row)
}

/// Locks the organization's owners (in a fixed order, so concurrent changes queue instead of
/// deadlocking) and answers how many there are. A waiting transaction re-reads the rows when
/// it gets the locks, so it counts the owners left after the one before it committed.
async fn lock_owners(txn: &DatabaseTransaction, scope: &TenantScope) -> DomainResult<usize> {
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(scope.organization_id().as_uuid()))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .order_by_asc(membership::Column::UserId)
        .lock_exclusive()
        .all(txn)
        .await
        .map_err(to_domain)
        .map(|rows| rows.len())
}

/// Locks the member's row and checks it still has the role the caller decided on; taking an
/// owner's ownership also needs another owner to remain.
async fn lock_target(
    txn: &DatabaseTransaction,
    scope: &TenantScope,
    user: UserId,
    current: RoleRef,
    stays_owner: bool,
) -> DomainResult<()> {
    let owners = if current == RoleRef::OWNER {
        lock_owners(txn, scope).await?
    } else {
        0
    };
    let row = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(scope.organization_id().as_uuid()))
        .filter(membership::Column::UserId.eq(user.as_uuid()))
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(to_domain)?
        .ok_or(DomainError::NotFound)?;
    if crate::tenant::role_ref(&row.role, row.role_id)? != current {
        return Err(DomainError::Conflict(
            "the member's role changed meanwhile; read it again".into(),
        ));
    }
    if current == RoleRef::OWNER && !stays_owner && owners <= 1 {
        return Err(DomainError::Conflict(
            "the organization must keep at least one owner".into(),
        ));
    }
    Ok(())
}

/// [`MemberRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlMemberRepository {
    store: Store,
}

impl SqlMemberRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl MemberRepository for SqlMemberRepository {
    async fn list(&self, scope: &TenantScope, query: MemberQuery) -> DomainResult<Page<Member>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let (m, u) = (Alias::new("m"), Alias::new("u"));
        let mut filtered = members_of(scope);
        if let Some(role) = query.role {
            let (name, id) = crate::tenant::role_columns(role);
            filtered.and_where(match id {
                Some(id) => Expr::col((m.clone(), Alias::new("role_id"))).eq(id),
                None => Expr::col((m.clone(), Alias::new("role")))
                    .eq(name)
                    .and(Expr::col((m.clone(), Alias::new("role_id"))).is_null()),
            });
        }
        if let Some(q) = &query.q {
            let pattern = crate::resources::contains_pattern(q);
            filtered.cond_where(
                Expr::expr(Func::lower(Expr::col((u.clone(), Alias::new("name")))))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
                    .or(Expr::col((u.clone(), Alias::new("email")))
                        .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\'))),
            );
        }
        let backend = tx.get_database_backend();
        let mut count = filtered.clone();
        count.expr_as(Expr::cust("COUNT(*)"), Alias::new("total"));
        let total = tx
            .query_one_raw(backend.build(&count))
            .await
            .map_err(to_domain)?
            .map(|row| row.try_get::<i64>("", "total"))
            .transpose()
            .map_err(to_domain)?
            .unwrap_or(0);
        let mut page = filtered;
        member_columns(&mut page);
        page.order_by_expr(
            Func::lower(Expr::col((u.clone(), Alias::new("name")))).into(),
            Order::Asc,
        )
        .order_by((u, Alias::new("id")), Order::Asc)
        .limit(query.page.limit())
        .offset(query.page.offset());
        let rows = tx
            .query_all_raw(backend.build(&page))
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        Ok(Page {
            items: rows.iter().map(to_member).collect::<DomainResult<_>>()?,
            total: u64::try_from(total).unwrap_or(0),
            request: query.page,
        })
    }

    async fn get(&self, scope: &TenantScope, user: UserId) -> DomainResult<Member> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let member = fetch_one(&tx, scope, user).await?;
        tx.finish_read().await?;
        Ok(member)
    }

    async fn change_role(
        &self,
        scope: &TenantScope,
        user: UserId,
        current: RoleRef,
        role: RoleRef,
        end_sessions: bool,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin(&self.store, scope).await?;
        lock_target(&tx, scope, user, current, role == RoleRef::OWNER).await?;
        if let RoleRef::Custom(id) = role
            && crate::roles::find(&tx, scope.organization_id(), id)
                .await?
                .is_none()
        {
            return Err(DomainError::Conflict(
                "the role was deleted meanwhile".into(),
            ));
        }
        let (name, id) = crate::tenant::role_columns(role);
        membership::Entity::update_many()
            .col_expr(membership::Column::Role, Expr::value(name))
            .col_expr(membership::Column::RoleId, Expr::value(id))
            .filter(membership::Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(membership::Column::UserId.eq(user.as_uuid()))
            .exec(&*tx)
            .await
            .map_err(crate::error::conflict_on_key(
                "the role was deleted meanwhile",
            ))?;
        if end_sessions {
            crate::sessions::end_downgraded(&tx, scope.organization_id(), &[user.as_uuid()])
                .await?;
        }
        tx.audit(scope, entry).await?;
        tx.commit_changing_grants(&self.store, scope).await
    }

    async fn remove(
        &self,
        scope: &TenantScope,
        user: UserId,
        current: RoleRef,
        entry: AuditEntry,
        key_revoked: fn(ApiKeyId) -> AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        lock_target(&tx, scope, user, current, false).await?;
        crate::api_keys::revoke_created_by(&tx, scope, user, key_revoked).await?;
        membership::Entity::delete_many()
            .filter(membership::Column::OrganizationId.eq(scope.organization_id().as_uuid()))
            .filter(membership::Column::UserId.eq(user.as_uuid()))
            .exec(&*tx)
            .await
            .map_err(to_domain)?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }
}
