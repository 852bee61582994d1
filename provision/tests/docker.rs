//! The docker backend against a real engine: readiness, labels, tmpfs, templates and clones,
//! removal on drop, kept containers and the reaper, the missing-image error.
//!
//! These need a Docker engine and a TimescaleDB image, so they are ignored by a plain
//! `cargo test`; `ci/test` runs them (`ci/build-images`, then
//! `HARNESS_TSDB_IMAGE=harness-timescaledb:2.19.3-pg15 cargo test -p provision --test docker -- --ignored`).

use std::process::Command;
use std::time::Duration;

use provision::docker::{
    reap_containers, DockerConfig, DockerServer, KEPT_PREFIX, LABEL_MACHINE, LABEL_OWNER, LABEL_RUN,
};
use provision::template::{self, TemplateSpec};
use provision::{ProvisionError, Server, TestDb};
use sqlx::Connection;
use std::sync::Arc;

/// `docker <args>` stdout, trimmed; panics with stderr when the CLI fails.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"));
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Ids of the containers labelled as owned by this process (all its tests' under `cargo
/// test`, where they share one process: a test asserts on its own server's id).
fn own_containers() -> Vec<String> {
    let lines = docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label={LABEL_RUN}={}", provision::run_id()),
        "--format",
        "{{.ID}}",
    ]);
    lines.lines().map(str::to_string).collect()
}

fn exists(id: &str) -> bool {
    !docker(&[
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("id={id}"),
    ])
    .is_empty()
}

async fn start() -> DockerServer {
    DockerServer::start(&DockerConfig::from_env())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn scalar(server: &dyn Server, sql: &str) -> String {
    let mut c = template::admin_connection(server)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let v: String = sqlx::query_scalar(sql)
        .fetch_one(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = c.close().await;
    v
}

#[tokio::test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
async fn a_started_container_answers_is_labelled_and_keeps_its_data_in_tmpfs() {
    let server = start().await;
    // start returns only once a real query succeeded: the server answers at once
    assert_eq!(scalar(&server, "SELECT 1::text").await, "1");
    assert_eq!(
        scalar(&server, "SHOW data_directory").await,
        "/var/lib/postgresql/data"
    );
    // the shared server settings are on its command line
    assert_eq!(scalar(&server, "SHOW fsync").await, "off");
    assert_eq!(
        scalar(&server, "SHOW timescaledb.max_background_workers").await,
        "0"
    );
    let id = &server.container_id().to_string();
    assert!(own_containers().contains(id), "labelled with this run's id");
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", id]);
    let owner = format!("\"{LABEL_OWNER}\":\"{} ", std::process::id());
    assert!(labels.contains(&owner), "{labels}");
    assert!(labels.contains(LABEL_MACHINE), "{labels}");
    let tmpfs = docker(&["inspect", "-f", "{{json .HostConfig.Tmpfs}}", id]);
    let mounts = docker(&["inspect", "-f", "{{json .HostConfig.Mounts}}", id]);
    assert!(
        tmpfs.contains("/var/lib/postgresql/data")
            || (mounts.contains("tmpfs") && mounts.contains("/var/lib/postgresql/data")),
        "data directory is a tmpfs: {tmpfs} {mounts}"
    );
    let in_container = docker(&[
        "exec",
        id,
        "sh",
        "-c",
        "grep ' /var/lib/postgresql/data ' /proc/mounts",
    ]);
    assert!(in_container.starts_with("tmpfs "), "{in_container}");
    drop(server);
    assert!(!exists(id), "a dropped server removes its container");
}

#[tokio::test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
async fn templates_and_clones_work_in_a_container_as_on_native() {
    let server: Arc<dyn Server> = Arc::new(start().await);
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let db = TestDb::on_server(server.clone(), &TemplateSpec::phase_1a())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM timescaledb_information.hypertables")
            .fetch_one(db.pool())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, 4, "the Phase 1A hypertables in {}", db.name());
        names.insert(db.name().to_string());
        db.dispose().await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(names.len(), 3, "{names:?}");
    let mut admin = template::admin_connection(server.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_database WHERE datname LIKE $1 AND NOT datistemplate",
    )
    .bind(format!("{}%", server.db_prefix()))
    .fetch_one(&mut admin)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(left, 0, "disposed clones are dropped");
}

#[tokio::test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
async fn a_kept_container_outlives_its_server_and_only_reap_all_removes_it() {
    let server = start().await;
    let id = server.container_id().to_string();
    server.keep_after_exit();
    drop(server);
    assert!(exists(&id), "a kept container is left running");
    let name = docker(&["inspect", "-f", "{{.Name}}", &id]);
    assert!(
        name.trim_start_matches('/').starts_with(KEPT_PREFIX),
        "{name}"
    );
    // even `harness reap` (include_kept) leaves it while its owner, this test, runs; a dead
    // owner's kept container is removed by it (harness/tests/docker.rs kills real runs)
    let r = reap_containers(true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !r.removed.iter().any(|n| name.ends_with(n.as_str())),
        "{r:?}"
    );
    assert!(
        exists(&id),
        "a live owner's container is never reaped: {r:?}"
    );
    docker(&["rm", "-f", &id]);
}

#[tokio::test]
#[ignore = "needs a Docker engine (ci/test runs it)"]
async fn a_missing_image_names_ci_build_images() {
    let cfg = DockerConfig {
        image: "harness-timescaledb:no-such-tag".into(),
        ready_timeout: Duration::from_secs(5),
    };
    let before = own_containers();
    let err = DockerServer::start(&cfg).await.unwrap_err();
    assert!(matches!(err, ProvisionError::DockerImage { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("ci/build-images") && text.contains("HARNESS_TSDB_IMAGE"),
        "{text}"
    );
    assert_eq!(own_containers(), before, "no container was made");
}

/// A container of the configured image started by the docker CLI with `args` (env and
/// command), as a user would start the official image; removed on drop.
struct Raw {
    id: String,
}

impl Raw {
    fn run(args: &[&str]) -> Self {
        let image = DockerConfig::from_env().image;
        // our labels, so a container this test leaves (a panic before drop) is the reaper's
        let labels: Vec<String> = provision::docker::owner_labels()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut all = vec!["run", "-d", "-p", "127.0.0.1::5432"];
        for l in &labels {
            all.extend(["--label", l.as_str()]);
        }
        let (env, cmd): (Vec<&str>, Vec<&str>) = {
            let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
            (
                args[..split].to_vec(),
                args.get(split + 1..).unwrap_or_default().to_vec(),
            )
        };
        all.extend(env);
        all.push(&image);
        all.extend(cmd);
        let id = docker(&all);
        Self { id }
    }

    /// Exit code once it stopped (within 20 s), `None` while it runs.
    fn exit_code(&self) -> Option<i64> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            let state = docker(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                &self.id,
            ]);
            if let Some(code) = state.strip_prefix("exited ") {
                return code.parse().ok();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    fn port(&self) -> u16 {
        docker(&["port", &self.id, "5432"])
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no published port for {}", self.id))
    }

    fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.id])
            .output()
            .unwrap_or_else(|e| panic!("docker logs: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// Connect over the published port as `user`/`password` to `db`, retrying until the real
    /// server (not the entrypoint's temporary one) answers.
    async fn connect(&self, user: &str, password: &str, db: &str) -> sqlx::PgConnection {
        let port = self.port();
        let opts = sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username(user)
            .password(password)
            .database(db);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match sqlx::PgConnection::connect_with(&opts).await {
                Ok(c) => return c,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("{user}@{db}: {e}\n{}", self.logs())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.id]);
    }
}

/// (telemetry jobs, scheduled telemetry jobs) in the connected database.
async fn telemetry_job(c: &mut sqlx::PgConnection) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE scheduled) FROM _timescaledb_config.bgw_job WHERE id = 1",
    )
    .fetch_one(c)
    .await
    .unwrap_or_else(|e| panic!("telemetry job: {e}"))
}

async fn tsdb_version(c: &mut sqlx::PgConnection) -> String {
    show(
        c,
        "SELECT extversion::text FROM pg_extension WHERE extname = 'timescaledb'",
    )
    .await
}

async fn show(c: &mut sqlx::PgConnection, sql: &str) -> String {
    sqlx::query_scalar::<_, String>(sql)
        .fetch_one(c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
#[ignore = "needs a Docker engine and a TimescaleDB image (ci/build-images; ci/test runs it)"]
async fn the_images_entrypoint_keeps_the_official_images_contract() {
    // `postgres --version` is answered without an init (and without a password)
    let image = DockerConfig::from_env().image;
    let version = docker(&["run", "--rm", &image, "postgres", "--version"]);
    assert!(version.starts_with("postgres (PostgreSQL) "), "{version}");

    // no password and no trust: refused at init with the official image's message
    let c = Raw::run(&[]);
    assert_eq!(c.exit_code(), Some(1), "{}", c.logs());
    assert!(
        c.logs().contains("superuser password is not specified"),
        "{}",
        c.logs()
    );

    // POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD, PGDATA, TIMESCALEDB_TELEMETRY, tuning on,
    // extra -c arguments after the options-only command
    let c = Raw::run(&[
        "-e",
        "POSTGRES_USER=bob",
        "-e",
        "POSTGRES_PASSWORD=s3cr'et",
        "-e",
        "POSTGRES_DB=app",
        "-e",
        "PGDATA=/srv/pg/data",
        "-e",
        "POSTGRES_INITDB_ARGS=--data-checksums --auth-local=trust",
        "-e",
        "POSTGRES_INITDB_WALDIR=/srv/pg/wal",
        "-e",
        "TIMESCALEDB_TELEMETRY=off",
        "-e",
        "TS_TUNE_MEMORY=2GB",
        "-e",
        "TS_TUNE_NUM_CPUS=2",
        "--",
        "-c",
        "work_mem=7MB",
    ]);
    let mut db = c.connect("bob", "s3cr'et", "app").await;
    assert_eq!(show(&mut db, "SELECT current_user::text").await, "bob");
    assert_eq!(show(&mut db, "SHOW data_directory").await, "/srv/pg/data");
    assert_eq!(
        show(&mut db, "SHOW data_checksums").await,
        "on",
        "POSTGRES_INITDB_ARGS reached initdb"
    );
    assert_eq!(
        docker(&["exec", &c.id, "readlink", "/srv/pg/data/pg_wal"]),
        "/srv/pg/wal",
        "POSTGRES_INITDB_WALDIR"
    );
    assert_eq!(
        show(&mut db, "SHOW work_mem").await,
        "7MB",
        "-c wins over tuning"
    );
    assert_eq!(
        show(&mut db, "SHOW shared_buffers").await,
        "512MB",
        "tuned: 25% of 2 GB"
    );
    assert_eq!(
        show(&mut db, "SHOW timescaledb.telemetry_level").await,
        "off"
    );
    let (jobs_off, scheduled_off) = telemetry_job(&mut db).await;
    assert_eq!(scheduled_off, 0, "the telemetry job is unscheduled");
    assert_eq!(
        tsdb_version(&mut db).await,
        "2.19.3",
        "the extension is in POSTGRES_DB"
    );
    let wrong = sqlx::PgConnection::connect_with(
        &sqlx::postgres::PgConnectOptions::new()
            .host("127.0.0.1")
            .port(c.port())
            .username("bob")
            .password("wrong")
            .database("app"),
    )
    .await;
    assert!(wrong.is_err(), "a wrong password is refused");
    let _ = db.close().await;

    // POSTGRES_HOST_AUTH_METHOD=trust needs no password; NO_TS_TUNE leaves the defaults;
    // the default telemetry level is basic, as in the official image
    let c = Raw::run(&[
        "-e",
        "POSTGRES_HOST_AUTH_METHOD=trust",
        "-e",
        "NO_TS_TUNE=1",
    ]);
    let mut db = c.connect("postgres", "", "postgres").await;
    assert_eq!(
        show(&mut db, "SHOW shared_buffers").await,
        "128MB",
        "not tuned"
    );
    assert_eq!(
        show(&mut db, "SHOW timescaledb.telemetry_level").await,
        "basic"
    );
    // with telemetry on, a build that has the job keeps it scheduled: the "off" cases above
    // unscheduled a real job (Debian's PG 17 package is built without it: 0 jobs everywhere)
    assert_eq!(
        telemetry_job(&mut db).await,
        (jobs_off, jobs_off),
        "the same build, its telemetry job scheduled"
    );
    assert_eq!(
        show(&mut db, "SHOW shared_preload_libraries").await,
        "timescaledb"
    );
    let _ = db.close().await;
    assert!(
        c.logs().contains("POSTGRES_HOST_AUTH_METHOD=trust"),
        "trust is warned about"
    );

    // the default user (the cluster baked into the image, single-user mode): a password with a
    // quote works, and telemetry off unschedules the job in postgres and template1
    let c = Raw::run(&[
        "-e",
        "POSTGRES_PASSWORD=it's",
        "-e",
        "NO_TS_TUNE=1",
        "-e",
        "TIMESCALEDB_TELEMETRY=off",
    ]);
    let mut db = c.connect("postgres", "it's", "postgres").await;
    assert_eq!(tsdb_version(&mut db).await, "2.19.3");
    assert_eq!(
        telemetry_job(&mut db).await,
        (jobs_off, 0),
        "unscheduled here too"
    );
    let _ = db.close().await;

    // the baked cluster with a temporary server: POSTGRES_DB, POSTGRES_PASSWORD_FILE (a
    // root-only secret, read before the switch to postgres) and an init script
    let dir = std::env::temp_dir().join(format!("harness-entrypoint-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("initdb.d")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("secret"), "from-a-file\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("initdb.d/01_marker.sql"),
        "CREATE TABLE init_marker AS SELECT 42 AS answer;\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let secret = format!("{}:/run/secrets/pw:ro", dir.join("secret").display());
    let scripts = format!(
        "{}:/docker-entrypoint-initdb.d:ro",
        dir.join("initdb.d").display()
    );
    let c = Raw::run(&[
        "-v",
        &secret,
        "-v",
        &scripts,
        "-e",
        "POSTGRES_PASSWORD_FILE=/run/secrets/pw",
        "-e",
        "POSTGRES_DB=app",
        "-e",
        "NO_TS_TUNE=1",
    ]);
    let mut db = c.connect("postgres", "from-a-file", "app").await;
    assert_eq!(
        show(&mut db, "SELECT answer::text FROM init_marker").await,
        "42",
        "the init script ran in POSTGRES_DB"
    );
    assert_eq!(tsdb_version(&mut db).await, "2.19.3");
    let _ = db.close().await;
    assert!(c
        .logs()
        .contains("running /docker-entrypoint-initdb.d/01_marker.sql"));
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}
