//! The `organizations` table.

use bulkhead_domain::organizations::{Organization, OrganizationName, OrganizationSettings};
use bulkhead_domain::{DomainResult, OrganizationId};
use sea_orm::entity::prelude::*;

use crate::error::corrupt;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    pub deleted_by: Option<Uuid>,
    pub suspended_at: Option<DateTimeUtc>,
    /// A JSON object, as text on every store.
    pub settings: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The organization a row holds.
pub(crate) fn to_organization(row: Model) -> DomainResult<Organization> {
    Ok(Organization {
        id: OrganizationId::from_uuid(row.id),
        name: OrganizationName::parse("name", &row.name).map_err(corrupt("organization name"))?,
        created_at: row.created_at,
        settings: OrganizationSettings::from_stored(&row.settings)?,
    })
}
