//! `harness doctor`: one `key: value` line per fact about what can serve databases here.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::error::{ProvisionError, Result};
use crate::provision::{docker, native, BackendChoice, BackendKind, Server};
use crate::template::{self, TemplateSpec};

/// Number of clones timed for `clone_ms_median`.
pub const CLONES: usize = 20;

/// What doctor found.
#[derive(Debug, Default)]
pub struct Report {
    /// `key: value` lines in print order.
    pub lines: Vec<(String, String)>,
    /// Set when nothing can serve: the error with its fix.
    pub fatal: Option<String>,
}

impl Report {
    fn push(&mut self, k: &str, v: impl Into<String>) {
        self.lines.push((k.to_string(), v.into()));
    }

    /// Render as `key: value` lines.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.lines {
            let _ = writeln!(s, "{k}: {v}");
        }
        if let Some(f) = &self.fatal {
            let _ = writeln!(s, "error: {f}");
        }
        s
    }
}

/// Probe the machine and, when a backend can serve, time a cold start and template clones.
pub async fn run(choice: &BackendChoice) -> Report {
    let mut r = Report::default();
    let docker_state = match docker::engine_version().await {
        Ok((engine, api)) => format!("reachable (engine {engine}, API {api})"),
        Err(ProvisionError::DockerUnavailable { detail }) => format!("not reachable ({detail})"),
        Err(e) => format!("not reachable ({})", short(&e)),
    };
    let kind = match choice.resolve().await {
        Ok(k) => k,
        Err(e) => {
            r.push("backend", "none");
            r.push("docker", docker_state);
            r.fatal = Some(e.to_string());
            return r;
        }
    };
    r.push("backend", kind.to_string());
    if kind == BackendKind::Docker {
        r.push("image", docker::DockerConfig::from_env().image);
    }
    if let Err(e) = probe(choice, kind, &mut r).await {
        r.fatal = Some(e.to_string());
    }
    // keep docker's line after the backend facts, in the order the issue lists them
    let pos = r
        .lines
        .iter()
        .position(|(k, _)| k == "data_dir")
        .map(|p| p + 1)
        .unwrap_or(r.lines.len());
    r.lines.insert(pos, ("docker".into(), docker_state));
    r
}

fn short(e: &ProvisionError) -> String {
    let s = e.to_string();
    s.split("; fix:").next().unwrap_or(&s).to_string()
}

async fn probe(choice: &BackendChoice, kind: BackendKind, r: &mut Report) -> Result<()> {
    let t0 = Instant::now();
    let server: Arc<dyn Server> = match kind {
        BackendKind::Native => {
            let cfg = native::NativeConfig::from_env()?;
            Arc::new(native::NativeServer::start(&cfg)?)
        }
        _ => Arc::from(choice.start().await?),
    };
    let cold = t0.elapsed();

    let mut admin = template::admin_connection(server.as_ref()).await?;
    let pg: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut admin)
        .await
        .map_err(sql("read server_version"))?;
    r.push("postgres", pg);
    let tsdb: Option<String> = sqlx::query_scalar(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
    )
    .fetch_optional(&mut admin)
    .await
    .map_err(sql("read timescaledb version"))?;
    r.push(
        "timescaledb",
        tsdb.unwrap_or_else(|| "not installed".into()),
    );
    // the license GUC is only defined where the extension is loaded: ask a fresh clone
    let spec = TemplateSpec::timescaledb_only();
    let tmpl = template::ensure_template(server.as_ref(), &spec).await?;
    let probe_db = format!("{}doctor_license", server.db_prefix());
    template::clone_database(&mut admin, &tmpl, &probe_db).await?;
    let license = read_license(server.as_ref(), &probe_db).await;
    template::drop_database(&mut admin, &probe_db).await?;
    r.push("license", license?);
    r.push(
        "data_dir",
        match server.data_dir() {
            Some(d) if kind == BackendKind::Native => {
                let tmpfs = if native::is_tmpfs(&d) {
                    "tmpfs"
                } else {
                    "not tmpfs"
                };
                format!("{} ({tmpfs})", d.display())
            }
            Some(d) => format!("{} (tmpfs, in the container)", d.display()),
            None => "unknown (external server)".into(),
        },
    );
    r.push(
        "cold_start_ms",
        match kind {
            BackendKind::External => "n/a (external server is not started by the harness)".into(),
            _ => format!("{:.1}", ms(cold)),
        },
    );

    let mut clones = Vec::with_capacity(CLONES);
    let mut drops = Vec::with_capacity(CLONES);
    for i in 0..CLONES {
        let name = format!("{}doctor_{i}", server.db_prefix());
        clones.push(template::clone_database(&mut admin, &tmpl, &name).await?);
        drops.push(template::drop_database(&mut admin, &name).await?);
    }
    r.push("clone_ms_median", format!("{:.1}", ms(median(&mut clones))));
    r.push("drop_ms_median", format!("{:.1}", ms(median(&mut drops))));
    let _ = admin.close().await;
    Ok(())
}

async fn read_license(server: &dyn Server, db: &str) -> Result<String> {
    use sqlx::ConnectOptions;
    let mut c =
        sqlx::PgConnection::connect_with(&server.connect_options(db).disable_statement_logging())
            .await
            .map_err(|e| ProvisionError::Unreachable {
                url: server.display_url(db),
                detail: e.to_string(),
            })?;
    let license: Option<String> =
        sqlx::query_scalar("SELECT current_setting('timescaledb.license', true)")
            .fetch_one(&mut c)
            .await
            .map_err(sql("read timescaledb.license"))?;
    let _ = c.close().await;
    Ok(license.unwrap_or_else(|| "unknown".into()))
}

fn sql(what: &'static str) -> impl FnOnce(sqlx::Error) -> ProvisionError {
    move |source| ProvisionError::Sql {
        what,
        database: "postgres".into(),
        source,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median of a non-empty sample (upper median for even sizes); zero for an empty one.
pub fn median(v: &mut [Duration]) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_samples() {
        let mut v: Vec<Duration> = [5, 1, 3]
            .iter()
            .map(|&m| Duration::from_millis(m))
            .collect();
        assert_eq!(median(&mut v), Duration::from_millis(3));
        assert_eq!(median(&mut []), Duration::ZERO);
    }

    #[test]
    fn report_renders_key_value_lines_and_the_error() {
        let mut r = Report::default();
        r.push("backend", "native");
        r.fatal = Some("no backend can serve".into());
        assert_eq!(r.render(), "backend: native\nerror: no backend can serve\n");
    }
}
