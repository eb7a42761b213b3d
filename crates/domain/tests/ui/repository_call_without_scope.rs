// Repository methods take the tenant scope; a call without one does not compile.
use bulkhead_domain::ProjectId;
use bulkhead_domain::projects::{ProjectQuery, ProjectRepository};

async fn read_everything(repo: &dyn ProjectRepository, id: ProjectId) {
    let _ = repo.get(id).await;
    let _ = repo.list(&ProjectQuery::default()).await;
}

fn main() {}
