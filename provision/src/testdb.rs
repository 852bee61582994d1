//! Per-test databases: one server per test process, one fresh clone per test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;
use tracing::warn;

use crate::error::{ProvisionError, Result};
use crate::template::{self, TemplateSpec};
use crate::{BackendChoice, Server};

static SERVER: OnceCell<Arc<dyn Server>> = OnceCell::const_new();
static DB_SEQ: AtomicU32 = AtomicU32::new(0);

/// The process-wide server, started on first use from `HARNESS_BACKEND` /
/// `HARNESS_DATABASE_URL`.
pub async fn shared_server() -> Result<Arc<dyn Server>> {
    SERVER
        .get_or_try_init(|| async {
            let server = BackendChoice::from_env()?.start().await?;
            Ok::<_, ProvisionError>(Arc::from(server))
        })
        .await
        .cloned()
}

/// A fresh database for one test: cloned from a template, dropped when the test passes, kept
/// (with its URL printed) when the test panics.
pub struct TestDb {
    server: Arc<dyn Server>,
    name: String,
    pool: PgPool,
    kept: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).finish()
    }
}

impl TestDb {
    /// A database holding the Phase 1A baseline schema (TimescaleDB created).
    pub async fn new() -> Result<Self> {
        Self::from_template(&TemplateSpec::phase_1a()).await
    }

    /// A database cloned from the template built by `spec`.
    pub async fn from_template(spec: &TemplateSpec) -> Result<Self> {
        let server = shared_server().await?;
        Self::on_server(server, spec).await
    }

    /// A database on a given server (benchmarks and doctor use their own servers).
    pub async fn on_server(server: Arc<dyn Server>, spec: &TemplateSpec) -> Result<Self> {
        let tmpl = template::ensure_template(server.as_ref(), spec).await?;
        let name = database_name(
            server.db_prefix(),
            DB_SEQ.fetch_add(1, Ordering::Relaxed),
            std::thread::current().name(),
        );
        let mut admin = template::admin_connection(server.as_ref()).await?;
        template::clone_database(&mut admin, &tmpl, &name).await?;
        let _ = admin.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .min_connections(0)
            .connect_lazy_with(statement_logging(server.connect_options(&name)));
        Ok(Self {
            server,
            name,
            pool,
            kept: Default::default(),
        })
    }

    /// Connection pool for this database (created in the test's own runtime).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A dedicated connection (for session state such as transactions or `SET`).
    pub async fn connect(&self) -> Result<PgConnection> {
        PgConnection::connect_with(&self.connect_options())
            .await
            .map_err(|e| ProvisionError::Unreachable {
                url: self.url(),
                detail: e.to_string(),
            })
    }

    /// Connection options for this database.
    pub fn connect_options(&self) -> PgConnectOptions {
        statement_logging(self.server.connect_options(&self.name))
    }

    /// Database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection URL, password redacted.
    pub fn url(&self) -> String {
        self.server.display_url(&self.name)
    }

    /// The server this database lives on.
    pub fn server(&self) -> &Arc<dyn Server> {
        &self.server
    }

    /// Keep this database (and its server) after the process exits; prints its URL.
    pub fn keep(&self) {
        self.keep_quietly();
        eprintln!("harness: kept database {}: {}", self.name, self.url());
    }

    /// Keep this database (and its server) after the process exits, printing nothing.
    pub fn keep_quietly(&self) {
        self.server.keep_after_exit();
        self.kept.store(true, Ordering::SeqCst);
    }

    /// Whether [`TestDb::keep`] or [`TestDb::keep_quietly`] was called.
    pub fn is_kept(&self) -> bool {
        self.kept.load(Ordering::SeqCst)
    }

    /// Drop the database now, in the caller's runtime: what `Drop` does on a helper thread it
    /// joins, without blocking the caller's other tasks for the drop's checkpoint.
    pub async fn dispose(mut self) -> Result<()> {
        // The name is cleared (so Drop does nothing) only once the database is gone: a failed
        // or cancelled drop leaves it to Drop.
        self.pool.close().await;
        let mut admin = template::admin_connection(self.server.as_ref()).await?;
        template::drop_database(&mut admin, &self.name).await?;
        self.name.clear();
        let _ = admin.close().await;
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.kept.load(Ordering::SeqCst) || self.name.is_empty() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("harness: test failed; kept its database for inspection");
            self.keep();
            eprintln!("harness: stop kept servers with `harness reap` when done");
            return;
        }
        // Drop runs inside the test's async runtime, where blocking on async work is not
        // allowed: drop the database from a helper thread with its own small runtime.
        let server = self.server.clone();
        let name = std::mem::take(&mut self.name);
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = template::admin_connection(server.as_ref())
                    .await
                    .map_err(|e| e.to_string())?;
                template::drop_database(&mut admin, &name)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<_, String>(())
            })
        });
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "could not drop test database"),
            Err(_) => warn!("database drop thread panicked"),
        }
    }
}

/// `<prefix><seq>_<test>`: the test harness names each test's thread after the test, so a kept
/// database says which test kept it. Threads that are not a test's (a runtime's workers,
/// `main`) add nothing. PostgreSQL truncates names at 63 bytes; we cut first, on our terms.
fn database_name(prefix: &str, seq: u32, thread: Option<&str>) -> String {
    let mut name = format!("{prefix}{seq}");
    let test = thread
        .filter(|t| *t != "main" && !t.starts_with("tokio-"))
        .map(test_of_thread)
        .map(|t| {
            t.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .filter(|t| !t.is_empty());
    if let Some(test) = test {
        let room = 63usize.saturating_sub(name.len() + 1);
        if room > 0 {
            name.push('_');
            name.extend(test.chars().take(room));
        }
    }
    name
}

/// The test's own name from its thread's (`module::test` or, for an rstest case,
/// `module::test::case_2_what`: then the test and its case).
fn test_of_thread(thread: &str) -> String {
    let mut parts = thread.rsplit("::");
    let last = parts.next().unwrap_or(thread);
    match parts.next() {
        Some(test) if last.starts_with("case_") => format!("{test}_{last}"),
        _ => last.to_string(),
    }
}

/// Statements (and slow ones, over 1 s) are logged at debug level under `sqlx::query`: a
/// check's SQL is long, so it is quiet by default and there with `HARNESS_LOG=debug`.
pub fn statement_logging(options: PgConnectOptions) -> PgConnectOptions {
    options
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(
            tracing::log::LevelFilter::Debug,
            std::time::Duration::from_secs(1),
        )
}

/// rstest fixture: `#[rstest] #[tokio::test] async fn t(#[future(awt)] db: TestDb)`.
///
/// A provisioning failure fails the test with the one-line cause and fix.
#[rstest::fixture]
pub async fn db() -> TestDb {
    match TestDb::new().await {
        Ok(db) => db,
        Err(e) => panic!("harness: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::database_name;

    #[test]
    fn a_test_database_is_named_after_its_test_within_63_bytes() {
        assert_eq!(
            database_name("harness_ab12_", 3, Some("checks::fee_formula_is_caught")),
            "harness_ab12_3_fee_formula_is_caught"
        );
        assert_eq!(
            database_name("harness_ab12_", 3, Some("main")),
            "harness_ab12_3"
        );
        assert_eq!(
            database_name("harness_ab12_", 3, Some("tokio-runtime-worker")),
            "harness_ab12_3"
        );
        assert_eq!(database_name("harness_ab12_", 3, None), "harness_ab12_3");
        assert_eq!(
            database_name("harness_ab12_", 3, Some("gate::resumed::case_2_step_6")),
            "harness_ab12_3_resumed_case_2_step_6"
        );
        let long = database_name("harness_ab12_", 3, Some(&"x".repeat(100)));
        assert_eq!(long.len(), 63, "{long}");
        assert!(long.starts_with("harness_ab12_3_xxx"), "{long}");
    }
}
