//! Typed errors of provisioning: every variant is one line of cause plus one of fix.

use std::path::PathBuf;

/// Why a database server or a per-test database could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// No `pg_config` to locate the PostgreSQL server binaries.
    #[error("PostgreSQL server binaries not found ({detail}); fix: install PostgreSQL (Debian: apt-get install postgresql) or set HARNESS_PG_CONFIG=/path/to/pg_config")]
    PgBinariesMissing {
        /// What the search for `pg_config` found.
        detail: String,
    },

    /// The local PostgreSQL has no TimescaleDB, or one that is too old.
    #[error("TimescaleDB {found} for PostgreSQL {pg_major} at {path}: need >= {min}; fix: run ci/install-timescaledb (or use HARNESS_BACKEND=docker / HARNESS_DATABASE_URL)")]
    TimescaleMissing {
        /// The version found, or `none`.
        found: String,
        /// The oldest version accepted.
        min: &'static str,
        /// The PostgreSQL major version searched.
        pg_major: String,
        /// Where the extension was looked for.
        path: PathBuf,
    },

    /// Running as root without an unprivileged user to run the server as.
    #[error("running as root, and PostgreSQL refuses root: no user '{user}' exists to run the server as; fix: create it (useradd --system {user}) or set HARNESS_PG_USER to an existing unprivileged user")]
    NoUnprivilegedUser {
        /// The user the server would run as.
        user: String,
    },

    /// The requested TCP port is taken.
    #[error("port {port} on 127.0.0.1 is already in use; fix: unset HARNESS_PG_PORT to pick a free port, or choose another")]
    PortInUse {
        /// The port asked for.
        port: u16,
    },

    /// A server process did not come up.
    #[error("PostgreSQL server did not start ({cause}); log {log}: {log_tail}")]
    ServerStart {
        /// Why the start failed.
        cause: String,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// `initdb` failed.
    #[error("initdb failed for {dir}: {detail}")]
    Initdb {
        /// The data directory.
        dir: PathBuf,
        /// initdb's output.
        detail: String,
    },

    /// A filesystem or process operation failed.
    #[error("{what} ({path}): {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The file or directory it was on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A server named by URL could not be reached (password redacted).
    #[error("cannot connect to {url}: {detail}; fix: check the URL, that the server runs and accepts this role")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// The connection error.
        detail: String,
    },

    /// The external server's role cannot create databases.
    #[error("role '{role}' on {url} lacks CREATEDB; fix: ALTER ROLE {role} CREATEDB (as a superuser), or use a role that has it")]
    NoCreateDb {
        /// The role connected as.
        role: String,
        /// The URL, password redacted.
        url: String,
    },

    /// The external server lacks TimescaleDB (not installed, too old, or not preloaded).
    #[error("server {url} cannot serve TimescaleDB: {detail}; fix: install TimescaleDB >= {min} there and add it to shared_preload_libraries, or use HARNESS_BACKEND=native after ci/install-timescaledb")]
    ExternalNoTimescale {
        /// The URL, password redacted.
        url: String,
        /// What is missing.
        detail: String,
        /// The oldest version accepted.
        min: &'static str,
    },

    /// No Docker engine answered.
    #[error("Docker engine not reachable ({detail}); fix: start Docker (or set DOCKER_HOST), or use HARNESS_BACKEND=native after ci/install-timescaledb, or HARNESS_DATABASE_URL")]
    DockerUnavailable {
        /// The engine client's error.
        detail: String,
    },

    /// The image is neither local nor pullable.
    #[error("TimescaleDB image {image} is not available ({detail}); fix: where no registry is reachable, build the local images with ci/build-images and set HARNESS_TSDB_IMAGE=harness-timescaledb:2.19.3-pg15 (or -pg17)")]
    DockerImage {
        /// The image asked for.
        image: String,
        /// The engine's error.
        detail: String,
    },

    /// The container started but did not accept `SELECT 1` in time.
    #[error("TimescaleDB container {image} not ready after {waited_ms} ms: {detail}")]
    DockerNotReady {
        /// The image started.
        image: String,
        /// How long readiness was awaited.
        waited_ms: u128,
        /// The last readiness error.
        detail: String,
    },

    /// `HARNESS_BACKEND` names no backend.
    #[error("HARNESS_BACKEND={value} is not one of auto, native, docker, external")]
    UnknownBackend {
        /// The value given.
        value: String,
    },

    /// The external backend was chosen without a URL.
    #[error("HARNESS_BACKEND=external needs HARNESS_DATABASE_URL (or --database-url)")]
    ExternalWithoutUrl,

    /// Auto-selection found nothing that can serve.
    #[error("no backend can serve a TimescaleDB database: native: {native}; docker: {docker}. Fix one of: (1) run ci/install-timescaledb for the native backend, (2) start a Docker engine for the docker backend, (3) set HARNESS_DATABASE_URL to a server with TimescaleDB")]
    NothingCanServe {
        /// Why the native backend cannot serve.
        native: String,
        /// Why the docker backend cannot serve.
        docker: String,
    },

    /// A SQL statement of the harness itself failed.
    #[error("{what} on database {database}: {source}")]
    Sql {
        /// The statement's purpose.
        what: &'static str,
        /// The database it ran on.
        database: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// Building the template database failed.
    #[error("building template database {template}: {detail}")]
    Template {
        /// The template's name.
        template: String,
        /// What failed.
        detail: String,
    },
}

/// Shorthand used across this crate.
pub type Result<T, E = ProvisionError> = std::result::Result<T, E>;

pub(crate) fn io(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> ProvisionError {
    let path = path.into();
    move |source| ProvisionError::Io { what, path, source }
}
