//! The docker backend: a pinned `timescale/timescaledb` container through testcontainers.
//!
//! Readiness is a real `SELECT 1` retry loop, not a log line: the image's entrypoint starts a
//! temporary server for its init scripts before the real one, so "ready" log lines lie.
//!
//! Running it: on a machine with a Docker engine, `HARNESS_BACKEND=docker cargo test` (or
//! `harness doctor` with no local TimescaleDB). `HARNESS_TSDB_IMAGE=repo:tag` overrides the
//! image (`ci/build-images` makes `harness-timescaledb:2.19.3-pg15` and `-pg17` from Debian
//! packages where no registry is reachable). Nothing here needs the engine until
//! [`DockerServer::start`].
//!
//! Nothing is left behind: every container is labelled with its owner (pid and start time, on
//! which machine) and run id; a guardian process removes it when the owner dies without
//! dropping it, and [`reap_containers`] (each start, and `harness reap`) removes those whose
//! owner is gone when the guardian died too. A container kept for a failed test is renamed
//! `harness-kept-...` and left to `harness reap`.

use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptions, RemoveContainerOptions, RenameContainerOptions,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use testcontainers::core::{ContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};
use tracing::{info, warn};

use super::{release_guardian, BackendKind, Guardian, Server, SERVER_SETTINGS};
use crate::error::{ProvisionError, Result};

/// Image used unless `HARNESS_TSDB_IMAGE` says otherwise.
pub const DEFAULT_IMAGE: &str = "timescale/timescaledb:2.19.3-pg15";
const PASSWORD: &str = "harness";
const PG_PORT: ContainerPort = ContainerPort::Tcp(5432);
const DATA_DIR: &str = "/var/lib/postgresql/data";

/// Label: the owning process's stamp, `<pid> <start time>`, as on native run directories.
pub const LABEL_OWNER: &str = "harness.owner";
/// Label: the owning process's run id (its databases are named `harness_<run id>_...`).
pub const LABEL_RUN: &str = "harness.run";
/// Label: the machine and pid namespace the owner's pid belongs to.
pub const LABEL_MACHINE: &str = "harness.machine";
/// Name prefix of a container kept for a failed test; only `harness reap` removes those.
pub const KEPT_PREFIX: &str = "harness-kept-";

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

/// The labels that make a container this process's: owner stamp, run id, machine. Tests that
/// start containers by hand use them too, so the reaper and the leak check see those as well.
pub fn owner_labels() -> [(String, String); 3] {
    [
        (
            LABEL_OWNER.to_string(),
            crate::native::owner_stamp(std::process::id()),
        ),
        (LABEL_RUN.to_string(), super::run_id().to_string()),
        (
            LABEL_MACHINE.to_string(),
            crate::external::machine_id().unwrap_or_else(|| "unknown".into()),
        ),
    ]
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
        .with_labels(owner_labels())
        .with_cmd(cmd)
}

/// testcontainers' engine client (its configuration: `DOCKER_HOST`, its properties file).
async fn client() -> Result<bollard::Docker> {
    testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| ProvisionError::DockerUnavailable {
            detail: e.to_string(),
        })
}

/// Whether a Docker engine answers a ping (within 3 s).
pub async fn engine_reachable() -> Result<()> {
    let client = client().await?;
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

/// The engine's version and API version, e.g. `("20.10.24", "1.41")`.
pub async fn engine_version() -> Result<(String, String)> {
    engine_reachable().await?;
    let client = client().await?;
    let v = client
        .version()
        .await
        .map_err(|e| ProvisionError::DockerUnavailable {
            detail: format!("reading the engine version: {e}"),
        })?;
    Ok((
        v.version.unwrap_or_else(|| "unknown".into()),
        v.api_version.unwrap_or_else(|| "unknown".into()),
    ))
}

/// What [`reap_containers`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContainerReap {
    /// Names of the containers removed.
    pub removed: Vec<String>,
    /// Containers whose owner still runs.
    pub alive: usize,
    /// Kept containers left alone (only `include_kept` removes them).
    pub kept: usize,
    /// Containers of another machine or pid namespace: their owner cannot be judged here.
    pub other_machines: usize,
    /// Containers that could not be removed, with the engine's reason.
    pub failed: Vec<(String, String)>,
}

/// What the reaper does with one labelled container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stamped on another machine or pid namespace (or here unknown): its pid means nothing here.
    OtherMachine,
    /// Its owner process still runs.
    Alive,
    /// Kept for a failed test, and kept ones were not asked for.
    Kept,
    /// Its owner is gone: remove it.
    Remove,
}

/// The reaper's decision for a container with `labels` and `name`, judged from machine
/// `here` with `alive` telling whether an owner stamp names a live process. Pure, so every
/// branch is unit-tested.
pub fn verdict(
    labels: &HashMap<String, String>,
    name: &str,
    here: Option<&str>,
    include_kept: bool,
    alive: impl Fn(&str) -> bool,
) -> Verdict {
    let Some(here) = here else {
        return Verdict::OtherMachine;
    };
    if labels.get(LABEL_MACHINE).map(String::as_str) != Some(here) {
        return Verdict::OtherMachine;
    }
    let owner = labels.get(LABEL_OWNER).map(String::as_str).unwrap_or("");
    if alive(owner) {
        return Verdict::Alive;
    }
    if name.starts_with(KEPT_PREFIX) && !include_kept {
        return Verdict::Kept;
    }
    Verdict::Remove
}

/// Remove the harness's containers whose owner process is gone (with `include_kept`, those
/// kept for a failed test too). Only containers stamped by this machine are judged.
pub async fn reap_containers(include_kept: bool) -> Result<ContainerReap> {
    let client = client().await?;
    let filters = HashMap::from([("label".to_string(), vec![LABEL_OWNER.to_string()])]);
    let list = client
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(|e| ProvisionError::DockerUnavailable {
            detail: format!("listing containers: {e}"),
        })?;
    let here = crate::external::machine_id();
    let mut reap = ContainerReap::default();
    for c in list {
        let Some(id) = c.id else { continue };
        let labels = c.labels.unwrap_or_default();
        let name = c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.chars().take(12).collect());
        match verdict(&labels, &name, here.as_deref(), include_kept, |owner| {
            crate::native::owner_alive(owner)
        }) {
            Verdict::OtherMachine => {
                reap.other_machines += 1;
                continue;
            }
            Verdict::Alive => {
                reap.alive += 1;
                continue;
            }
            Verdict::Kept => {
                reap.kept += 1;
                continue;
            }
            Verdict::Remove => {}
        }
        let owner = labels.get(LABEL_OWNER).map(String::as_str).unwrap_or("");
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match client.remove_container(&id, Some(opts)).await {
            Ok(()) => {
                info!(container = %name, owner, "reaped container of a dead run");
                reap.removed.push(name);
            }
            // removed meanwhile (its guardian, another reaper): gone is what we wanted
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => reap.failed.push((name, e.to_string())),
        }
    }
    Ok(reap)
}

/// A running TimescaleDB container.
pub struct DockerServer {
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
    id: String,
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
        // containers of runs whose guardian died with them (both SIGKILLed)
        match reap_containers(false).await {
            Ok(r) => {
                if !r.removed.is_empty() {
                    info!(removed = r.removed.len(), "reaped containers of dead runs");
                }
                for (name, why) in &r.failed {
                    warn!(container = %name, error = %why, "could not remove a dead run's container");
                }
            }
            Err(e) => warn!(error = %e, "could not look for containers of dead runs"),
        }
        let t0 = Instant::now();
        let container = container_request(cfg)
            .start()
            .await
            .map_err(|e| start_error(&cfg.image, e))?;
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
        let id = container.id().to_string();
        let guardian = spawn_guardian(&id);
        let server = Self {
            container: Mutex::new(Some(container)),
            id,
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

    /// The engine's id of the container.
    pub fn container_id(&self) -> &str {
        &self.id
    }

    async fn wait_ready(&self, timeout: Duration, t0: Instant) -> Result<()> {
        let opts = self.connect_options("postgres").disable_statement_logging();
        let mut last = String::new();
        let mut last_state_check = Instant::now();
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
            // an entrypoint that failed (bad env, bad -c) is not worth waiting for; asked of the
            // engine a few times a second, not at every 20 ms poll
            if last_state_check.elapsed() >= Duration::from_millis(200) {
                last_state_check = Instant::now();
                if let Some(exited) = exited_with_logs(&self.id).await {
                    return Err(ProvisionError::DockerNotReady {
                        image: self.image.clone(),
                        waited_ms: t0.elapsed().as_millis(),
                        detail: exited,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(ProvisionError::DockerNotReady {
            image: self.image.clone(),
            waited_ms: t0.elapsed().as_millis(),
            detail: last,
        })
    }
}

/// `docker rename <id> harness-kept-<run id>` with the CLI.
fn rename_with_cli(id: &str, run_id: &str) -> std::result::Result<(), String> {
    let out = Command::new("docker")
        .args(["rename", id, &format!("{KEPT_PREFIX}{run_id}")])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// `Some("the container exited with code N: <last log lines>")` once container `id` stopped.
async fn exited_with_logs(id: &str) -> Option<String> {
    use futures::StreamExt;
    let client = client().await.ok()?;
    let state = client
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .ok()?
        .state?;
    if state.running.unwrap_or(true) {
        return None;
    }
    let opts = bollard::query_parameters::LogsOptions {
        stdout: true,
        stderr: true,
        tail: "8".into(),
        ..Default::default()
    };
    let lines: Vec<String> = client
        .logs(id, Some(opts))
        .filter_map(|l| async move { l.ok().map(|l| l.to_string().trim_end().to_string()) })
        .collect()
        .await;
    Some(format!(
        "the container exited with code {}: {}",
        state.exit_code.unwrap_or(-1),
        lines.join(" | ")
    ))
}

/// The engine's refusal to start the container, with the fix when the image could not be
/// pulled (no registry reachable: build it locally).
fn start_error(image: &str, e: testcontainers::TestcontainersError) -> ProvisionError {
    use testcontainers::core::client::ClientError;
    match e {
        testcontainers::TestcontainersError::Client(ClientError::PullImage { err, .. }) => {
            ProvisionError::DockerImage {
                image: image.to_string(),
                detail: err.to_string(),
            }
        }
        e => ProvisionError::DockerUnavailable {
            detail: format!("starting {image}: {e}"),
        },
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
        // its own group, so a signal to the test's process group does not take it too
        .process_group(0)
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        let container = self
            .container
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if self.keep.load(Ordering::SeqCst) {
            // a failed test's database lives in it: leave the container running
            std::mem::forget(container);
            release_guardian(&self.guardian);
        } else {
            // testcontainers' drop removes it but only logs a failure: the guardian then runs
            // its `docker rm -f` anyway (a no-op for a container already gone)
            drop(container);
            super::end_guardian(&self.guardian, false);
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
        if self.keep.swap(true, Ordering::SeqCst) {
            return;
        }
        // renamed first, so the reaper tells it from a leak; then the guardian stands down
        let id = self.id.clone();
        let name = format!("{KEPT_PREFIX}{}", super::run_id());
        // a fresh runtime on its own thread: this is called from sync code, maybe inside one
        let renamed = std::thread::spawn(move || -> std::result::Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = bollard::Docker::connect_with_defaults().map_err(|e| e.to_string())?;
                client
                    .rename_container(&id, RenameContainerOptions { name })
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        let api = match renamed {
            Ok(r) => r,
            Err(_) => Err("the renaming thread panicked".to_string()),
        };
        // the API client may not see the engine testcontainers uses (a properties file, a CLI
        // context): the docker CLI, as the guardian uses it, is the second try
        let failed = api.err().and_then(|e| {
            rename_with_cli(&self.id, super::run_id())
                .err()
                .map(|cli| format!("{e}; docker CLI: {cli}"))
        });
        release_guardian(&self.guardian);
        match failed {
            None => info!(container = %self.id, "kept container renamed for harness reap"),
            // said on stderr whatever the log filter: the database announced as kept would go
            Some(e) => eprintln!(
                "harness: kept container {} could not be renamed ({e}); the next docker run's reaper would remove it: `docker rename {} {KEPT_PREFIX}{}` keeps it",
                self.id,
                self.id,
                super::run_id()
            ),
        }
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
        // the reaper's and the leak check's handles
        let labels = req.labels();
        let owner = labels.get(LABEL_OWNER).map(String::as_str).unwrap_or("");
        assert_eq!(
            owner.split_whitespace().next(),
            Some(std::process::id().to_string().as_str()),
            "{owner}"
        );
        assert!(
            crate::native::owner_alive(owner),
            "{owner} names this process"
        );
        assert_eq!(
            labels.get(LABEL_RUN).map(String::as_str),
            Some(crate::run_id())
        );
        assert!(labels.contains_key(LABEL_MACHINE));
    }

    #[test]
    fn the_reaper_removes_only_dead_owners_of_this_machine_and_kept_ones_on_request() {
        let labels = |machine: &str, owner: &str| {
            HashMap::from([
                (LABEL_MACHINE.to_string(), machine.to_string()),
                (LABEL_OWNER.to_string(), owner.to_string()),
            ])
        };
        let dead = |_: &str| false;
        let alive = |o: &str| o == "1 100";
        let here = Some("host/boot/ns");
        let plain = "brave_turing";
        let kept = "harness-kept-1-abc";
        // another machine or pid namespace: never judged, whatever its owner
        let other = labels("elsewhere/boot/ns", "1 100");
        assert_eq!(
            verdict(&other, plain, here, true, dead),
            Verdict::OtherMachine
        );
        // no machine id here (no /proc): nothing is ever judged dead
        let ours = labels("host/boot/ns", "1 100");
        assert_eq!(
            verdict(&ours, plain, None, true, dead),
            Verdict::OtherMachine
        );
        // a live owner keeps its containers, kept or not, even for harness reap
        assert_eq!(verdict(&ours, plain, here, true, alive), Verdict::Alive);
        assert_eq!(verdict(&ours, kept, here, true, alive), Verdict::Alive);
        // a dead owner's: removed; a kept one only when kept ones are asked for
        assert_eq!(verdict(&ours, plain, here, false, dead), Verdict::Remove);
        assert_eq!(verdict(&ours, kept, here, false, dead), Verdict::Kept);
        assert_eq!(verdict(&ours, kept, here, true, dead), Verdict::Remove);
        // a container without an owner label on this machine: its owner cannot be alive
        let unowned = HashMap::from([(LABEL_MACHINE.to_string(), "host/boot/ns".to_string())]);
        assert_eq!(
            verdict(&unowned, plain, here, false, |o| !o.is_empty()),
            Verdict::Remove
        );
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
