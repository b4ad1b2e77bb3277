//! Docker engine connection and facts: resolving the engine the `docker` CLI would use (once,
//! so bollard and kind talk to the same one), connecting, API-version negotiation, engine info
//! for preflight and the bundle, and root-cause reporting of errors.
//!
//! The engine is chosen as the docker CLI chooses it (docker/cli `resolveContextName`): a
//! non-empty `DOCKER_HOST`, else the context named by `DOCKER_CONTEXT`, else `currentContext`
//! of `config.json` (in `DOCKER_CONFIG` or `~/.docker`), else the default socket. A context's
//! endpoint is read from the CLI's store, `contexts/meta/<sha256 of the name>/meta.json`
//! (`Endpoints.docker.Host`). kind runs `docker` itself; meshproof passes it the resolved
//! address as `DOCKER_HOST` (and removes `DOCKER_CONTEXT`), so on Docker Desktop, colima or
//! OrbStack both reach the engine the user's context names.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

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
    source: String,
}

/// The Docker client settings of the environment (what the `docker` CLI would read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerEnv {
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<String>,
    /// The CLI's configuration directory: `DOCKER_CONFIG`, else `$HOME/.docker`.
    pub config_dir: Option<PathBuf>,
}

impl DockerEnv {
    /// Read from this process's environment.
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            docker_host: var("DOCKER_HOST").map(|h| h.trim().to_string()),
            docker_context: var("DOCKER_CONTEXT").map(|h| h.trim().to_string()),
            config_dir: var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".docker"))),
        }
    }
}

/// The engine address to use and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedEngine {
    /// `unix:///…` or `tcp://…`.
    pub host: String,
    /// Where it came from, for messages: `DOCKER_HOST`, `docker context colima (DOCKER_CONTEXT)`,
    /// `docker context colima (currentContext in /home/u/.docker/config.json)`, `default socket`.
    pub source: String,
}

/// The active Docker context cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context's metadata is not in the CLI's store.
    #[error("docker context {name:?} ({from}) is not in the docker CLI's context store: cannot read {path}: {source} — run `docker context ls`, or set DOCKER_HOST")]
    Missing {
        /// Context name.
        name: String,
        /// Where its name came from.
        from: String,
        /// The metadata file looked for.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata is not what the docker CLI writes.
    #[error(
        "docker context {name:?}: {path} has no docker endpoint host ({reason}) — set DOCKER_HOST"
    )]
    Unreadable {
        /// Context name.
        name: String,
        /// The metadata file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// `config.json` exists but cannot be read as JSON.
    #[error(
        "cannot read the docker CLI configuration {path}: {reason} — fix it, or set DOCKER_HOST"
    )]
    Config {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// The default context's name in the docker CLI.
pub const DEFAULT_CONTEXT: &str = "default";

/// Resolve the engine the `docker` CLI would use in `env` (see the module documentation).
pub fn resolve_engine(env: &DockerEnv) -> Result<ResolvedEngine, ContextError> {
    if let Some(host) = &env.docker_host {
        return Ok(ResolvedEngine {
            host: host.clone(),
            source: "DOCKER_HOST".into(),
        });
    }
    let default = || ResolvedEngine {
        host: DEFAULT_DOCKER_HOST.to_string(),
        source: "default socket".into(),
    };
    let (name, from) = match &env.docker_context {
        Some(name) => (name.clone(), "DOCKER_CONTEXT".to_string()),
        None => {
            let Some(dir) = &env.config_dir else {
                return Ok(default());
            };
            let path = dir.join("config.json");
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(default()),
                Err(e) => {
                    return Err(ContextError::Config {
                        path,
                        reason: e.to_string(),
                    })
                }
            };
            let config: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| ContextError::Config {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            match config.get("currentContext").and_then(|v| v.as_str()) {
                Some(name) if !name.is_empty() => (
                    name.to_string(),
                    format!("currentContext in {}", path.display()),
                ),
                _ => return Ok(default()),
            }
        }
    };
    if name == DEFAULT_CONTEXT {
        return Ok(default());
    }
    let dir = env.config_dir.clone().unwrap_or_default();
    let path = dir
        .join("contexts")
        .join("meta")
        .join(sha256_hex(name.as_bytes()))
        .join("meta.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ContextError::Missing {
        name: name.clone(),
        from: from.clone(),
        path: path.clone(),
        source,
    })?;
    let unreadable = |reason: String| ContextError::Unreadable {
        name: name.clone(),
        path: path.clone(),
        reason,
    };
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    let host = meta
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| unreadable("no Endpoints.docker.Host".into()))?;
    Ok(ResolvedEngine {
        host: host.to_string(),
        source: format!("docker context {name} ({from})"),
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    /// The active Docker context could not be resolved.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The address is one meshproof's Docker client cannot reach (ssh, npipe).
    #[error("the Docker engine at {host} ({source_name}) cannot be reached by meshproof: only unix:// sockets and tcp:// without TLS are supported — point DOCKER_HOST at a local socket (e.g. one forwarded by `ssh -L`)")]
    Unsupported {
        /// The address.
        host: String,
        /// Where it came from.
        source_name: String,
    },
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

/// The engine address the environment names (see [`resolve_engine`]); the default socket when
/// the active context cannot be read (connecting reports that error).
pub fn docker_host() -> String {
    resolve_engine(&DockerEnv::from_process())
        .map(|r| r.host)
        .unwrap_or_else(|_| DEFAULT_DOCKER_HOST.to_string())
}

/// Connect to the engine the environment names (`DOCKER_HOST`, the active docker context, or
/// the default socket; see [`resolve_engine`]) and negotiate the API version down to what the
/// engine speaks (Docker 20.10 speaks API 1.41).
pub async fn connect() -> Result<Engine, ConnectError> {
    let resolved = resolve_engine(&DockerEnv::from_process())?;
    connect_resolved(&resolved).await
}

/// Connect to a resolved engine.
pub async fn connect_resolved(resolved: &ResolvedEngine) -> Result<Engine, ConnectError> {
    let mut engine = connect_to(&resolved.host).await.map_err(|e| match e {
        ConnectError::Unsupported { host, .. } => ConnectError::Unsupported {
            host,
            source_name: resolved.source.clone(),
        },
        other => other,
    })?;
    engine.source.clone_from(&resolved.source);
    Ok(engine)
}

/// Connect to the engine at `host` (`unix://...`, `tcp://...`, `http://...`) and negotiate the
/// API version. Fails with the root cause when nothing answers.
pub async fn connect_to(host: &str) -> Result<Engine, ConnectError> {
    if ["ssh://", "npipe://", "fd://"]
        .iter()
        .any(|p| host.starts_with(p))
    {
        return Err(ConnectError::Unsupported {
            host: host.to_string(),
            source_name: "given".into(),
        });
    }
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
    Ok(Engine {
        client,
        host,
        source: "given".into(),
    })
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

    /// Where the address came from (`DOCKER_HOST`, a docker context, the default socket).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Environment for child processes that run the `docker` CLI (kind, `docker build`): set
    /// `DOCKER_HOST` to this engine's address and remove `DOCKER_CONTEXT`, so they reach this
    /// engine whatever context is active.
    pub fn cli_env(&self) -> (Vec<(String, String)>, Vec<String>) {
        (
            vec![("DOCKER_HOST".to_string(), self.host.clone())],
            vec!["DOCKER_CONTEXT".to_string()],
        )
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

    fn context_store(dir: &Path, name: &str, host: &str) {
        let meta = dir.join("contexts/meta").join(sha256_hex(name.as_bytes()));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(r#"{{"Name":"{name}","Metadata":{{"Description":"test"}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#),
        )
        .unwrap();
    }

    #[test]
    fn the_engine_is_resolved_as_the_docker_cli_resolves_it() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().to_path_buf();
        context_store(&cfg, "colima", "unix:///home/u/.colima/default/docker.sock");
        context_store(&cfg, "orbstack", "unix:///home/u/.orbstack/run/docker.sock");
        std::fs::write(
            cfg.join("config.json"),
            r#"{"auths":{},"currentContext":"colima"}"#,
        )
        .unwrap();
        let env = |host: Option<&str>, ctx: Option<&str>| DockerEnv {
            docker_host: host.map(str::to_string),
            docker_context: ctx.map(str::to_string),
            config_dir: Some(cfg.clone()),
        };
        // DOCKER_HOST wins over everything.
        let r = resolve_engine(&env(Some("tcp://10.0.0.1:2375"), Some("orbstack"))).unwrap();
        assert_eq!(r.host, "tcp://10.0.0.1:2375");
        assert_eq!(r.source, "DOCKER_HOST");
        // Then DOCKER_CONTEXT, then config.json's currentContext.
        let r = resolve_engine(&env(None, Some("orbstack"))).unwrap();
        assert_eq!(r.host, "unix:///home/u/.orbstack/run/docker.sock");
        assert_eq!(r.source, "docker context orbstack (DOCKER_CONTEXT)");
        let r = resolve_engine(&env(None, None)).unwrap();
        assert_eq!(r.host, "unix:///home/u/.colima/default/docker.sock");
        assert_eq!(
            r.source,
            format!(
                "docker context colima (currentContext in {}/config.json)",
                cfg.display()
            )
        );
        // `default` is the default socket.
        let r = resolve_engine(&env(None, Some("default"))).unwrap();
        assert_eq!(r.host, DEFAULT_DOCKER_HOST);
        // No config at all: the default socket.
        let none = DockerEnv::default();
        assert_eq!(resolve_engine(&none).unwrap().source, "default socket");
        // A context that is not in the store is an error naming it.
        let err = resolve_engine(&env(None, Some("gone"))).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "docker context \"gone\" (DOCKER_CONTEXT) is not in the docker CLI's context store"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn ssh_engines_are_refused_with_a_clear_message() {
        let r = ResolvedEngine {
            host: "ssh://me@build-host".into(),
            source: "docker context remote (DOCKER_CONTEXT)".into(),
        };
        let err = connect_resolved(&r).await.unwrap_err();
        assert!(
            err.to_string().starts_with("the Docker engine at ssh://me@build-host (docker context remote (DOCKER_CONTEXT)) cannot be reached by meshproof"),
            "{err}"
        );
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
