//! The native backend: a private PostgreSQL cluster started from the local server binaries.
//!
//! Layout under `<base>/harness-pg/` (base = `/dev/shm` when it is a writable tmpfs, else the
//! temp dir):
//! * `cache/initdb-<pg version>-<key>/`: one `initdb` result per PostgreSQL version, copied
//!   for every new server instead of re-running initdb (about 1 s saved per server);
//! * `run/<pid>-<n>/`: one server: `data/`, its unix socket, `owner` (pid and start time of
//!   the process that owns it), `server.log`, and `keep` when a failed test's database must
//!   outlive the process.
//!
//! A server is stopped and its directory removed when the [`NativeServer`] drops. Because a
//! process-wide server lives in a `static` (never dropped) and a test process may be killed,
//! each server also gets a guardian: a tiny `sh` that waits on a pipe from this process and,
//! when the pipe closes for any reason (exit, panic, SIGKILL), stops the server and removes its
//! directory. Servers whose owner died anyway (guardian killed too) are reaped at next start.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use tracing::{debug, info, warn};

use super::{release_guardian, BackendKind, Guardian, Server, MIN_TIMESCALEDB, SERVER_SETTINGS};
use crate::error::{io, ProvisionError, Result};

/// The admin role created by initdb.
pub const SUPERUSER: &str = "postgres";

/// Where the local PostgreSQL and TimescaleDB live.
#[derive(Debug, Clone)]
pub struct Installation {
    /// `pg_config` used.
    pub pg_config: PathBuf,
    /// Server binaries (`initdb`, `postgres`).
    pub bindir: PathBuf,
    /// Full version string, e.g. `PostgreSQL 15.18 (Debian ...)`.
    pub pg_version: String,
    /// Major version, e.g. `15`.
    pub pg_major: String,
    /// TimescaleDB default version from its control file.
    pub timescaledb_version: String,
}

impl Installation {
    /// Locate the server binaries (via `HARNESS_PG_CONFIG` or `pg_config` on PATH) and check
    /// that TimescaleDB is installed for them and recent enough.
    pub fn discover() -> Result<Self> {
        let pg_config = match std::env::var_os("HARNESS_PG_CONFIG") {
            Some(p) => PathBuf::from(p),
            None => which("pg_config").ok_or_else(|| ProvisionError::PgBinariesMissing {
                detail: "no pg_config on PATH".into(),
            })?,
        };
        Self::from_pg_config(pg_config)
    }

    /// Like [`Installation::discover`], from a given `pg_config`.
    pub fn from_pg_config(pg_config: PathBuf) -> Result<Self> {
        let q = |flag: &str| -> Result<String> {
            let out = Command::new(&pg_config).arg(flag).output().map_err(|e| {
                ProvisionError::PgBinariesMissing {
                    detail: format!("{} {flag}: {e}", pg_config.display()),
                }
            })?;
            if !out.status.success() {
                return Err(ProvisionError::PgBinariesMissing {
                    detail: format!("{} {flag} exited {}", pg_config.display(), out.status),
                });
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let bindir = PathBuf::from(q("--bindir")?);
        let pg_version = q("--version")?;
        let sharedir = PathBuf::from(q("--sharedir")?);
        let pkglibdir = PathBuf::from(q("--pkglibdir")?);
        for bin in ["postgres", "initdb"] {
            if !bindir.join(bin).is_file() {
                return Err(ProvisionError::PgBinariesMissing {
                    detail: format!(
                        "{} has no {bin} (only the client is installed?)",
                        bindir.display()
                    ),
                });
            }
        }
        // The server binary's own version keys the initdb cache: a -dev package's pg_config
        // can be newer than the installed server.
        let pg_version = Command::new(bindir.join("postgres"))
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
                v.strip_prefix("postgres (PostgreSQL) ")
                    .map(|rest| format!("PostgreSQL {rest}"))
                    .unwrap_or(v)
            })
            .unwrap_or(pg_version);
        let pg_major = pg_version
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.split('.').next())
            .unwrap_or_default()
            .to_string();
        let control = sharedir.join("extension/timescaledb.control");
        let found = fs::read_to_string(&control)
            .ok()
            .and_then(|t| control_default_version(&t))
            .filter(|_| pkglibdir.join("timescaledb.so").is_file());
        let timescaledb_version = match found {
            Some(v) if super::version_at_least(&v, MIN_TIMESCALEDB) => v,
            other => {
                return Err(ProvisionError::TimescaleMissing {
                    found: other.unwrap_or_else(|| "not installed".into()),
                    min: MIN_TIMESCALEDB,
                    pg_major,
                    path: control,
                })
            }
        };
        Ok(Self {
            pg_config,
            bindir,
            pg_version,
            pg_major,
            timescaledb_version,
        })
    }

    /// Numeric server version (`15.18`), used to key the initdb cache.
    pub fn short_version(&self) -> &str {
        self.pg_version
            .split_whitespace()
            .nth(1)
            .unwrap_or("unknown")
    }
}

fn control_default_version(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("default_version")?;
        let v = rest.trim_start().strip_prefix('=')?.trim();
        Some(v.trim_matches('\'').to_string())
    })
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}

/// The OS user the server runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// uid
    pub uid: u32,
    /// gid
    pub gid: u32,
}

/// Settings of the native backend.
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// Local binaries.
    pub install: Installation,
    /// `<base>/harness-pg`.
    pub root: PathBuf,
    /// Whether `root` is on tmpfs.
    pub tmpfs: bool,
    /// Fixed port (`HARNESS_PG_PORT`), else a free one is picked.
    pub port: Option<u16>,
    /// Set when running as root: the unprivileged user to run the server as.
    pub run_as: Option<RunAs>,
    /// Settings applied after [`SERVER_SETTINGS`] (later wins), e.g. for tests of bad setups.
    pub extra_settings: Vec<(String, String)>,
}

impl NativeConfig {
    /// Discover everything from the environment.
    pub fn from_env() -> Result<Self> {
        let install = Installation::discover()?;
        let (base, tmpfs) = base_dir();
        let port =
            match std::env::var("HARNESS_PG_PORT") {
                Ok(p) if !p.trim().is_empty() => Some(p.trim().parse::<u16>().map_err(|_| {
                    ProvisionError::PgBinariesMissing {
                        detail: format!("HARNESS_PG_PORT={p} is not a port number"),
                    }
                })?),
                _ => None,
            };
        let run_as = if is_root() {
            let user = std::env::var("HARNESS_PG_USER").unwrap_or_else(|_| "postgres".into());
            Some(lookup_user(&user).ok_or(ProvisionError::NoUnprivilegedUser { user })?)
        } else {
            None
        };
        Ok(Self {
            install,
            root: base.join("harness-pg"),
            tmpfs,
            port,
            run_as,
            extra_settings: Vec::new(),
        })
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let cname = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns NULL or a pointer to a static passwd record, read at once
    // (harness start-up is not racing other getpw* callers).
    let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: pw is non-null and points at a valid passwd struct.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    (uid != 0).then_some(RunAs { uid, gid })
}

/// `/dev/shm` when it is a writable directory (tmpfs on Linux), else the temp dir.
pub fn base_dir() -> (PathBuf, bool) {
    if let Some(b) = std::env::var_os("HARNESS_PG_BASE_DIR") {
        let p = PathBuf::from(b);
        let tmpfs = is_tmpfs(&p);
        return (p, tmpfs);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && writable(shm) {
        return (shm.to_path_buf(), is_tmpfs(shm));
    }
    let tmp = std::env::temp_dir();
    let tmpfs = is_tmpfs(&tmp);
    (tmp, tmpfs)
}

fn writable(p: &Path) -> bool {
    let probe = p.join(format!(".harness-probe-{}", std::process::id()));
    let ok = fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(&probe);
    ok
}

/// True when `p` lies on a tmpfs mount (read from /proc/mounts; false where unknown).
pub fn is_tmpfs(p: &Path) -> bool {
    let Ok(mounts) = fs::read_to_string("/proc/mounts") else {
        return false;
    };
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let _dev = f.next()?;
            let mnt = f.next()?;
            let fstype = f.next()?;
            Some((PathBuf::from(mnt), fstype.to_string()))
        })
        .filter(|(mnt, _)| p.starts_with(mnt))
        .max_by_key(|(mnt, _)| mnt.as_os_str().len())
        .is_some_and(|(_, t)| t == "tmpfs")
}

/// A running private PostgreSQL server.
pub struct NativeServer {
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
    guardian: Guardian,
    prefix: String,
    cfg: NativeConfig,
    /// Wall time from "start" to "accepting connections".
    pub startup: Duration,
}

impl std::fmt::Debug for NativeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeServer")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish()
    }
}

static SERVER_SEQ: AtomicU32 = AtomicU32::new(0);

impl NativeServer {
    /// Start a fresh server from the cached initdb (creating the cache first if needed).
    pub fn start(cfg: &NativeConfig) -> Result<Self> {
        let t0 = Instant::now();
        mkdir_shared(&cfg.root)?;
        let run_root = cfg.root.join("run");
        mkdir_shared(&run_root)?;
        reap_stale(&run_root);
        let cached = ensure_initdb_cache(cfg)?;

        let n = SERVER_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = run_root.join(format!("{}-{n}", std::process::id()));
        if dir.exists() {
            // a previous process with our pid (pid reuse) left it: it is ours to reclaim
            stop_and_remove(&dir);
        }
        fs::create_dir(&dir).map_err(io("create server directory", &dir))?;
        fs::write(dir.join("owner"), owner_stamp(std::process::id()))
            .map_err(io("write owner file", &dir))?;
        let data = dir.join("data");
        let cp = Command::new("cp")
            .arg("-a")
            .arg(&cached)
            .arg(&data)
            .output()
            .map_err(io("copy cached initdb", &data))?;
        if !cp.status.success() {
            return Err(ProvisionError::Initdb {
                dir: data,
                detail: format!(
                    "cp -a from cache failed: {}",
                    String::from_utf8_lossy(&cp.stderr).trim()
                ),
            });
        }
        chown_to(cfg.run_as, &dir)?;

        let attempts = if cfg.port.is_some() { 1 } else { 5 };
        let mut last_err = None;
        for _ in 0..attempts {
            let port = match cfg.port {
                Some(p) => {
                    if TcpListener::bind(("127.0.0.1", p)).is_err() {
                        stop_and_remove(&dir);
                        return Err(ProvisionError::PortInUse { port: p });
                    }
                    p
                }
                None => free_port().map_err(io("pick a free loopback port", &dir))?,
            };
            match spawn_postgres(cfg, &dir, port) {
                Ok(child) => {
                    let guardian = spawn_guardian(&dir, child.id());
                    let mut server = Self {
                        dir: dir.clone(),
                        port,
                        child: Mutex::new(Some(child)),
                        guardian: Mutex::new(guardian),
                        prefix: format!("harness_{}_", super::run_id()),
                        cfg: cfg.clone(),
                        startup: Duration::ZERO,
                    };
                    match server.wait_ready() {
                        Ok(()) => {
                            server.startup = t0.elapsed();
                            info!(dir = %dir.display(), port, ms = server.startup.as_millis(), "native server ready");
                            return Ok(server);
                        }
                        Err(e @ ProvisionError::PortInUse { .. }) if cfg.port.is_none() => {
                            // lost a race for the port we picked: try another
                            server.stop_inner(false);
                            last_err = Some(e);
                            continue;
                        }
                        Err(e) => {
                            server.stop_inner(true);
                            return Err(e);
                        }
                    }
                }
                Err(e) => {
                    stop_and_remove(&dir);
                    return Err(e);
                }
            }
        }
        stop_and_remove(&dir);
        Err(last_err.unwrap_or(ProvisionError::PortInUse {
            port: cfg.port.unwrap_or(0),
        }))
    }

    /// Socket directory (also the server directory).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Crash the server and start it again on the same data and port: an immediate shutdown
    /// (SIGQUIT to the postmaster, as `pg_ctl stop -m immediate`: every backend dies at once,
    /// no checkpoint), then a start that runs crash recovery. Connections die; committed data
    /// survives, uncommitted work is gone, as after a real crash.
    pub fn crash_and_restart(&self) -> Result<()> {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            quit(&mut child);
        }
        release_guardian(&self.guardian);
        // A pid file left behind would say "ready" before the new server is.
        let _ = fs::remove_file(self.dir.join("data/postmaster.pid"));
        let child = spawn_postgres(&self.cfg, &self.dir, self.port)?;
        let pid = child.id();
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        *self.guardian.lock().unwrap_or_else(|p| p.into_inner()) = spawn_guardian(&self.dir, pid);
        self.wait_ready()?;
        info!(dir = %self.dir.display(), port = self.port, "native server crashed and restarted");
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Poll the postmaster.pid status line ("ready") rather than sleeping in pg_ctl's 100 ms
    /// steps; a child that exits early is diagnosed from its log.
    fn wait_ready(&self) -> Result<()> {
        let pidfile = self.dir.join("data/postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut sleep = Duration::from_micros(500);
        loop {
            if let Ok(text) = fs::read_to_string(&pidfile) {
                // line 8 is the postmaster status: "starting", "ready", ...
                if text.lines().nth(7).map(str::trim) == Some("ready") {
                    return Ok(());
                }
            }
            let exited = {
                let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
                match guard.as_mut().map(|c| c.try_wait()) {
                    Some(Ok(Some(status))) => Some(status.to_string()),
                    Some(Ok(None)) => None,
                    Some(Err(e)) => Some(e.to_string()),
                    None => Some("no child".into()),
                }
            };
            if let Some(status) = exited {
                let tail = self.log_tail();
                if tail.contains("Address already in use") {
                    return Err(ProvisionError::PortInUse { port: self.port });
                }
                return Err(ProvisionError::ServerStart {
                    cause: format!("postgres exited: {status}"),
                    log: self.log_path(),
                    log_tail: tail,
                });
            }
            if Instant::now() > deadline {
                return Err(ProvisionError::ServerStart {
                    cause: "not ready after 60 s".into(),
                    log: self.log_path(),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(5));
        }
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(self.log_path()) {
            let _ = f.read_to_string(&mut s);
        }
        let lines: Vec<&str> = s.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    fn stop_inner(&self, remove: bool) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            quit(&mut child);
        }
        if remove {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!(dir = %self.dir.display(), error = %e, "could not remove server directory");
                }
            }
        }
        // The guardian's work is done: tell it to exit without touching anything.
        release_guardian(&self.guardian);
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        if self.dir.join("keep").exists() {
            info!(dir = %self.dir.display(), "keeping server: a failed test's database lives here");
            release_guardian(&self.guardian);
            return;
        }
        self.stop_inner(true);
    }
}

impl Server for NativeServer {
    fn kind(&self) -> BackendKind {
        BackendKind::Native
    }

    fn connect_options(&self, db: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.dir)
            .port(self.port)
            .username(SUPERUSER)
            .database(db)
    }

    fn display_url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    fn db_prefix(&self) -> &str {
        &self.prefix
    }

    fn keep_after_exit(&self) {
        let _ = fs::write(self.dir.join("keep"), b"");
    }

    fn data_dir(&self) -> Option<PathBuf> {
        Some(self.dir.join("data"))
    }
}

fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

fn spawn_postgres(cfg: &NativeConfig, dir: &Path, port: u16) -> Result<Child> {
    let log = fs::File::create(dir.join("server.log")).map_err(io("create server log", dir))?;
    let log2 = log.try_clone().map_err(io("dup server log", dir))?;
    chown_to(cfg.run_as, &dir.join("server.log"))?;
    let mut cmd = Command::new(cfg.install.bindir.join("postgres"));
    cmd.arg("-D")
        .arg(dir.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir)
        .arg("-c")
        .arg("listen_addresses=127.0.0.1");
    for (k, v) in SERVER_SETTINGS {
        cmd.arg("-c").arg(format!("{k}={v}"));
    }
    for (k, v) in &cfg.extra_settings {
        cmd.arg("-c").arg(format!("{k}={v}"));
    }
    cmd.stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // own process group: a Ctrl-C meant for the test runner must not race our shutdown
        .process_group(0);
    if let Some(r) = cfg.run_as {
        // std drops root's supplementary groups (setgroups(0)) before setuid
        cmd.uid(r.uid).gid(r.gid);
    }
    debug!(?cmd, "spawning postgres");
    cmd.spawn()
        .map_err(io("spawn postgres", &cfg.install.bindir))
}

/// The guardian stops the server and removes its directory when our end of its stdin closes
/// without a "done" line, i.e. when this process is gone however it went; it leaves a server
/// marked `keep` running.
fn spawn_guardian(dir: &Path, pid: u32) -> Option<(Child, ChildStdin)> {
    const SCRIPT: &str = r#"
read line
[ "$line" = done ] && exit 0
[ -e "$2/keep" ] && exit 0
kill -QUIT "$1" 2>/dev/null
i=0
# a zombie (exited, not reaped: PID 1 of a container may never reap orphans) is gone
while kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 /proc/"$1"/stat 2>/dev/null)" != Z ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
kill -KILL "$1" 2>/dev/null
rm -rf "$2"
"#;
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("harness-guardian")
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    match spawned {
        Ok(mut child) => child.stdin.take().map(|stdin| (child, stdin)),
        Err(e) => {
            warn!(error = %e, "no guardian process: a killed test process would leave its server to the next run's reaper");
            None
        }
    }
}

/// Immediate shutdown of a postmaster (SIGQUIT), SIGKILL after 10 s, reaped either way.
fn quit(child: &mut Child) {
    send_signal(child.id() as i32, libc::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

fn send_signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence/permission.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
        && !is_zombie(pid)
}

/// A process that exited but was not reaped (its parent died and PID 1 of a container need
/// not reap orphans) still answers signal 0: it must count as gone, or its server directory
/// would never be reaped.
fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false)
}

/// `<pid> <start time in clock ticks>`: the start time tells a live owner from a reused pid.
pub(crate) fn owner_stamp(pid: u32) -> String {
    format!("{pid} {}", proc_start_time(pid).unwrap_or_default())
}

fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the parenthesised command name; starttime is field 22 overall
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

pub(crate) fn owner_alive(stamp: &str) -> bool {
    let mut f = stamp.split_whitespace();
    let Some(pid) = f.next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    let start: u64 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if !pid_alive(pid as i32) {
        return false;
    }
    // a live pid whose start time cannot be read (another user's, under /proc hidepid) is
    // taken as the owner: never judged dead on what cannot be seen
    match proc_start_time(pid) {
        Some(now) => start == 0 || now == start,
        None => true,
    }
}

/// Remove run directories whose owning process is gone, stopping their servers first.
/// Directories marked `keep` hold a failed test's database and are left for `harness reap`.
pub fn reap_stale(run_root: &Path) -> usize {
    reap(run_root, false)
}

/// Stop every server under `run_root` whose owner is gone, including kept ones.
pub fn reap_all(run_root: &Path) -> usize {
    reap(run_root, true)
}

fn reap(run_root: &Path, include_kept: bool) -> usize {
    let Ok(entries) = fs::read_dir(run_root) else {
        return 0;
    };
    let mut reaped = 0;
    for e in entries.flatten() {
        let dir = e.path();
        let stamp = fs::read_to_string(dir.join("owner")).unwrap_or_default();
        let alive = if stamp.trim().is_empty() {
            // Not stamped yet: its owner writes `owner` right after creating the directory, and
            // another process's reaper may look in between. The pid in the name decides then.
            dir_pid(&dir).is_some_and(|pid| pid_alive(pid as i32))
        } else {
            owner_alive(&stamp)
        };
        if alive {
            continue;
        }
        if dir.join("keep").exists() && !include_kept {
            continue;
        }
        info!(dir = %dir.display(), "reaping stale server directory");
        stop_and_remove(&dir);
        reaped += 1;
    }
    reaped
}

/// The creating process's pid from a run directory's name (`<pid>-<n>`).
fn dir_pid(dir: &Path) -> Option<u32> {
    dir.file_name()?.to_str()?.split_once('-')?.0.parse().ok()
}

/// Stop the postmaster recorded in `dir/data/postmaster.pid` (if it is one) and remove `dir`.
fn stop_and_remove(dir: &Path) {
    let pidfile = dir.join("data/postmaster.pid");
    if let Some(pid) = fs::read_to_string(&pidfile)
        .ok()
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
    {
        let is_postgres = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("postgres"))
            .unwrap_or(false);
        if is_postgres {
            send_signal(pid, libc::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if pid_alive(pid) {
                send_signal(pid, libc::SIGKILL);
            }
        }
    }
    let _ = fs::remove_dir_all(dir);
}

/// Directories every run (and the unprivileged server user) may enter; sticky like /tmp.
fn mkdir_shared(p: &Path) -> Result<()> {
    if !p.is_dir() {
        fs::create_dir_all(p).map_err(io("create directory", p))?;
        let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o1777));
    }
    Ok(())
}

fn chown_to(run_as: Option<RunAs>, p: &Path) -> Result<()> {
    let Some(r) = run_as else { return Ok(()) };
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", r.uid, r.gid))
        .arg(p)
        .output()
        .map_err(io("chown to server user", p))?;
    if !out.status.success() {
        return Err(ProvisionError::Io {
            what: "chown to server user",
            path: p.to_path_buf(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    Ok(())
}

/// The cached initdb cluster for this PostgreSQL version, created on first use. Creation goes
/// to a private temp dir renamed into place, so concurrent processes never see half a cluster.
fn ensure_initdb_cache(cfg: &NativeConfig) -> Result<PathBuf> {
    let cache_root = cfg.root.join("cache");
    mkdir_shared(&cache_root)?;
    // The key covers what initdb bakes in: version, superuser, auth, locale, and the owner.
    let owner = cfg.run_as.map(|r| r.uid).unwrap_or_else(|| {
        // SAFETY: geteuid cannot fail.
        unsafe { libc::geteuid() }
    });
    let name = format!(
        "initdb-{}-u{owner}-{SUPERUSER}-trust-C-utf8",
        cfg.install.short_version()
    );
    let target = cache_root.join(&name);
    if target.join("PG_VERSION").is_file() {
        return Ok(target);
    }
    let tmp = cache_root.join(format!(".{name}.{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(io("create initdb temp dir", &tmp))?;
    chown_to(cfg.run_as, &tmp)?;
    let data = tmp.join("data");
    let mut cmd = Command::new(cfg.install.bindir.join("initdb"));
    cmd.arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        ])
        .args(["--encoding=UTF8", "--locale=C"]);
    if let Some(r) = cfg.run_as {
        // std drops root's supplementary groups (setgroups(0)) before setuid
        cmd.uid(r.uid).gid(r.gid);
    }
    let t0 = Instant::now();
    let out = cmd.output().map_err(io("run initdb", &data))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(ProvisionError::Initdb {
            dir: data,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    info!(ms = t0.elapsed().as_millis(), cache = %target.display(), "initdb cached");
    match fs::rename(&data, &target) {
        Ok(()) => {}
        Err(_) if target.join("PG_VERSION").is_file() => {} // another process won the race
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(ProvisionError::Io {
                what: "move initdb into cache",
                path: target,
                source: e,
            });
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_file_version_is_read() {
        let t = "# TimescaleDB\ncomment = 'x'\ndefault_version = '2.19.3'\nmodule_pathname = '$libdir/timescaledb-2.19.3'\n";
        assert_eq!(control_default_version(t).as_deref(), Some("2.19.3"));
        assert_eq!(control_default_version("comment = 'x'"), None);
    }

    #[test]
    fn own_process_is_alive_and_a_fake_stamp_is_not() {
        let me = owner_stamp(std::process::id());
        assert!(owner_alive(&me));
        // same pid, different start time: a reused pid is not the owner
        assert!(!owner_alive(&format!("{} 1", std::process::id())));
        assert!(!owner_alive("garbage"));
    }

    #[test]
    fn reaper_removes_dead_owner_dirs_and_keeps_live_and_kept_ones() {
        let root = std::env::temp_dir().join(format!("harness-reap-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let dead = root.join("dead");
        let live = root.join("live");
        let kept = root.join("kept");
        for d in [&dead, &live, &kept] {
            fs::create_dir_all(d.join("data")).unwrap();
        }
        // pid 0 is never a live owner
        fs::write(dead.join("owner"), "0 0").unwrap();
        fs::write(kept.join("owner"), "0 0").unwrap();
        fs::write(kept.join("keep"), "").unwrap();
        fs::write(live.join("owner"), owner_stamp(std::process::id())).unwrap();
        // Created but not stamped yet (another process's reaper can look in between): the
        // pid in the name is alive, so it stays; an unstamped one named after pid 0 goes.
        let unstamped_live = root.join(format!("{}-77", std::process::id()));
        let unstamped_dead = root.join("0-77");
        for d in [&unstamped_live, &unstamped_dead] {
            fs::create_dir_all(d).unwrap();
        }
        assert_eq!(reap_stale(&root), 2);
        assert!(!dead.exists());
        assert!(!unstamped_dead.exists());
        assert!(live.exists());
        assert!(unstamped_live.exists());
        assert!(kept.exists());
        assert_eq!(reap_all(&root), 1);
        assert!(!kept.exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
