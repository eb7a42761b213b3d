use std::process::ExitCode;

use bulkhead_server::cli::{Cli, Command};
use bulkhead_server::{
    Application, create_superuser, migrate, purge, purge_organizations, telemetry,
};
use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => match bulkhead_api::openapi::json() {
            Ok(document) => {
                print!("{document}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: cannot render the OpenAPI document: {err}");
                ExitCode::FAILURE
            }
        },
        Command::CreateSuperuser(args) => {
            let _telemetry = telemetry::init();
            let url = args.admin_database_url.unwrap_or(args.database_url);
            let password = match std::env::var("BULKHEAD_SUPERUSER_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    let mut line = String::new();
                    if let Err(err) = std::io::stdin().read_line(&mut line) {
                        eprintln!("error: cannot read the password from standard input: {err}");
                        return ExitCode::FAILURE;
                    }
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            match create_superuser(&url, &args.email, &args.name, &password, args.bcrypt_cost).await
            {
                Ok((id, created)) => {
                    let what = if created { "created" } else { "promoted" };
                    println!("superuser {what}: {} ({id})", args.email);
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate(args) => {
            let _telemetry = telemetry::init();
            let url = args.admin_database_url.unwrap_or(args.database_url);
            match migrate(&url).await {
                Ok(()) => {
                    tracing::info!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    tracing::error!("{err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Purge(args) => {
            let _telemetry = telemetry::init();
            let url = args.admin_database_url.unwrap_or(args.database_url);
            let retention = chrono::Duration::days(i64::from(args.retention_days));
            let grace = chrono::Duration::days(i64::from(args.organization_grace_days));
            let purged = async {
                let removed = purge(&url, retention).await?;
                let organizations = purge_organizations(&url, grace).await?;
                let blobs = bulkhead_server::sweep_blobs(
                    &url,
                    &args.storage_url,
                    chrono::Duration::hours(1),
                )
                .await?;
                tracing::info!(blobs, "stored files no document names removed");
                Ok::<_, bulkhead_server::StartupError>((removed, organizations))
            };
            match purged.await {
                Ok((removed, organizations)) => {
                    tracing::info!(
                        removed,
                        organizations,
                        retention_days = args.retention_days,
                        organization_grace_days = args.organization_grace_days,
                        "purge finished"
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    tracing::error!("{err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Export(args) => {
            let _telemetry = telemetry::init();
            let url = args
                .database
                .admin_database_url
                .unwrap_or(args.database.database_url);
            let organization = bulkhead_domain::OrganizationId::from_uuid(args.organization);
            let exported = match &args.output {
                Some(path) => match std::fs::File::create(path) {
                    Ok(file) => {
                        let mut out = std::io::BufWriter::new(file);
                        bulkhead_server::export_organization(&url, organization, &mut out).await
                    }
                    Err(err) => {
                        eprintln!("error: cannot create {}: {err}", path.display());
                        return ExitCode::FAILURE;
                    }
                },
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout());
                    bulkhead_server::export_organization(&url, organization, &mut out).await
                }
            };
            match exported {
                Ok(counts) => {
                    eprintln!("exported organization {organization}: {counts:?}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Import(args) => {
            let _telemetry = telemetry::init();
            let url = args
                .database
                .admin_database_url
                .unwrap_or(args.database.database_url);
            let into = args
                .organization_id
                .map(bulkhead_domain::OrganizationId::from_uuid);
            match bulkhead_server::import_organization(&url, &args.file, into).await {
                Ok(imported) => {
                    println!(
                        "imported organization {} ({} users already here kept): {:?}",
                        imported.organization_id, imported.users_kept, imported.counts
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CitusPlan(args) => {
            let url = args.admin_database_url.unwrap_or(args.database_url);
            match bulkhead_server::citus::Catalogue::read(&url).await {
                Ok(catalogue) => match catalogue.plan() {
                    Ok(plan) => {
                        print!("{plan}");
                        ExitCode::SUCCESS
                    }
                    Err(problems) => {
                        eprintln!("error: Citus would refuse this schema:");
                        for problem in problems {
                            eprintln!("  {problem}");
                        }
                        ExitCode::FAILURE
                    }
                },
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::RetryBillingEvents(args) => {
            let _telemetry = telemetry::init();
            let url = args.admin_database_url.unwrap_or(args.database_url);
            match bulkhead_server::retry_billing_events(&url).await {
                Ok(queued) => {
                    tracing::info!(queued, "failed Stripe events queued again");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    tracing::error!("{err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::RotateSecrets(args) => {
            let _telemetry = telemetry::init();
            let url = args.admin_database_url.unwrap_or(args.database_url);
            let key = args.secrets_key.id().to_owned();
            match bulkhead_server::rotate_secrets(
                &url,
                args.secrets_key,
                args.secrets_previous_keys,
                args.jwt_secret.as_deref(),
            )
            .await
            {
                Ok(rotation) => {
                    tracing::info!(
                        credentials = rotation.credentials,
                        emails = rotation.emails,
                        key,
                        "secrets sealed again under the current key"
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    tracing::error!("{err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Worker(args) => {
            let _telemetry = telemetry::init();
            match bulkhead_server::run_worker(args.into_config()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!("worker error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(args) => {
            let _telemetry = telemetry::init();
            let app = match Application::build(args.into_config()).await {
                Ok(app) => app,
                Err(err) => {
                    tracing::error!("refusing to start: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let base = app.base_url();
            tracing::info!(
                "Bulkhead listening on {base} (API under {base}/api/v1) — docs at {base}/docs/"
            );
            match app.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!("server error: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
