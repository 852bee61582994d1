//! The external backend: a server the user owns, named by URL.
//!
//! Only databases this crate names are created and dropped: those whose names start with its
//! prefix (`harness_<run id>_`) and its templates
//! (`harness_tmpl_<hash>`); others are never touched. `reap_dead_runs` drops only databases
//! this role owns, stamped by a dead run of this machine and used by no session.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{BackendKind, Server, MIN_TIMESCALEDB};
use crate::error::{ProvisionError, Result};
use crate::redact::redact_url;

/// An attached external server.
#[derive(Debug)]
pub struct ExternalServer {
    base: PgConnectOptions,
    url: String,
    prefix: String,
    /// `SELECT version()`.
    pub server_version: String,
    /// Available TimescaleDB version.
    pub timescaledb_version: String,
}

impl ExternalServer {
    /// Connect, and refuse with a clear message when the role lacks CREATEDB or the server
    /// lacks a usable TimescaleDB.
    pub async fn attach(url: &str) -> Result<Self> {
        let shown = redact_url(url);
        let base = PgConnectOptions::from_str(url).map_err(|e| ProvisionError::Unreachable {
            url: shown.clone(),
            detail: format!(
                "not a valid PostgreSQL URL: {}",
                redact_error(&e.to_string(), url)
            ),
        })?;
        let mut conn = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            sqlx::PgConnection::connect_with(&base.clone().disable_statement_logging()),
        )
        .await
        .map_err(|_| ProvisionError::Unreachable {
            url: shown.clone(),
            detail: "timed out after 10 s".into(),
        })?
        .map_err(|e| ProvisionError::Unreachable {
            url: shown.clone(),
            detail: redact_error(&e.to_string(), url),
        })?;
        let sql_err = |what: &'static str| {
            let db = base.get_database().unwrap_or("postgres").to_string();
            move |source| ProvisionError::Sql {
                what,
                database: db,
                source,
            }
        };
        let (role, can_create): (String, bool) = sqlx::query_as(
            "SELECT current_user::text, (rolcreatedb OR rolsuper) FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(sql_err("read role attributes"))?;
        if !can_create {
            return Err(ProvisionError::NoCreateDb { role, url: shown });
        }
        let server_version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut conn)
            .await
            .map_err(sql_err("read server version"))?;
        let available: Option<String> = sqlx::query_scalar(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
        )
        .fetch_optional(&mut conn)
        .await
        .map_err(sql_err("read available extensions"))?;
        let preload: String =
            sqlx::query_scalar("SELECT current_setting('shared_preload_libraries')")
                .fetch_one(&mut conn)
                .await
                .map_err(sql_err("read shared_preload_libraries"))?;
        let _ = conn.close().await;
        let timescaledb_version = match available {
            None => {
                return Err(ProvisionError::ExternalNoTimescale {
                    url: shown,
                    detail: "extension timescaledb is not installed".into(),
                    min: MIN_TIMESCALEDB,
                })
            }
            Some(v) if !super::version_at_least(&v, MIN_TIMESCALEDB) => {
                return Err(ProvisionError::ExternalNoTimescale {
                    url: shown,
                    detail: format!("timescaledb {v} is too old"),
                    min: MIN_TIMESCALEDB,
                })
            }
            Some(v) => v,
        };
        if !preload
            .split(',')
            .any(|l| l.trim().starts_with("timescaledb"))
        {
            return Err(ProvisionError::ExternalNoTimescale {
                url: shown,
                detail: format!("timescaledb is not in shared_preload_libraries ('{preload}')"),
                min: MIN_TIMESCALEDB,
            });
        }
        Ok(Self {
            base,
            url: url.to_string(),
            prefix: format!("harness_{}_", super::run_id()),
            server_version,
            timescaledb_version,
        })
    }
}

/// sqlx errors can echo the URL; never print its password.
fn redact_error(msg: &str, url: &str) -> String {
    let mut out = msg.to_string();
    if let Ok(u) = url::Url::parse(url) {
        if let Some(p) = u.password().filter(|p| !p.is_empty()) {
            out = out.replace(p, "***");
        }
    }
    out
}

impl Server for ExternalServer {
    fn kind(&self) -> BackendKind {
        BackendKind::External
    }

    fn connect_options(&self, db: &str) -> PgConnectOptions {
        self.base.clone().database(db)
    }

    fn display_url(&self, db: &str) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                u.set_path(&format!("/{db}"));
                redact_url(u.as_str())
            }
            Err(_) => redact_url(&self.url),
        }
    }

    fn db_prefix(&self) -> &str {
        &self.prefix
    }

    fn keep_after_exit(&self) {
        // the user's server outlives us anyway; a kept database simply is not dropped
    }

    fn data_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
}

/// The comment on every database the harness creates: `harness-owner <machine> <pid> <start>`.
/// On a server many machines share, it tells a dead run's database from a live one's.
pub(crate) fn owner_comment() -> String {
    format!(
        "harness-owner {} {}",
        machine_id().as_deref().unwrap_or("unknown"),
        crate::native::owner_stamp(std::process::id())
    )
}

/// This machine and process namespace: host name, boot id and pid-namespace inode. A host
/// name alone is shared by containers and CI runners; a pid means something only within one
/// boot of one pid namespace. `None` where these cannot be read (no `/proc`): then no run's
/// database is ever judged dead from here.
pub(crate) fn machine_id() -> Option<String> {
    // Read once per process: every clone is stamped with it.
    static ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ID.get_or_init(read_machine_id).clone()
}

fn read_machine_id() -> Option<String> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let host = read("/proc/sys/kernel/hostname")?;
    let boot = read("/proc/sys/kernel/random/boot_id")?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let ns = ns.to_string_lossy();
    let id: String = format!("{host}/{boot}/{ns}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':'))
        .collect();
    (!host.is_empty() && !boot.is_empty()).then_some(id)
}

/// What [`reap_dead_runs`] did on an external server.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExternalReap {
    /// Databases of dead runs of this machine, dropped.
    pub dropped: Vec<String>,
    /// Databases whose run is still alive, left.
    pub alive: usize,
    /// Databases another machine made (its runs cannot be judged from here), left.
    pub other_hosts: usize,
    /// Harness-named databases without an owner stamp, left.
    pub unstamped: usize,
    /// Databases that could not be dropped, with why (another role's, a refused drop).
    pub failed: Vec<(String, String)>,
}

/// Drop the databases of dead harness runs of this machine (a run killed with SIGKILL leaves
/// its database, lock held). Only databases the harness named and stamped, that this role
/// owns and that no session is using are considered; templates are shared caches and stay.
pub async fn reap_dead_runs(server: &ExternalServer) -> Result<ExternalReap> {
    let mut admin =
        sqlx::PgConnection::connect_with(&server.base.clone().disable_statement_logging())
            .await
            .map_err(|e| ProvisionError::Unreachable {
                url: redact_url(&server.url),
                detail: redact_error(&e.to_string(), &server.url),
            })?;
    let rows: Vec<(String, String, bool, i64)> = sqlx::query_as(
        "SELECT d.datname::text, coalesce(shobj_description(d.oid, 'pg_database'), ''), \
                pg_get_userbyid(d.datdba) = current_user \
                  OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), \
                (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid) \
           FROM pg_database d \
          WHERE d.datname LIKE 'harness\\_%' AND d.datname NOT LIKE 'harness\\_tmpl\\_%' \
          ORDER BY d.datname",
    )
    .fetch_all(&mut admin)
    .await
    .map_err(|source| ProvisionError::Sql {
        what: "list harness databases",
        database: server.base.get_database().unwrap_or("postgres").to_string(),
        source,
    })?;
    let me = machine_id();
    let mut reap = ExternalReap::default();
    for (name, comment, ours, sessions) in rows {
        let Some((machine, owner)) = comment
            .strip_prefix("harness-owner ")
            .and_then(|stamp| stamp.split_once(' '))
        else {
            reap.unstamped += 1;
            continue;
        };
        if me.as_deref() != Some(machine) || machine == "unknown" {
            reap.other_hosts += 1;
        } else if crate::native::owner_alive(owner) || sessions > 0 {
            // a dead run has no sessions: one that is used is somebody's
            reap.alive += 1;
        } else if !ours {
            reap.failed
                .push((name, "owned by another role".to_string()));
        } else {
            match crate::template::drop_database(&mut admin, &name).await {
                Ok(_) => reap.dropped.push(name),
                Err(e) => reap.failed.push((name, e.to_string())),
            }
        }
    }
    let _ = admin.close().await;
    Ok(reap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_server_is_one_line_and_redacted() {
        // port 1 on loopback: nothing listens there
        let err = ExternalServer::attach("postgres://alice:s3cret@127.0.0.1:1/db")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot connect to postgres://alice:***@127.0.0.1:1/db"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[tokio::test]
    async fn malformed_url_is_a_clear_error() {
        let err = ExternalServer::attach("mysql://x:pw@h/db")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot connect"), "{err}");
        assert!(!err.contains(":pw@"), "{err}");
    }

    #[test]
    fn error_text_is_redacted() {
        assert_eq!(
            redact_error("auth failed for hunter2", "postgres://u:hunter2@h/d"),
            "auth failed for ***"
        );
    }
}
