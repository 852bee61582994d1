//! Ephemeral TimescaleDB databases for tests, as a test author uses testcontainers or
//! `sqlx::test`: depend on this crate alone and every test gets a fresh, real database.
//!
//! * one [`Server`] abstraction, three backends: [`native`] (a private PostgreSQL cluster from
//!   the local server binaries, the default), [`docker`] (a TimescaleDB container through
//!   testcontainers) and [`external`] (a server the user owns, named by URL);
//! * [`template`]: template databases named by content hash, built once per server, cloned
//!   per test (the Phase 1A baseline is one; callers add seeded or migrated ones);
//! * [`testdb`]: the per-test [`TestDb`] and its rstest fixture [`db`];
//! * [`redact`]: passwords out of every URL shown to a human.

pub mod docker;
pub mod error;
pub mod external;
pub mod native;
pub mod redact;
pub mod template;
pub mod testdb;

pub use error::ProvisionError;
pub use template::{TemplateBuilder, TemplateSpec};
pub use testdb::{db, shared_server, TestDb};

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use std::io::Write;
use std::process::{Child, ChildStdin};
use std::sync::Mutex;

use crate::error::Result;

/// Oldest TimescaleDB the harness accepts: the migration relies on 2.x catalog views
/// (`timescaledb_information.hypertables`, `.jobs`) and `create_hypertable` named arguments.
pub const MIN_TIMESCALEDB: &str = "2.13.0";

/// Server settings shared by the native and docker backends: durability is worthless for
/// throw-away databases, and TimescaleDB's scheduler must not run jobs behind the tests' backs
/// (tests run jobs explicitly) nor race template clones.
pub const SERVER_SETTINGS: &[(&str, &str)] = &[
    ("shared_preload_libraries", "timescaledb"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("timescaledb.telemetry_level", "off"),
    ("timescaledb.max_background_workers", "0"),
    ("max_connections", "200"),
];

/// A guardian process (a `sh` that cleans up after us if this process dies) and our end of its
/// stdin, taken when the server shuts down or is kept.
pub(crate) type Guardian = Mutex<Option<(Child, ChildStdin)>>;

/// Tell the guardian its work is done ("done" on its stdin: it exits without touching
/// anything) and wait for it.
pub(crate) fn release_guardian(guardian: &Guardian) {
    end_guardian(guardian, true);
}

/// End the guardian and wait for it: with `done`, it stands down; without, its stdin just
/// closes and it does its cleanup now (for a server whose own cleanup may have failed
/// silently).
pub(crate) fn end_guardian(guardian: &Guardian, done: bool) {
    let taken = guardian.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((mut g, mut stdin)) = taken {
        if done {
            let _ = stdin.write_all(b"done\n");
        }
        drop(stdin);
        let _ = g.wait();
    }
}

/// Which backend serves databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Decide from the environment (see [`BackendChoice::resolve`]).
    Auto,
    /// Private local cluster.
    Native,
    /// testcontainers.
    Docker,
    /// A server named by URL.
    External,
}

impl FromStr for BackendKind {
    type Err = ProvisionError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "native" => Ok(Self::Native),
            "docker" => Ok(Self::Docker),
            "external" => Ok(Self::External),
            _ => Err(ProvisionError::UnknownBackend {
                value: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Native => "native",
            Self::Docker => "docker",
            Self::External => "external",
        })
    }
}

/// What the user asked for: a backend kind and maybe a URL.
#[derive(Debug, Clone)]
pub struct BackendChoice {
    /// Requested kind.
    pub kind: BackendKind,
    /// `HARNESS_DATABASE_URL` / `--database-url`.
    pub database_url: Option<String>,
}

impl BackendChoice {
    /// Read `HARNESS_BACKEND` and `HARNESS_DATABASE_URL`.
    pub fn from_env() -> Result<Self> {
        let kind = std::env::var("HARNESS_BACKEND")
            .unwrap_or_default()
            .parse()?;
        let database_url = std::env::var("HARNESS_DATABASE_URL")
            .ok()
            .filter(|s| !s.trim().is_empty());
        Ok(Self { kind, database_url })
    }

    /// Resolve `auto`: external if a URL is given, else native if TimescaleDB is installed
    /// locally, else docker if an engine answers, else an error naming the three fixes.
    pub async fn resolve(&self) -> Result<BackendKind> {
        match self.kind {
            BackendKind::External if self.database_url.is_none() => {
                Err(ProvisionError::ExternalWithoutUrl)
            }
            BackendKind::Auto => {
                if self.database_url.is_some() {
                    return Ok(BackendKind::External);
                }
                let native = match native::Installation::discover() {
                    Ok(_) => return Ok(BackendKind::Native),
                    Err(e) => e.to_string(),
                };
                match docker::engine_reachable().await {
                    Ok(()) => Ok(BackendKind::Docker),
                    Err(e) => Err(ProvisionError::NothingCanServe {
                        native,
                        docker: e.to_string(),
                    }),
                }
            }
            k => Ok(k),
        }
    }

    /// Start (or attach to) a server of the resolved kind.
    pub async fn start(&self) -> Result<Box<dyn Server>> {
        match self.resolve().await? {
            BackendKind::Native => Ok(Box::new(native::NativeServer::start(
                &native::NativeConfig::from_env()?,
            )?)),
            BackendKind::Docker => Ok(Box::new(
                docker::DockerServer::start(&docker::DockerConfig::from_env()).await?,
            )),
            BackendKind::External => {
                let url = self
                    .database_url
                    .as_deref()
                    .ok_or(ProvisionError::ExternalWithoutUrl)?;
                Ok(Box::new(external::ExternalServer::attach(url).await?))
            }
            BackendKind::Auto => unreachable_auto(),
        }
    }
}

// `resolve` never returns Auto; keep the match exhaustive without a panic path.
fn unreachable_auto() -> Result<Box<dyn Server>> {
    Err(ProvisionError::UnknownBackend {
        value: "auto (unresolved)".into(),
    })
}

/// A running server that can host per-test databases.
pub trait Server: Send + Sync + fmt::Debug {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Connection options for database `db` as the harness's admin role.
    fn connect_options(&self, db: &str) -> PgConnectOptions;
    /// A libpq-style URL for database `db`, password redacted, for humans.
    fn display_url(&self, db: &str) -> String;
    /// Prefix of every database name this process creates (`harness_<run id>_`), so an
    /// external server's other databases are never touched.
    fn db_prefix(&self) -> &str;
    /// Ask the server to outlive this process (a failed test's database is being kept).
    fn keep_after_exit(&self);
    /// Where the data directory lives, for `doctor` (`None` when not ours to know).
    fn data_dir(&self) -> Option<std::path::PathBuf>;
}

/// A process-unique run id: pid plus start time, short enough for database names.
pub fn run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{:x}{:05x}", std::process::id(), (nanos & 0xfffff) as u32)
    })
}

/// Quote an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Compare dotted version strings numerically (`2.19.3` >= `2.13.0`).
pub fn version_at_least(found: &str, min: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> {
        v.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parse(found) >= parse(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_kind_parses_and_rejects() {
        assert_eq!(
            "NATIVE".parse::<BackendKind>().unwrap(),
            BackendKind::Native
        );
        assert_eq!("".parse::<BackendKind>().unwrap(), BackendKind::Auto);
        let err = "podman".parse::<BackendKind>().unwrap_err().to_string();
        assert!(err.contains("podman") && err.contains("auto, native, docker, external"));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_at_least("2.19.3", "2.13.0"));
        assert!(version_at_least("2.13.0", "2.13.0"));
        assert!(!version_at_least("2.9.1", "2.13.0"));
        assert!(!version_at_least("1.7.5", "2.13.0"));
    }

    #[tokio::test]
    async fn external_without_url_is_a_clear_error() {
        let c = BackendChoice {
            kind: BackendKind::External,
            database_url: None,
        };
        let err = c.resolve().await.unwrap_err().to_string();
        assert!(err.contains("HARNESS_DATABASE_URL"), "{err}");
    }

    #[tokio::test]
    async fn auto_with_url_picks_external() {
        let c = BackendChoice {
            kind: BackendKind::Auto,
            database_url: Some("postgres://u@localhost/db".into()),
        };
        assert_eq!(c.resolve().await.unwrap(), BackendKind::External);
    }

    #[test]
    fn quote_ident_escapes_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
