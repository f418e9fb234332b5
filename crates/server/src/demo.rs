//! `tidings demo`: a sample store to look around in.

use crate::config::Config;

/// # Errors
/// When the application cannot start.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = crate::Application::build(config).await?;
    app.run_until_stopped(crate::startup::shutdown_signal()).await
}
