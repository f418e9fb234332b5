//! A scratch database for one benchmark run: a file under the target directory on
//! SQLite (a real disk, not a memory-backed /tmp), or a database of its own on a
//! PostgreSQL server, dropped afterwards.

use std::process::Command;

use anyhow::{bail, Context};

/// Where a run's database lives.
pub enum Scratch {
    Sqlite {
        dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl Scratch {
    /// A fresh SQLite file.
    pub fn sqlite() -> anyhow::Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("tidings-bench")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        Ok(Scratch::Sqlite { dir, url })
    }

    /// A fresh database on the server `admin_url` names.
    pub fn postgres(admin_url: &str) -> anyhow::Result<Scratch> {
        let name = format!("tidings_bench_{}", uuid::Uuid::new_v4().simple());
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        let url = with_database(admin_url, &name);
        Ok(Scratch::Postgres {
            admin_url: admin_url.to_string(),
            name,
            url,
        })
    }

    /// The SQLite write-ahead log's size in bytes; `None` on PostgreSQL.
    #[allow(dead_code)] // Read by the benchmarks that watch the checkpointer.
    pub fn wal_bytes(&self) -> Option<u64> {
        match self {
            Scratch::Sqlite { dir, .. } => {
                let wal = dir.path().join("bench.db-wal");
                Some(std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0))
            }
            Scratch::Postgres { .. } => None,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Scratch::Sqlite { url, .. } | Scratch::Postgres { url, .. } => url,
        }
    }

    pub fn remove(self) -> anyhow::Result<()> {
        match self {
            Scratch::Sqlite { dir, .. } => Ok(dir.close()?),
            // FORCE ends connections a pool may still hold.
            Scratch::Postgres {
                admin_url, name, ..
            } => psql(
                &admin_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ),
        }
    }
}

/// Runs one SQL statement with `psql`.
pub fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .output()
        .context("running psql; is it installed?")?;
    if !output.status.success() {
        bail!(
            "psql failed on `{sql}`: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `url` with its database name replaced by `name`, keeping any query string.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}
