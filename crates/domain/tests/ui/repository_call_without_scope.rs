// Every method of the kit's one port takes the tenant scope; a call without one does not
// compile, whatever the resource.
use bulkhead_domain::ProjectId;
use bulkhead_domain::projects::Projects;
use bulkhead_domain::resource::{ListQuery, RowState, TenantRepository};

async fn read_everything(repo: &dyn TenantRepository<Projects>, id: ProjectId) {
    let _ = repo.get(id, RowState::Live).await;
    let _ = repo.list(&ListQuery::default()).await;
}

fn main() {}
