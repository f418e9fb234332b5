//! History imports: orders from CSV and CDNOW-style transaction logs.

use std::path::Path;

use store::Store;

use crate::config::Config;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub rows_read: u64,
    pub rows_applied: u64,
    pub rows_skipped_as_done: u64,
    pub rejected: Vec<(u64, String)>,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rows read, {} applied, {} already imported, {} rejected",
            self.rows_read, self.rows_applied, self.rows_skipped_as_done, self.rejected.len())
    }
}

/// # Errors
/// When the file cannot be read or the database fails.
pub async fn import_orders_csv(_store: &Store, _file: &Path, _config: &Config) -> anyhow::Result<ImportReport> {
    anyhow::bail!("TODO(import): not built yet")
}

/// # Errors
/// When the file cannot be read or the database fails.
pub async fn import_transactions(_store: &Store, _file: &Path, _currency: &str) -> anyhow::Result<ImportReport> {
    anyhow::bail!("TODO(import): not built yet")
}
