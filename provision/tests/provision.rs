//! Provisioning: per-test databases, the three backends' failure modes, cleanup.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use provision::external::ExternalServer;
use provision::native::{Installation, NativeConfig, NativeServer};
use provision::template::{self, TemplateSpec};
use provision::Server;
use provision::{db, ProvisionError, TestDb};
use rstest::rstest;
use sqlx::Connection;

async fn db_exists(server: &dyn Server, name: &str) -> bool {
    let mut admin = template::admin_connection(server).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    n == 1
}

#[rstest]
#[tokio::test]
async fn fixture_gives_a_phase_1a_database_with_timescaledb(#[future(awt)] db: TestDb) {
    let ext: String =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert!(provision::version_at_least(&ext, "2.13.0"), "{ext}");
    let hypertables: Vec<String> = sqlx::query_scalar(
        "SELECT hypertable_name::text FROM timescaledb_information.hypertables ORDER BY 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        hypertables,
        [
            "feature_snapshot",
            "portfolio_hourly_state",
            "position_hourly_state",
            "risk_hourly_state"
        ]
    );
    assert!(db.name().starts_with("harness_"), "{}", db.name());
    // a kept database says which test kept it
    assert!(
        db.name().contains("_fixture_gives_a_phase_1a_database"),
        "{}",
        db.name()
    );
}

#[rstest]
#[tokio::test]
async fn each_test_gets_its_own_database_and_a_passing_one_is_dropped(#[future(awt)] db: TestDb) {
    let other = TestDb::new().await.unwrap();
    assert_ne!(db.name(), other.name());
    sqlx::query("INSERT INTO account VALUES (1, 'only in one')")
        .execute(db.pool())
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM account")
        .fetch_one(other.pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "clones must not share rows");
    let server = other.server().clone();
    let name = other.name().to_string();
    assert!(db_exists(server.as_ref(), &name).await);
    drop(other);
    assert!(
        !db_exists(server.as_ref(), &name).await,
        "a passing test's database is dropped"
    );
}

#[tokio::test]
async fn a_derived_template_starts_as_a_copy_of_its_base() {
    let base = TemplateSpec {
        key: format!("derived-base-{}", std::process::id()),
        scripts: vec![(
            "base".into(),
            "CREATE EXTENSION IF NOT EXISTS timescaledb; CREATE TABLE t(x int); INSERT INTO t VALUES (1)"
                .into(),
        )],
        builder: None,
        base: None,
    };
    let builder: provision::template::TemplateBuilder = std::sync::Arc::new(|conn| {
        Box::pin(async move {
            sqlx::query("INSERT INTO t VALUES (2)")
                .execute(&mut *conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    });
    let derived = TemplateSpec::derived(base.clone(), "plus two", builder);
    let db = TestDb::from_template(&derived)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut conn = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<i32> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows, vec![1, 2]);
    // The base was built on the way and is a template of its own, untouched by the builder.
    let base_db = TestDb::from_template(&base)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut conn = base_db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let rows: Vec<i32> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows, vec![1]);
}

#[tokio::test]
async fn concurrent_tests_build_one_template_and_clone_it() {
    // a template no other test uses, so this test races its first build
    let spec = TemplateSpec {
        key: format!("concurrency-{}", std::process::id()),
        scripts: vec![(
            "ext".into(),
            "CREATE EXTENSION IF NOT EXISTS timescaledb; CREATE TABLE marker(x int)".into(),
        )],
        builder: None,
        base: None,
    };
    let dbs = futures::future::join_all((0..6).map(|_| TestDb::from_template(&spec))).await;
    let mut names = std::collections::HashSet::new();
    for db in dbs {
        let db = db.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM marker")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);
        names.insert(db.name().to_string());
    }
    assert_eq!(names.len(), 6);
    let server = provision::shared_server().await.unwrap();
    let mut admin = template::admin_connection(server.as_ref()).await.unwrap();
    let (is_template, allow_conn): (bool, bool) =
        sqlx::query_as("SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1")
            .bind(spec.name())
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(is_template && !allow_conn, "a finished template is sealed");
}

fn private_native() -> NativeServer {
    NativeServer::start(&NativeConfig::from_env().unwrap()).unwrap()
}

#[tokio::test]
async fn failed_test_keeps_its_database_and_prints_where() {
    let server: Arc<dyn Server> = Arc::new(private_native());
    let dir = server.data_dir().unwrap().parent().unwrap().to_path_buf();
    let s2 = server.clone();
    let db = TestDb::on_server(s2, &TemplateSpec::timescaledb_only())
        .await
        .unwrap();
    let name = db.name().to_string();
    // a failing assertion inside the test body: the TestDb drops while the thread panics
    let panicked = std::thread::spawn(move || {
        let _db = db;
        panic!("a failing assertion");
    })
    .join();
    assert!(panicked.is_err());
    assert!(
        db_exists(server.as_ref(), &name).await,
        "a failed test's database is kept"
    );
    assert!(
        dir.join("keep").exists(),
        "its server is marked to outlive the process"
    );
    // clean up what the failure kept, as `harness reap` would
    std::fs::remove_file(dir.join("keep")).unwrap();
    drop(server);
    assert!(!dir.exists());
}

#[tokio::test]
async fn server_stops_and_removes_its_directory_on_drop() {
    let server = private_native();
    let dir: PathBuf = server.socket_dir().to_path_buf();
    let pid: i32 = std::fs::read_to_string(dir.join("data/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(dir.join("data/PG_VERSION").exists());
    drop(server);
    assert!(!dir.exists(), "data directory removed");
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "postmaster {pid} gone"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = NativeConfig::from_env().unwrap();
    cfg.port = Some(port);
    let err = NativeServer::start(&cfg).unwrap_err();
    assert!(
        matches!(err, ProvisionError::PortInUse { port: p } if p == port),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&port.to_string()) && msg.contains("HARNESS_PG_PORT"),
        "{msg}"
    );
}

fn fake_pg_config(sharedir: &std::path::Path, pkglibdir: &std::path::Path) -> PathBuf {
    let real = Installation::discover().unwrap();
    let dir = sharedir.parent().unwrap().to_path_buf();
    let script = dir.join("pg_config");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n --bindir) echo {};;\n --version) echo 'PostgreSQL 15.0';;\n --sharedir) echo {};;\n --pkglibdir) echo {};;\nesac\n",
            real.bindir.display(),
            sharedir.display(),
            pkglibdir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("harness-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("share/extension")).unwrap();
    std::fs::create_dir_all(d.join("lib")).unwrap();
    d
}

#[test]
fn missing_pg_binaries_name_the_fix() {
    let err = Installation::from_pg_config("/nonexistent/pg_config".into()).unwrap_err();
    assert!(matches!(err, ProvisionError::PgBinariesMissing { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("HARNESS_PG_CONFIG") && msg.contains("apt-get install postgresql"),
        "{msg}"
    );
}

#[test]
fn missing_timescaledb_names_the_install_script() {
    let d = scratch("no-tsdb");
    let cfg = fake_pg_config(&d.join("share"), &d.join("lib"));
    let msg = Installation::from_pg_config(cfg).unwrap_err().to_string();
    assert!(
        msg.contains("not installed") && msg.contains("ci/install-timescaledb"),
        "{msg}"
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn too_old_timescaledb_names_the_install_script() {
    let d = scratch("old-tsdb");
    std::fs::write(
        d.join("share/extension/timescaledb.control"),
        "default_version = '1.7.5'\n",
    )
    .unwrap();
    std::fs::write(d.join("lib/timescaledb.so"), "").unwrap();
    let cfg = fake_pg_config(&d.join("share"), &d.join("lib"));
    let msg = Installation::from_pg_config(cfg).unwrap_err().to_string();
    assert!(
        msg.contains("1.7.5")
            && msg.contains(">= 2.13.0")
            && msg.contains("ci/install-timescaledb"),
        "{msg}"
    );
    std::fs::remove_dir_all(d).unwrap();
}

fn url_of(server: &NativeServer, db: &str) -> String {
    format!(
        "postgres://postgres@localhost/{db}?host={}&port={}",
        server.socket_dir().display(),
        server.port()
    )
}

#[tokio::test]
async fn external_backend_creates_and_drops_only_its_own_databases() {
    let native = private_native();
    let url = url_of(&native, "postgres");
    let mut admin = template::admin_connection(&native).await.unwrap();
    sqlx::query("CREATE DATABASE users_own_db")
        .execute(&mut admin)
        .await
        .unwrap();
    let external: Arc<dyn Server> = Arc::new(ExternalServer::attach(&url).await.unwrap());
    let db = TestDb::on_server(external.clone(), &TemplateSpec::timescaledb_only())
        .await
        .unwrap();
    let name = db.name().to_string();
    assert!(name.starts_with(external.db_prefix()));
    drop(db);
    let names: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database ORDER BY 1")
        .fetch_all(&mut admin)
        .await
        .unwrap();
    assert!(names.contains(&"users_own_db".to_string()), "{names:?}");
    assert!(!names.contains(&name), "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with(external.db_prefix())),
        "{names:?}"
    );
    admin.close().await.unwrap();
}

#[tokio::test]
async fn external_role_without_createdb_is_refused() {
    let native = private_native();
    let mut admin = template::admin_connection(&native).await.unwrap();
    sqlx::query("CREATE ROLE reader LOGIN NOCREATEDB")
        .execute(&mut admin)
        .await
        .unwrap();
    let url = url_of(&native, "postgres").replace("postgres@", "reader@");
    let err = ExternalServer::attach(&url).await.unwrap_err();
    assert!(matches!(err, ProvisionError::NoCreateDb { .. }), "{err}");
    assert!(
        err.to_string().contains("ALTER ROLE reader CREATEDB"),
        "{err}"
    );
}

#[tokio::test]
async fn external_server_without_timescaledb_preloaded_is_refused() {
    let mut cfg = NativeConfig::from_env().unwrap();
    cfg.extra_settings
        .push(("shared_preload_libraries".into(), "".into()));
    let native = NativeServer::start(&cfg).unwrap();
    let err = ExternalServer::attach(&url_of(&native, "postgres"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::ExternalNoTimescale { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("shared_preload_libraries"),
        "{err}"
    );
}
