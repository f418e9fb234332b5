//! Store errors: small and matchable.

use thiserror::Error;

/// What can go wrong in the store, by what a caller does about it.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The thing named does not exist (yet): a caller may retry later or answer 404.
    #[error("{0} not found")]
    NotFound(String),
    /// The request contradicts what is stored (an answer of 409 or 422).
    #[error("{0}")]
    Conflict(String),
    /// The database failed; details are for the logs, not for clients.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value no longer parses (a bug, or a row written by a newer version).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
