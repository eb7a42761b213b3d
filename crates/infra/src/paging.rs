//! One page of a filtered query, with the total count, for the plain lists.

use bulkhead_domain::page::{Page, PageRequest};
use bulkhead_domain::{DomainError, DomainResult};
use sea_orm::{EntityTrait, PaginatorTrait, QuerySelect, Select};

use crate::error::to_domain;
use crate::tx::OrgTx;

/// Counts what `filtered` matches, then reads the page of it that `page` names in the order
/// `order` gives, converting each row.
pub(crate) async fn page_of<E, T>(
    tx: &OrgTx,
    filtered: Select<E>,
    order: impl FnOnce(Select<E>) -> Select<E>,
    page: PageRequest,
) -> DomainResult<Page<T>>
where
    E: EntityTrait,
    E::Model: Sync,
    T: TryFrom<E::Model, Error = DomainError>,
{
    let total = filtered.clone().count(&**tx).await.map_err(to_domain)?;
    let rows = order(filtered)
        .limit(page.limit())
        .offset(page.offset())
        .all(&**tx)
        .await
        .map_err(to_domain)?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(T::try_from)
            .collect::<DomainResult<_>>()?,
        total,
        request: page,
    })
}
