//! Docker engine connection and facts: connecting (honouring `DOCKER_HOST`), API-version
//! negotiation, engine info for preflight and the bundle, and root-cause reporting of errors.

use std::error::Error as StdError;
use std::path::Path;

use bollard::Docker;
use serde::Serialize;

/// Default engine address when `DOCKER_HOST` is not set.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";
/// Request timeout (seconds) for engine calls; image imports and log streams can be slow.
pub const REQUEST_TIMEOUT_SECS: u64 = 600;

/// A connected Docker engine: the bollard client plus the address it was reached at.
#[derive(Debug, Clone)]
pub struct Engine {
    client: Docker,
    host: String,
}

/// Facts about the Docker engine, as recorded by preflight and in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    /// Address the engine was reached at (`unix:///var/run/docker.sock`, `tcp://...`).
    pub host: String,
    /// Engine (server) version, e.g. `20.10.24+dfsg1`.
    pub server_version: String,
    /// Highest API version the engine speaks, e.g. `1.41`.
    pub api_version: String,
    /// Lowest API version the engine accepts.
    pub min_api_version: String,
    /// Operating system description, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub operating_system: String,
    /// `linux` or `windows`.
    pub os_type: String,
    /// CPU architecture, e.g. `x86_64`.
    pub architecture: String,
    /// Kernel version of the engine host.
    pub kernel_version: String,
    /// `1` or `2` (empty when the engine does not say).
    pub cgroup_version: String,
    /// `cgroupfs`, `systemd` or `none` (empty when the engine does not say).
    pub cgroup_driver: String,
    /// Storage driver, e.g. `overlay2`.
    pub storage_driver: String,
    /// Engine data root, e.g. `/var/lib/docker`.
    pub docker_root_dir: String,
    /// Total memory of the engine host in bytes.
    pub mem_total_bytes: u64,
    /// CPUs of the engine host.
    pub ncpu: u64,
    /// Security options (sorted), e.g. `name=seccomp,profile=default`.
    pub security_options: Vec<String>,
}

/// Connecting to the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing answered at the address (missing socket, refused connection, permission denied).
    #[error("cannot reach the Docker engine at {host}: {cause} — start Docker or set DOCKER_HOST")]
    Unreachable {
        /// Address tried.
        host: String,
        /// Root cause, already walked down the source chain.
        cause: String,
        /// The underlying error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The address is not one bollard can use.
    #[error("DOCKER_HOST={host} is not a usable Docker address: {cause} — use unix:///path/to/docker.sock or tcp://host:port")]
    BadHost {
        /// Address given.
        host: String,
        /// Root cause.
        cause: String,
        /// The underlying error.
        #[source]
        source: bollard::errors::Error,
    },
}

/// Reading engine info failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineInfoError {
    /// `GET /info` or `GET /version` failed.
    #[error("cannot read engine info from the Docker engine at {host} ({step}): {cause}")]
    Request {
        /// Address of the engine.
        host: String,
        /// `info` or `version`.
        step: &'static str,
        /// Root cause.
        cause: String,
        /// The underlying error.
        #[source]
        source: bollard::errors::Error,
    },
}

/// The engine address: `DOCKER_HOST` when set and non-empty, else [`DEFAULT_DOCKER_HOST`].
pub fn docker_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => DEFAULT_DOCKER_HOST.to_string(),
    }
}

/// Connect to the engine named by `DOCKER_HOST` (or the default socket) and negotiate the API
/// version down to what the engine speaks (Docker 20.10 speaks API 1.41).
pub async fn connect() -> Result<Engine, ConnectError> {
    connect_to(&docker_host()).await
}

/// Connect to the engine at `host` (`unix://...`, `tcp://...`, `http://...`) and negotiate the
/// API version. Fails with the root cause when nothing answers.
pub async fn connect_to(host: &str) -> Result<Engine, ConnectError> {
    let host = if host.starts_with('/') {
        format!("unix://{host}")
    } else {
        host.to_string()
    };
    if let Some(path) = host.strip_prefix("unix://") {
        // bollard only says "socket not found"; ask the OS for the real reason.
        if let Err(e) = std::fs::metadata(Path::new(path)) {
            return Err(ConnectError::Unreachable {
                cause: e.to_string(),
                host,
                source: Box::new(e),
            });
        }
    }
    let client = Docker::connect_with_host(&host).map_err(|e| ConnectError::BadHost {
        cause: root_cause(&e),
        host: host.clone(),
        source: e,
    })?;
    let client = client.with_timeout(std::time::Duration::from_secs(REQUEST_TIMEOUT_SECS));
    let client = client
        .negotiate_version()
        .await
        .map_err(|e| ConnectError::Unreachable {
            cause: root_cause(&e),
            host: host.clone(),
            source: Box::new(e),
        })?;
    Ok(Engine { client, host })
}

impl Engine {
    /// The bollard client (API version already negotiated).
    pub fn client(&self) -> &Docker {
        &self.client
    }

    /// The address the engine was reached at.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Engine facts from `GET /info` and `GET /version`.
    pub async fn info(&self) -> Result<EngineInfo, EngineInfoError> {
        engine_info(self).await
    }
}

/// Engine facts from `GET /info` and `GET /version`.
pub async fn engine_info(engine: &Engine) -> Result<EngineInfo, EngineInfoError> {
    let req_err = |step: &'static str| {
        let host = engine.host.clone();
        move |e: bollard::errors::Error| EngineInfoError::Request {
            host,
            step,
            cause: root_cause(&e),
            source: e,
        }
    };
    let info = engine.client.info().await.map_err(req_err("info"))?;
    let version = engine.client.version().await.map_err(req_err("version"))?;
    let mut security_options = info.security_options.unwrap_or_default();
    security_options.sort();
    Ok(EngineInfo {
        host: engine.host.clone(),
        server_version: version.version.or(info.server_version).unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        min_api_version: version.min_api_version.unwrap_or_default(),
        operating_system: info.operating_system.unwrap_or_default(),
        os_type: info.os_type.unwrap_or_default(),
        architecture: info.architecture.unwrap_or_default(),
        kernel_version: info.kernel_version.unwrap_or_default(),
        cgroup_version: info
            .cgroup_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
        cgroup_driver: info
            .cgroup_driver
            .map(|v| v.to_string())
            .unwrap_or_default(),
        storage_driver: info.driver.unwrap_or_default(),
        docker_root_dir: info.docker_root_dir.unwrap_or_default(),
        mem_total_bytes: info.mem_total.map_or(0, |m| u64::try_from(m).unwrap_or(0)),
        ncpu: info.ncpu.map_or(0, |n| u64::try_from(n).unwrap_or(0)),
        security_options,
    })
}

/// The innermost error of a source chain, as text: what actually went wrong
/// (e.g. `No such file or directory (os error 2)`).
pub fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut cur: &(dyn StdError + 'static) = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Every message of a source chain, outermost first, with consecutive duplicates dropped.
pub fn error_chain(err: &(dyn StdError + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        if out.last() != Some(&msg) {
            out.push(msg);
        }
        cur = e.source();
    }
    out
}

/// Whether tests must fail (rather than skip) when no Docker engine answers:
/// `MESHPROOF_REQUIRE_DOCKER=1`.
pub fn docker_required() -> bool {
    std::env::var(crate::REQUIRE_DOCKER_ENV).is_ok_and(|v| v.trim() == "1")
}

/// The one gate for tests that need a real Docker engine: returns the engine when one answers;
/// otherwise prints a skip message and returns `None` — or panics when
/// `MESHPROOF_REQUIRE_DOCKER=1` (CI), so a missing engine fails there instead of skipping.
pub async fn engine_for_tests(test: &str) -> Option<Engine> {
    match connect().await {
        Ok(engine) => Some(engine),
        Err(e) if docker_required() => {
            panic!(
                "{test}: {}=1 but no Docker engine answers: {e}",
                crate::REQUIRE_DOCKER_ENV
            )
        }
        Err(e) => {
            eprintln!("SKIP {test}: no Docker engine answers ({e})");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_socket_names_address_and_root_cause() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("nope.sock");
        let host = format!("unix://{}", sock.display());
        let err = connect_to(&host).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("cannot reach the Docker engine at {host}: ")),
            "{msg}"
        );
        assert!(
            msg.contains("No such file or directory (os error 2)"),
            "{msg}"
        );
        assert!(msg.ends_with("— start Docker or set DOCKER_HOST"), "{msg}");
        assert_eq!(root_cause(&err), "No such file or directory (os error 2)");
    }

    #[tokio::test]
    async fn socket_that_is_not_a_server_reports_refusal() {
        // A plain file where the socket should be: the OS refuses the connection.
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("not-a-socket");
        std::fs::write(&sock, b"").unwrap();
        let err = connect_to(&format!("unix://{}", sock.display()))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot reach the Docker engine at unix://"),
            "{msg}"
        );
        assert!(msg.contains("os error"), "{msg}");
    }

    #[test]
    fn error_chain_drops_duplicates() {
        let io = std::io::Error::other("inner");
        let outer = ConnectError::Unreachable {
            host: "unix:///x".into(),
            cause: "inner".into(),
            source: Box::new(io),
        };
        let chain = error_chain(&outer);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1], "inner");
    }
}
