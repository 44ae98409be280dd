//! The command line: `serve` (the default), `migrate`, `create-admin` and `demo` (API.md).
//! Settings come from the environment; a bad value stops the command with a message naming the
//! variable.

use clap::{Parser, Subcommand};

use crate::auth::password::Password;
use crate::settings::Settings;
use crate::startup::{Application, open_store, shutdown_signal};
use crate::{demo, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "SMS-first messaging and alert gateway for healthcare practices"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve HTTP and all background workers (the default).
    Serve,
    /// Run migrations and exit.
    Migrate,
    /// Create (or reset the password of) a super admin.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: String,
    },
    /// Seed a demo customer, practice, staff users and patients, and print what to try next.
    Demo,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    telemetry::init_logging(&settings.log_filter, settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            // Registered before anything announces readiness: a SIGTERM from then on is graceful.
            let shutdown = shutdown_signal();
            let app = Application::build(settings.clone()).await?;
            tracing::info!(
                address = %app.local_addr(),
                store = ?app.state().store.backend(),
                public_base_url = %settings.public_base_url,
                "gateway listening"
            );
            if settings.twilio.is_none() {
                // Deliberately printed (not logged): the dev transport is for local use, and the
                // developer needs the token to sign test webhooks.
                eprintln!(
                    "dev transport: no Twilio credentials set; outbound texts are recorded, not sent.\n\
                     dev webhook token (sign test webhooks with it): {}",
                    app.state().webhook_token.expose()
                );
            }
            app.run_until(shutdown).await?;
            tracing::info!("gateway stopped");
        }
        Command::Migrate => {
            let store = open_store(&settings).await?;
            println!("migrations applied ({:?} store)", store.backend());
        }
        Command::CreateAdmin { username, password } => {
            let username = username.trim();
            if username.is_empty() {
                anyhow::bail!("--username must not be empty");
            }
            let password =
                Password::parse(&password).map_err(|why| anyhow::anyhow!("--password: {why}"))?;
            let store = open_store(&settings).await?;
            let audit = store::Audit::system(chrono::Utc::now());
            let user = store
                .upsert_super_admin(&audit, username, &password.hash())
                .await?;
            println!("super admin {:?} is ready (id {})", user.username, user.id);
        }
        Command::Demo => {
            let store = open_store(&settings).await?;
            let report = demo::seed(store.as_ref(), chrono::Utc::now()).await?;
            println!("{}", report.instructions(&settings));
        }
    }
    Ok(())
}
