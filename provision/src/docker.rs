//! The docker backend: a pinned `timescale/timescaledb` container through testcontainers.
//!
//! Readiness is a real `SELECT 1` retry loop, not a log line: the image's entrypoint starts a
//! temporary server for its init scripts before the real one, so "ready" log lines lie.
//!
//! Running it: on a machine with a Docker engine, `HARNESS_BACKEND=docker cargo test` (or
//! `harness doctor` with no local TimescaleDB). `HARNESS_TSDB_IMAGE=repo:tag` overrides the
//! image. Nothing here needs the engine until [`DockerServer::start`].

use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use testcontainers::core::{ContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};
use tracing::info;

use super::{release_guardian, BackendKind, Guardian, Server, SERVER_SETTINGS};
use crate::error::{ProvisionError, Result};

/// Image used unless `HARNESS_TSDB_IMAGE` says otherwise.
pub const DEFAULT_IMAGE: &str = "timescale/timescaledb:2.19.3-pg15";
const PASSWORD: &str = "harness";
const PG_PORT: ContainerPort = ContainerPort::Tcp(5432);
const DATA_DIR: &str = "/var/lib/postgresql/data";

/// Settings of the docker backend.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// `repository:tag`.
    pub image: String,
    /// How long `SELECT 1` may keep failing after the container starts.
    pub ready_timeout: Duration,
}

impl DockerConfig {
    /// Read `HARNESS_TSDB_IMAGE`.
    pub fn from_env() -> Self {
        Self {
            image: std::env::var("HARNESS_TSDB_IMAGE")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_IMAGE.to_string()),
            ready_timeout: Duration::from_secs(60),
        }
    }

    /// `(repository, tag)`, tag `latest` when absent; a registry port is not a tag.
    pub fn image_parts(&self) -> (String, String) {
        match self.image.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (self.image.clone(), "latest".to_string()),
        }
    }
}

/// The container request: image, env, tmpfs data directory, and the shared server settings
/// on the command line. Pure, so it is unit-tested without an engine.
pub fn container_request(cfg: &DockerConfig) -> ContainerRequest<GenericImage> {
    let (repo, tag) = cfg.image_parts();
    let mut cmd = vec!["postgres".to_string()];
    for (k, v) in SERVER_SETTINGS {
        cmd.push("-c".into());
        cmd.push(format!("{k}={v}"));
    }
    GenericImage::new(repo, tag)
        .with_exposed_port(PG_PORT)
        .with_wait_for(WaitFor::Nothing)
        .with_env_var("POSTGRES_PASSWORD", PASSWORD)
        .with_env_var("NO_TS_TUNE", "true")
        .with_env_var("TIMESCALEDB_TELEMETRY", "off")
        .with_mount(Mount::tmpfs_mount(DATA_DIR))
        .with_label("harness.owner.pid", std::process::id().to_string())
        .with_label("harness.run", super::run_id())
        .with_cmd(cmd)
}

/// Whether a Docker engine answers a ping (within 3 s).
pub async fn engine_reachable() -> Result<()> {
    let client = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| ProvisionError::DockerUnavailable {
            detail: e.to_string(),
        })?;
    match tokio::time::timeout(Duration::from_secs(3), client.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ProvisionError::DockerUnavailable {
            detail: e.to_string(),
        }),
        Err(_) => Err(ProvisionError::DockerUnavailable {
            detail: "ping timed out after 3 s".into(),
        }),
    }
}

/// A running TimescaleDB container.
pub struct DockerServer {
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
    host: String,
    port: u16,
    image: String,
    prefix: String,
    keep: AtomicBool,
    guardian: Guardian,
}

impl std::fmt::Debug for DockerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerServer")
            .field("image", &self.image)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish()
    }
}

impl DockerServer {
    /// Start the container and wait until it answers `SELECT 1`.
    pub async fn start(cfg: &DockerConfig) -> Result<Self> {
        engine_reachable().await?;
        let t0 = Instant::now();
        let container = container_request(cfg).start().await.map_err(|e| {
            ProvisionError::DockerUnavailable {
                detail: format!("starting {}: {e}", cfg.image),
            }
        })?;
        let host = container
            .get_host()
            .await
            .map(|h| h.to_string())
            .unwrap_or_else(|_| "127.0.0.1".into());
        let port = container.get_host_port_ipv4(PG_PORT).await.map_err(|e| {
            ProvisionError::DockerNotReady {
                image: cfg.image.clone(),
                waited_ms: t0.elapsed().as_millis(),
                detail: format!("no host port for 5432: {e}"),
            }
        })?;
        let guardian = spawn_guardian(container.id());
        let server = Self {
            container: Mutex::new(Some(container)),
            host,
            port,
            image: cfg.image.clone(),
            prefix: format!("harness_{}_", super::run_id()),
            keep: AtomicBool::new(false),
            guardian: Mutex::new(guardian),
        };
        server.wait_ready(cfg.ready_timeout, t0).await?;
        info!(image = %cfg.image, ms = t0.elapsed().as_millis(), "docker server ready");
        Ok(server)
    }

    async fn wait_ready(&self, timeout: Duration, t0: Instant) -> Result<()> {
        let opts = self.connect_options("postgres").disable_statement_logging();
        let mut last = String::new();
        while t0.elapsed() < timeout {
            match sqlx::PgConnection::connect_with(&opts).await {
                Ok(mut c) => match sqlx::query_scalar::<_, i32>("SELECT 1")
                    .fetch_one(&mut c)
                    .await
                {
                    Ok(1) => {
                        let _ = c.close().await;
                        return Ok(());
                    }
                    Ok(v) => last = format!("SELECT 1 returned {v}"),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ProvisionError::DockerNotReady {
            image: self.image.clone(),
            waited_ms: t0.elapsed().as_millis(),
            detail: last,
        })
    }
}

/// Removes the container with the docker CLI when this process goes away without dropping
/// the server (a `static` is never dropped); absent CLI means the engine's own cleanup.
fn spawn_guardian(container_id: &str) -> Option<(Child, ChildStdin)> {
    const SCRIPT: &str =
        r#"read line; [ "$line" = done ] && exit 0; docker rm -f "$1" >/dev/null 2>&1"#;
    let mut child = Command::new("sh")
        .args(["-c", SCRIPT, "harness-docker-guardian", container_id])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        release_guardian(&self.guardian);
        let container = self
            .container
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if self.keep.load(Ordering::SeqCst) {
            // a failed test's database lives in it: leave the container running
            std::mem::forget(container);
        }
    }
}

impl Server for DockerServer {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }

    fn connect_options(&self, db: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username("postgres")
            .password(PASSWORD)
            .database(db)
    }

    fn display_url(&self, db: &str) -> String {
        crate::redact::redact_url(&format!(
            "postgres://postgres:{PASSWORD}@{}:{}/{db}",
            self.host, self.port
        ))
    }

    fn db_prefix(&self) -> &str {
        &self.prefix
    }

    fn keep_after_exit(&self) {
        self.keep.store(true, Ordering::SeqCst);
    }

    fn data_dir(&self) -> Option<std::path::PathBuf> {
        Some(DATA_DIR.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_pins_image_env_tmpfs_and_settings() {
        let cfg = DockerConfig {
            image: DEFAULT_IMAGE.into(),
            ready_timeout: Duration::from_secs(1),
        };
        let req = container_request(&cfg);
        assert_eq!(req.descriptor(), "timescale/timescaledb:2.19.3-pg15");
        let env: std::collections::BTreeMap<String, String> = req
            .env_vars()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(env.get("NO_TS_TUNE").map(String::as_str), Some("true"));
        assert_eq!(
            env.get("TIMESCALEDB_TELEMETRY").map(String::as_str),
            Some("off")
        );
        assert!(env.contains_key("POSTGRES_PASSWORD"));
        let mounts: Vec<_> = req.mounts().collect();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].target(), Some(DATA_DIR));
        assert!(matches!(
            mounts[0].mount_type(),
            testcontainers::core::MountType::Tmpfs
        ));
        let cmd: Vec<String> = req.cmd().map(|c| c.into_owned()).collect();
        for (k, v) in SERVER_SETTINGS {
            assert!(
                cmd.contains(&format!("{k}={v}")),
                "missing {k}={v} in {cmd:?}"
            );
        }
        assert_eq!(cmd[0], "postgres");
    }

    #[test]
    fn image_override_is_split_into_repo_and_tag() {
        let c = |s: &str| DockerConfig {
            image: s.into(),
            ready_timeout: Duration::from_secs(1),
        };
        assert_eq!(c("a/b:1.2").image_parts(), ("a/b".into(), "1.2".into()));
        assert_eq!(c("a/b").image_parts(), ("a/b".into(), "latest".into()));
        assert_eq!(
            c("reg:5000/a/b").image_parts(),
            ("reg:5000/a/b".into(), "latest".into())
        );
    }

    #[tokio::test]
    async fn absent_engine_is_a_one_line_error_with_the_fixes() {
        // Point the client at a socket that cannot exist: no engine answers there.
        std::env::set_var("DOCKER_HOST", "unix:///nonexistent/harness-no-docker.sock");
        let err = engine_reachable().await.unwrap_err().to_string();
        assert!(err.starts_with("Docker engine not reachable"), "{err}");
        assert!(
            err.contains("HARNESS_BACKEND=native") && err.contains("HARNESS_DATABASE_URL"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
