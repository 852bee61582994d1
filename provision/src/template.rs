//! Template databases: built once per server under an advisory lock, then cloned per test.
//!
//! A template is named by a hash of what it contains (the SQL that built it, plus a caller's
//! key such as a generator version), so a changed migration can never be served by a stale
//! template. It is built under a temporary name and renamed when complete, so a crash mid-build
//! never leaves a half-built template under the real name. Finished templates are closed to
//! connections (`ALLOW_CONNECTIONS false`): a session left in the template (TimescaleDB's
//! scheduler, a stray psql) makes `CREATE DATABASE ... TEMPLATE` fail.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;
use sha2::{Digest, Sha256};
use sqlx::{ConnectOptions, Connection, PgConnection};
use tracing::info;

use crate::error::{ProvisionError, Result};
use crate::{quote_ident, Server};

/// Rust code that fills a template after its scripts (seeding a world, running a migration).
///
/// Its future need not be `Send`: sqlx futures over `&mut PgConnection` often are not provably
/// so (rust-lang/rust#102211), and template builds are awaited in place, never spawned.
pub type TemplateBuilder = Arc<
    dyn for<'c> Fn(&'c mut PgConnection) -> LocalBoxFuture<'c, std::result::Result<(), String>>
        + Send
        + Sync,
>;

/// What goes into a template database.
#[derive(Clone)]
pub struct TemplateSpec {
    /// Extra naming input beside the scripts themselves. With a [`TemplateBuilder`] it must
    /// name everything the builder writes (e.g. world fingerprint + migration SQL hash), since
    /// code cannot be hashed.
    pub key: String,
    /// SQL scripts run in order on the fresh database, each with a name for error messages.
    pub scripts: Vec<(String, String)>,
    /// Runs after the scripts.
    pub builder: Option<TemplateBuilder>,
    /// A template this one starts as a copy of (built first when missing), instead of an empty
    /// database: a long build (a large world seeded and half migrated) is paid once and shared
    /// by the templates derived from it.
    pub base: Option<Box<TemplateSpec>>,
}

impl std::fmt::Debug for TemplateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateSpec")
            .field("key", &self.key)
            .field(
                "scripts",
                &self.scripts.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("builder", &self.builder.is_some())
            .field("base", &self.base.as_ref().map(|b| b.name()))
            .finish()
    }
}

impl TemplateSpec {
    /// The empty TimescaleDB database: just the extension.
    pub fn timescaledb_only() -> Self {
        Self {
            key: "timescaledb".into(),
            scripts: vec![(
                "create extension".into(),
                "CREATE EXTENSION IF NOT EXISTS timescaledb".into(),
            )],
            builder: None,
            base: None,
        }
    }

    /// The extension plus the Phase 1A baseline schema of the system under test.
    pub fn phase_1a() -> Self {
        let mut spec = Self::timescaledb_only();
        spec.key = "phase_1a".into();
        for (name, sql) in contract::PHASE_1A_SCRIPTS {
            spec.scripts.push((name.to_string(), sql.to_string()));
        }
        spec
    }

    /// The Phase 1A template extended by `builder`; `key` names what the builder writes.
    pub fn phase_1a_with(key: impl Into<String>, builder: TemplateBuilder) -> Self {
        let mut spec = Self::phase_1a();
        spec.key = format!("phase_1a+{}", key.into());
        spec.builder = Some(builder);
        spec
    }

    /// A copy of template `base` extended by `builder`; `key` names what the builder writes.
    pub fn derived(base: TemplateSpec, key: impl Into<String>, builder: TemplateBuilder) -> Self {
        Self {
            key: format!("{}+{}", base.key, key.into()),
            scripts: Vec::new(),
            builder: Some(builder),
            base: Some(Box::new(base)),
        }
    }

    /// `harness_tmpl_<16 hex of sha256(base, key, scripts)>`.
    pub fn name(&self) -> String {
        let mut h = Sha256::new();
        if let Some(base) = &self.base {
            h.update(base.name().as_bytes());
            h.update([1u8]);
        }
        h.update(self.key.as_bytes());
        for (name, sql) in &self.scripts {
            h.update([0u8]);
            h.update(name.as_bytes());
            h.update([0u8]);
            h.update(sql.as_bytes());
        }
        let hex = hex::encode(h.finalize());
        format!("harness_tmpl_{}", &hex[..16])
    }
}

static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Connect to the server's maintenance database as the admin role.
pub async fn admin_connection(server: &dyn Server) -> Result<PgConnection> {
    PgConnection::connect_with(
        &server
            .connect_options("postgres")
            .disable_statement_logging(),
    )
    .await
    .map_err(|e| ProvisionError::Unreachable {
        url: server.display_url("postgres"),
        detail: e.to_string(),
    })
}

fn sql_err(what: &'static str, db: &str) -> impl FnOnce(sqlx::Error) -> ProvisionError {
    let database = db.to_string();
    move |source| ProvisionError::Sql {
        what,
        database,
        source,
    }
}

/// Make sure the template exists on `server`; returns its name. Cheap after the first call in
/// a process; across processes sharing a server, the advisory lock makes one of them build it.
pub async fn ensure_template(server: &dyn Server, spec: &TemplateSpec) -> Result<String> {
    let name = spec.name();
    // one process may talk to several servers (doctor, benches, tests of backends)
    let key = format!("{} {name}", server.display_url("postgres"));
    if BUILT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|s| s.contains(&key))
    {
        return Ok(name);
    }
    if let Some(base) = &spec.base {
        // Before the build lock: the base's own build takes it.
        Box::pin(ensure_template(server, base)).await?;
    }
    let mut admin = admin_connection(server).await?;
    // one lock for all template builds: builds are rare and must not interleave renames
    sqlx::query("SELECT pg_advisory_lock(hashtext('harness-template-build'))")
        .execute(&mut admin)
        .await
        .map_err(sql_err("take template advisory lock", "postgres"))?;
    let result = build_locked(server, &mut admin, spec, &name).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('harness-template-build'))")
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    result?;
    BUILT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(key);
    Ok(name)
}

async fn build_locked(
    server: &dyn Server,
    admin: &mut PgConnection,
    spec: &TemplateSpec,
    name: &str,
) -> Result<()> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)",
    )
    .bind(name)
    .fetch_one(&mut *admin)
    .await
    .map_err(sql_err("look up template", "postgres"))?;
    if exists {
        return Ok(());
    }
    let t0 = Instant::now();
    let building = format!("{name}_building");
    let tmpl_err = |detail: String| ProvisionError::Template {
        template: name.to_string(),
        detail,
    };
    let drop_sql = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(&building)
    );
    sqlx::query(&drop_sql)
        .execute(&mut *admin)
        .await
        .map_err(sql_err("drop half-built template", &building))?;
    let create_sql = match &spec.base {
        Some(base) => format!(
            "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY",
            quote_ident(&building),
            quote_ident(&base.name())
        ),
        None => format!("CREATE DATABASE {}", quote_ident(&building)),
    };
    sqlx::query(&create_sql)
        .execute(&mut *admin)
        .await
        .map_err(sql_err("create template", &building))?;
    let filled = fill_template(server, spec, &building).await;
    if let Err(detail) = filled {
        // A failed build leaves nothing behind: its half-made database is not a template,
        // so no reaper would ever take it.
        let _ = sqlx::query(&drop_sql).execute(&mut *admin).await;
        return Err(tmpl_err(detail));
    }
    for stmt in [
        format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&building),
            quote_ident(name)
        ),
        format!(
            "ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
            quote_ident(name)
        ),
    ] {
        sqlx::query(&stmt)
            .execute(&mut *admin)
            .await
            .map_err(sql_err("seal template", name))?;
    }
    info!(
        template = name,
        ms = t0.elapsed().as_millis(),
        "template built"
    );
    Ok(())
}

/// Run the spec's scripts and builder in the database being built.
async fn fill_template(
    server: &dyn Server,
    spec: &TemplateSpec,
    building: &str,
) -> std::result::Result<(), String> {
    let mut conn =
        PgConnection::connect_with(&server.connect_options(building).disable_statement_logging())
            .await
            .map_err(|e| format!("connect: {e}"))?;
    for (script, sql) in &spec.scripts {
        // a plain &str runs over the simple-query protocol, so a script may hold many
        // statements (and its futures stay Send, unlike raw_sql's)
        sqlx::Executor::execute(&mut conn, sql.as_str())
            .await
            .map_err(|e| format!("script {script}: {e}"))?;
    }
    if let Some(builder) = &spec.builder {
        builder(&mut conn)
            .await
            .map_err(|e| format!("builder: {e}"))?;
    }
    let _ = conn.close().await;
    Ok(())
}

/// `CREATE DATABASE name TEMPLATE template`, returning how long it took.
///
/// FILE_COPY copies the template's files directly; on a small database with fsync off it is
/// several times faster than PostgreSQL 15's default WAL_LOG strategy, which writes every block
/// through the WAL.
pub async fn clone_database(
    admin: &mut PgConnection,
    template: &str,
    name: &str,
) -> Result<Duration> {
    let t0 = Instant::now();
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY",
        quote_ident(name),
        quote_ident(template)
    );
    sqlx::query(&sql)
        .execute(&mut *admin)
        .await
        .map_err(sql_err("clone template", name))?;
    // Who made it, so `harness reap` can tell a dead run's database on a shared server.
    let comment = format!(
        "COMMENT ON DATABASE {} IS '{}'",
        quote_ident(name),
        crate::external::owner_comment()
    );
    if let Err(source) = sqlx::query(&comment).execute(&mut *admin).await {
        // An unstamped clone would outlive a killed run on an external server: no reaper
        // could tell whose it is. Give it back rather than keep it.
        let _ = drop_database(admin, name).await;
        return Err(sql_err("stamp the clone's owner", name)(source));
    }
    Ok(t0.elapsed())
}

/// `DROP DATABASE name WITH (FORCE)`, returning how long it took.
pub async fn drop_database(admin: &mut PgConnection, name: &str) -> Result<Duration> {
    let t0 = Instant::now();
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    sqlx::query(&sql)
        .execute(&mut *admin)
        .await
        .map_err(sql_err("drop database", name))?;
    Ok(t0.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_name_follows_content() {
        let a = TemplateSpec::timescaledb_only();
        let mut b = a.clone();
        assert_eq!(a.name(), b.name());
        b.scripts.push(("x".into(), "SELECT 1".into()));
        assert_ne!(a.name(), b.name());
        let mut c = a.clone();
        c.key = "generator-v2".into();
        assert_ne!(a.name(), c.name());
        let builder: TemplateBuilder = Arc::new(|_| Box::pin(async { Ok(()) }));
        let d = TemplateSpec::derived(a.clone(), "x", builder.clone());
        let e = TemplateSpec::derived(c.clone(), "x", builder);
        assert_ne!(
            d.name(),
            e.name(),
            "a derived template's name follows its base"
        );
        assert_ne!(d.name(), a.name());
        assert!(a.name().starts_with("harness_tmpl_") && a.name().len() == 13 + 16);
    }
}
