//! Preflight checks (`meshproof doctor`) as data: Docker engine reachable and recent enough,
//! cgroup version/driver (cgroup v1 fails for Kubernetes 1.35 and later), inotify limits, free
//! memory and disk, `kubectl`/`helm` present with versions in the required ranges, leftover
//! meshproof clusters. Each check carries a one-line fix. (Which kind binary a pin uses is
//! decided by the caller, who may provide one itself.)

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::docker::{self, EngineInfo};

/// Oldest Docker engine kind supports: 20.10 (kind's `site/content/docs/user/rootless.md`,
/// "Provider requirements").
pub const MIN_DOCKER_VERSION: (u64, u64) = (20, 10);
/// Oldest engine API kind needs: 1.41, for `--cgroupns=private` (kind's
/// `pkg/cluster/internal/providers/docker/provision.go`).
pub const MIN_DOCKER_API: (u64, u64) = (1, 41);
/// Default memory threshold: meshproof's own conservative estimate for a one-node cluster
/// with a mesh and the workload (kind documents no minimum for running clusters).
pub const DEFAULT_MIN_MEMORY_BYTES: u64 = 4 << 30;
/// Default free-disk threshold for the engine's data root: meshproof's own estimate (node
/// image plus mesh and workload images).
pub const DEFAULT_MIN_DISK_BYTES: u64 = 10 << 30;
/// The first Kubernetes minor whose kubelet refuses to start on cgroup v1 by default:
/// `failCgroupV1` defaults to true from 1.35 (kubernetes/kubernetes PR #134298, "[KEP-5573]
/// Set failCgroupV1 to true": "nodes will not start on a cgroup v1 in our default behavior"),
/// and kind sets no `failCgroupV1: false` in its kubeadm config (v0.31.0, v0.32.0).
pub const CGROUP_V1_REFUSED_FROM: (u64, u64) = (1, 35);
/// inotify limits kind's known-issues page recommends ("Pod errors due to too many open
/// files", `site/content/docs/user/known-issues.md` at v0.32.0): `fs.inotify.max_user_watches
/// = 524288`, `fs.inotify.max_user_instances = 512` (Ubuntu's defaults 8192 / 128 are "not
/// enough to create a cluster with many nodes").
pub const INOTIFY_MAX_USER_WATCHES: u64 = 524_288;
/// See [`INOTIFY_MAX_USER_WATCHES`].
pub const INOTIFY_MAX_USER_INSTANCES: u64 = 512;
/// Where the kernel publishes the inotify limits.
pub const INOTIFY_SYSCTLS: [(&str, &str, u64); 2] = [
    (
        "fs.inotify.max_user_watches",
        "/proc/sys/fs/inotify/max_user_watches",
        INOTIFY_MAX_USER_WATCHES,
    ),
    (
        "fs.inotify.max_user_instances",
        "/proc/sys/fs/inotify/max_user_instances",
        INOTIFY_MAX_USER_INSTANCES,
    ),
];

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but look at it.
    Warn,
    /// A run cannot work.
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
        })
    }
}

/// One preflight check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name, e.g. `docker-engine`, `kind`.
    pub name: String,
    /// ok / warn / fail.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// One-line fix when not ok.
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &str, status: Status, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            name: name.to_string(),
            status,
            detail: detail.into(),
            fix,
        }
    }
}

/// A tool to look for on PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequirement {
    /// Binary name or path.
    pub binary: String,
    /// Arguments that print the version.
    pub version_args: Vec<String>,
    /// Required semver range (e.g. `>=0.32.0, <0.33.0`), if any.
    pub range: Option<String>,
    /// Missing → fail (else warn).
    pub required: bool,
}

impl ToolRequirement {
    /// `kind version`.
    pub fn kind(range: Option<String>) -> Self {
        Self::new("kind", &["version"], range, true)
    }
    /// `kubectl version --client`.
    pub fn kubectl(range: Option<String>) -> Self {
        Self::new("kubectl", &["version", "--client"], range, true)
    }
    /// `helm version --short` (needed only by Helm-installed meshes).
    pub fn helm(range: Option<String>, required: bool) -> Self {
        Self::new("helm", &["version", "--short"], range, required)
    }
    fn new(binary: &str, args: &[&str], range: Option<String>, required: bool) -> Self {
        Self {
            binary: binary.to_string(),
            version_args: args.iter().map(|s| (*s).to_string()).collect(),
            range,
            required,
        }
    }
}

/// What preflight checks against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightInput {
    /// Engine address; `None`: the engine the environment names (`DOCKER_HOST`, the active
    /// docker context, the default socket).
    pub docker_host: Option<String>,
    /// Kubernetes version of the cluster pin (decides whether cgroup v1 is fatal).
    pub kubernetes_version: Option<semver::Version>,
    /// Tools, checked in order.
    pub tools: Vec<ToolRequirement>,
    /// Minimum engine host memory.
    pub min_memory_bytes: u64,
    /// Minimum free disk at the engine's data root.
    pub min_disk_bytes: u64,
}

impl Default for PreflightInput {
    fn default() -> Self {
        Self {
            docker_host: None,
            kubernetes_version: None,
            tools: vec![
                ToolRequirement::kind(None),
                ToolRequirement::kubectl(None),
                ToolRequirement::helm(None, false),
            ],
            min_memory_bytes: DEFAULT_MIN_MEMORY_BYTES,
            min_disk_bytes: DEFAULT_MIN_DISK_BYTES,
        }
    }
}

/// The worst status among `checks` (`Ok` when empty).
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

/// Run every check. Never fails: problems are checks with status `fail`.
pub async fn run_checks(input: &PreflightInput) -> Vec<Check> {
    let mut checks = Vec::new();
    let resolved = match &input.docker_host {
        Some(h) => Ok(docker::ResolvedEngine {
            host: h.clone(),
            source: "given".into(),
        }),
        None => docker::resolve_engine(&docker::DockerEnv::from_process()),
    };
    let connected = match resolved {
        Ok(r) => docker::connect_resolved(&r).await,
        Err(e) => Err(docker::ConnectError::Context(e)),
    };
    match connected {
        Err(e) => checks.push(Check::new(
            "docker-engine",
            Status::Fail,
            e.to_string(),
            Some("start the Docker engine (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at a running one".into()),
        )),
        Ok(engine) => match engine.info().await {
            Err(e) => checks.push(Check::new(
                "docker-engine",
                Status::Fail,
                e.to_string(),
                Some("check that the Docker engine is healthy (`docker info`)".into()),
            )),
            Ok(info) => {
                let via = match engine.source() {
                    "given" => String::new(),
                    s => format!(" ({s}; kind is run against the same engine)"),
                };
                checks.push(Check::new(
                    "docker-engine",
                    Status::Ok,
                    format!("reachable at {}{via}", engine.host()),
                    None,
                ));
                checks.extend(engine_checks(&info, input));
                if info.host.starts_with("unix://") && info.os_type == "linux" {
                    checks.push(inotify_check(&read_inotify_limits()));
                }
                checks.push(leftover_check(&engine).await);
            }
        },
    }
    for tool in &input.tools {
        checks.push(tool_check(tool));
    }
    checks
}

/// Checks that only need engine facts (version, API, cgroups, memory, disk).
pub fn engine_checks(info: &EngineInfo, input: &PreflightInput) -> Vec<Check> {
    let mut out = Vec::new();
    let v = major_minor(&info.server_version);
    let api = major_minor(&info.api_version);
    let version_ok = v.is_some_and(|v| v >= MIN_DOCKER_VERSION);
    let api_ok = api.is_some_and(|a| a >= MIN_DOCKER_API);
    out.push(Check::new(
        "docker-version",
        if version_ok && api_ok {
            Status::Ok
        } else {
            Status::Fail
        },
        format!(
            "engine {} (API {}); kind needs Docker >= {}.{} and API >= {}.{}",
            info.server_version,
            info.api_version,
            MIN_DOCKER_VERSION.0,
            MIN_DOCKER_VERSION.1,
            MIN_DOCKER_API.0,
            MIN_DOCKER_API.1
        ),
        (!(version_ok && api_ok))
            .then(|| "upgrade the Docker engine to 20.10 or later".to_string()),
    ));
    let refused = input
        .kubernetes_version
        .as_ref()
        .filter(|v| (v.major, v.minor) >= CGROUP_V1_REFUSED_FROM);
    let cg = match (info.cgroup_version.as_str(), refused) {
        ("2", _) => Check::new(
            "cgroups",
            Status::Ok,
            format!("cgroup v2, driver {}", or_unknown(&info.cgroup_driver)),
            None,
        ),
        ("1", Some(v)) => Check::new(
            "cgroups",
            Status::Fail,
            format!(
                "cgroup v1, driver {}: the kubelet of Kubernetes {v} refuses to start on cgroup v1 (failCgroupV1 is true from {}.{})",
                or_unknown(&info.cgroup_driver),
                CGROUP_V1_REFUSED_FROM.0,
                CGROUP_V1_REFUSED_FROM.1
            ),
            Some(format!(
                "use a host with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or a cluster pin with Kubernetes before {}.{} (`meshproof list clusters`)",
                CGROUP_V1_REFUSED_FROM.0, CGROUP_V1_REFUSED_FROM.1
            )),
        ),
        ("1", None) => Check::new(
            "cgroups",
            Status::Warn,
            format!("cgroup v1, driver {}", or_unknown(&info.cgroup_driver)),
            Some(format!(
                "prefer a host with cgroup v2 (rootless kind requires it; kubelet refuses cgroup v1 from Kubernetes {}.{})",
                CGROUP_V1_REFUSED_FROM.0, CGROUP_V1_REFUSED_FROM.1
            )),
        ),
        (other, _) => Check::new(
            "cgroups",
            Status::Warn,
            format!("engine reports cgroup version {:?}", other),
            Some("check `docker info` for Cgroup Version".into()),
        ),
    };
    out.push(cg);
    // Total memory from the engine; available memory from /proc/meminfo when the engine is
    // local (a remote engine's free memory cannot be seen from here).
    let available = if info.host.starts_with("unix://") {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| mem_available(&m))
    } else {
        None
    };
    let mem_ok = info.mem_total_bytes >= input.min_memory_bytes
        && available.is_none_or(|a| a >= input.min_memory_bytes);
    let avail_text = available.map_or_else(String::new, |a| format!(", {} available", gib(a)));
    out.push(Check::new(
        "memory",
        if mem_ok { Status::Ok } else { Status::Warn },
        format!(
            "{} total on the engine host{avail_text} (want >= {})",
            gib(info.mem_total_bytes),
            gib(input.min_memory_bytes)
        ),
        (!mem_ok)
            .then(|| "free memory or give the Docker host (or Docker Desktop VM) more".to_string()),
    ));
    out.push(disk_check(info, input.min_disk_bytes));
    out
}

fn disk_check(info: &EngineInfo, min: u64) -> Check {
    if !info.host.starts_with("unix://") {
        return Check::new(
            "disk",
            Status::Warn,
            format!(
                "engine at {} is not local; free disk not measured",
                info.host
            ),
            Some(format!("make sure the engine host has {} free", gib(min))),
        );
    }
    let root = if !info.docker_root_dir.is_empty() && Path::new(&info.docker_root_dir).exists() {
        info.docker_root_dir.as_str()
    } else {
        "/"
    };
    match rustix::fs::statvfs(root) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            let ok = free >= min;
            Check::new(
                "disk",
                if ok { Status::Ok } else { Status::Warn },
                format!("{} free at {root} (want >= {})", gib(free), gib(min)),
                (!ok).then(|| {
                    "free disk space (`meshproof gc --yes`, `docker system prune`)".to_string()
                }),
            )
        }
        Err(e) => Check::new(
            "disk",
            Status::Warn,
            format!("cannot measure free disk at {root}: {e}"),
            Some(format!("make sure {root} has {} free", gib(min))),
        ),
    }
}

/// The host's inotify limits, `(sysctl name, value or why it is unknown, recommended)`.
pub fn read_inotify_limits() -> Vec<(&'static str, Result<u64, String>, u64)> {
    INOTIFY_SYSCTLS
        .iter()
        .map(|(name, path, want)| {
            let value = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {path}: {e}"))
                .and_then(|t| t.trim().parse::<u64>().map_err(|e| format!("{path}: {e}")));
            (*name, value, *want)
        })
        .collect()
}

/// Compare inotify limits with kind's recommendation: below it is a warning (kind's nodes and
/// the mesh's pods fail with "too many open files"), unknown is a warning too.
pub fn inotify_check(limits: &[(&str, Result<u64, String>, u64)]) -> Check {
    let mut low = Vec::new();
    let mut parts = Vec::new();
    for (name, value, want) in limits {
        match value {
            Ok(v) => {
                parts.push(format!("{name}={v}"));
                if v < want {
                    low.push(format!("sudo sysctl {name}={want}"));
                }
            }
            Err(e) => {
                parts.push(format!("{name} unknown ({e})"));
                low.push(format!("sudo sysctl {name}={want}"));
            }
        }
    }
    let detail = format!(
        "{} (kind recommends {INOTIFY_MAX_USER_WATCHES} and {INOTIFY_MAX_USER_INSTANCES})",
        parts.join(", ")
    );
    if low.is_empty() {
        Check::new("inotify", Status::Ok, detail, None)
    } else {
        Check::new(
            "inotify",
            Status::Warn,
            detail,
            Some(format!(
                "{} (pods may fail with \"too many open files\"; persist it in /etc/sysctl.conf)",
                low.join("; ")
            )),
        )
    }
}

async fn leftover_check(engine: &docker::Engine) -> Check {
    match crate::gc::plan(engine).await {
        Ok(plan) if plan.is_empty() => Check::new("leftover-clusters", Status::Ok, "none", None),
        Ok(plan) => {
            let names: Vec<&str> = plan.clusters.iter().map(|c| c.name.as_str()).collect();
            Check::new(
                "leftover-clusters",
                Status::Warn,
                format!(
                    "{} leftover meshproof cluster(s): {}",
                    names.len(),
                    names.join(", ")
                ),
                Some("remove them with `meshproof gc --yes`".into()),
            )
        }
        Err(e) => Check::new("leftover-clusters", Status::Warn, e.to_string(), None),
    }
}

/// Look for a tool and compare its version with the required range.
pub fn tool_check(tool: &ToolRequirement) -> Check {
    let missing_status = if tool.required {
        Status::Fail
    } else {
        Status::Warn
    };
    let wanted = tool
        .range
        .as_deref()
        .map_or_else(String::new, |r| format!(" {r}"));
    let out = Command::new(&tool.binary)
        .args(&tool.version_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Check::new(
                &tool.binary,
                missing_status,
                format!("`{}` not found: {e}", tool.binary),
                Some(format!(
                    "install {}{wanted} and put it on PATH",
                    tool.binary
                )),
            )
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(version) = parse_tool_version(&text) else {
        return Check::new(
            &tool.binary,
            missing_status,
            format!(
                "cannot read the version from `{} {}`: {:?}",
                tool.binary,
                tool.version_args.join(" "),
                text.trim()
            ),
            Some(format!("install a working {}{wanted}", tool.binary)),
        );
    };
    let Some(range) = &tool.range else {
        return Check::new(&tool.binary, Status::Ok, format!("v{version}"), None);
    };
    match semver::VersionReq::parse(range) {
        Err(e) => Check::new(
            &tool.binary,
            Status::Fail,
            format!("v{version}; invalid required range {range:?}: {e}"),
            Some("fix the version range in the pin".into()),
        ),
        Ok(req) if req.matches(&version) => Check::new(
            &tool.binary,
            Status::Ok,
            format!("v{version} (required {range})"),
            None,
        ),
        Ok(_) => Check::new(
            &tool.binary,
            Status::Fail,
            format!("v{version} does not satisfy the required {range}"),
            Some(format!("install {} {range}", tool.binary)),
        ),
    }
}

/// The first `v?MAJOR.MINOR.PATCH[...]` token of a tool's version output (`kind v0.32.0 go...`,
/// `Client Version: v1.36.1`, `v3.16.2+g13654a5`).
pub fn parse_tool_version(text: &str) -> Option<semver::Version> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .map(|t| t.strip_prefix('v').unwrap_or(t))
        .find_map(|t| semver::Version::parse(t).ok())
}

/// `MemAvailable` from `/proc/meminfo` text, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => value.checked_mul(1024),
        Some(_) => None,
    }
}

fn major_minor(v: &str) -> Option<(u64, u64)> {
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

fn gib(bytes: u64) -> String {
    // Display only.
    #[allow(clippy::cast_precision_loss)]
    let g = bytes as f64 / f64::from(1u32 << 30);
    format!("{g:.1} GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: &str, api: &str, cgroup: &str) -> EngineInfo {
        EngineInfo {
            host: "unix:///var/run/docker.sock".into(),
            server_version: version.into(),
            api_version: api.into(),
            min_api_version: "1.12".into(),
            operating_system: "Debian".into(),
            os_type: "linux".into(),
            architecture: "x86_64".into(),
            kernel_version: "6.1".into(),
            cgroup_version: cgroup.into(),
            cgroup_driver: "systemd".into(),
            storage_driver: "overlay2".into(),
            docker_root_dir: "/nonexistent-docker-root".into(),
            mem_total_bytes: 8 << 30,
            ncpu: 4,
            security_options: vec![],
        }
    }

    fn status(checks: &[Check], name: &str) -> Status {
        checks.iter().find(|c| c.name == name).unwrap().status
    }

    #[test]
    fn engine_version_thresholds() {
        let input = PreflightInput::default();
        let c = engine_checks(&info("20.10.24+dfsg1", "1.41", "2"), &input);
        assert_eq!(status(&c, "docker-version"), Status::Ok);
        assert_eq!(status(&c, "cgroups"), Status::Ok);
        let c = engine_checks(&info("19.03.15", "1.40", "1"), &input);
        assert_eq!(status(&c, "docker-version"), Status::Fail);
        // cgroup v1 with no Kubernetes version known: a warning.
        assert_eq!(status(&c, "cgroups"), Status::Warn);
        let c = engine_checks(&info("28.2.2", "1.50", "2"), &input);
        assert_eq!(status(&c, "docker-version"), Status::Ok);
        let mut small = info("28.2.2", "1.50", "2");
        small.mem_total_bytes = 1 << 30;
        assert_eq!(
            status(&engine_checks(&small, &input), "memory"),
            Status::Warn
        );
    }

    #[test]
    fn cgroup_v1_fails_from_kubernetes_1_35() {
        let with = |k: &str| PreflightInput {
            kubernetes_version: Some(semver::Version::parse(k).unwrap()),
            ..PreflightInput::default()
        };
        let v1 = info("20.10.24", "1.41", "1");
        for k in ["1.35.0", "1.36.1"] {
            let c = engine_checks(&v1, &with(k));
            let cg = c.iter().find(|c| c.name == "cgroups").unwrap();
            assert_eq!(cg.status, Status::Fail, "{k}");
            assert_eq!(
                cg.detail,
                format!("cgroup v1, driver systemd: the kubelet of Kubernetes {k} refuses to start on cgroup v1 (failCgroupV1 is true from 1.35)")
            );
            assert!(cg.fix.as_deref().unwrap().contains("cgroup v2"));
        }
        for k in ["1.21.1", "1.34.0"] {
            assert_eq!(
                status(&engine_checks(&v1, &with(k)), "cgroups"),
                Status::Warn,
                "{k}"
            );
        }
        // cgroup v2 is fine for every version.
        let v2 = info("20.10.24", "1.41", "2");
        assert_eq!(
            status(&engine_checks(&v2, &with("1.36.1")), "cgroups"),
            Status::Ok
        );
    }

    #[test]
    fn inotify_limits_are_compared_with_kinds_recommendation() {
        let ok = inotify_check(&[
            ("fs.inotify.max_user_watches", Ok(524_288), 524_288),
            ("fs.inotify.max_user_instances", Ok(8192), 512),
        ]);
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(
            ok.detail,
            "fs.inotify.max_user_watches=524288, fs.inotify.max_user_instances=8192 (kind recommends 524288 and 512)"
        );
        let low = inotify_check(&[
            ("fs.inotify.max_user_watches", Ok(8192), 524_288),
            ("fs.inotify.max_user_instances", Ok(128), 512),
        ]);
        assert_eq!(low.status, Status::Warn);
        assert!(low.fix.as_deref().unwrap().starts_with(
            "sudo sysctl fs.inotify.max_user_watches=524288; sudo sysctl fs.inotify.max_user_instances=512"
        ));
        let unknown = inotify_check(&[(
            "fs.inotify.max_user_watches",
            Err("cannot read /proc/sys/fs/inotify/max_user_watches: denied".into()),
            524_288,
        )]);
        assert_eq!(unknown.status, Status::Warn);
        assert!(
            unknown.detail.contains("unknown (cannot read"),
            "{}",
            unknown.detail
        );
        // This machine's own values are readable.
        for (name, value, _) in read_inotify_limits() {
            assert!(value.is_ok(), "{name}: {value:?}");
        }
    }

    #[test]
    fn meminfo_parse() {
        let text = "MemTotal:       24736772 kB\nMemFree:        23000000 kB\nMemAvailable:   23500000 kB\n";
        assert_eq!(mem_available(text), Some(23_500_000 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn tool_versions_parse() {
        assert_eq!(
            parse_tool_version("kind v0.32.0 go1.24.2 linux/amd64"),
            Some(semver::Version::new(0, 32, 0))
        );
        assert_eq!(
            parse_tool_version("Client Version: v1.36.1\nKustomize Version: v5.7.1\n"),
            Some(semver::Version::new(1, 36, 1))
        );
        assert_eq!(
            parse_tool_version("v3.16.2+g13654a5").map(|v| (v.major, v.minor, v.patch)),
            Some((3, 16, 2))
        );
        assert_eq!(parse_tool_version("nothing here"), None);
    }

    #[test]
    fn missing_tool_fails_when_required_and_warns_otherwise() {
        let mut t = ToolRequirement::kind(Some(">=0.32.0, <0.33.0".into()));
        t.binary = "/nonexistent/kind".into();
        let c = tool_check(&t);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("not found: No such file or directory"),
            "{}",
            c.detail
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("install /nonexistent/kind >=0.32.0, <0.33.0 and put it on PATH")
        );
        let mut h = ToolRequirement::helm(None, false);
        h.binary = "/nonexistent/helm".into();
        assert_eq!(tool_check(&h).status, Status::Warn);
    }

    #[test]
    fn tool_range_is_compared() {
        // `sh -c 'echo ...'` stands in for a tool printing its version.
        let mk = |range: &str| ToolRequirement {
            binary: "sh".into(),
            version_args: vec!["-c".into(), "echo kind v0.31.0 go1.24 linux/amd64".into()],
            range: Some(range.into()),
            required: true,
        };
        assert_eq!(tool_check(&mk(">=0.31.0, <0.32.0")).status, Status::Ok);
        let c = tool_check(&mk(">=0.32.0, <0.33.0"));
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.detail,
            "v0.31.0 does not satisfy the required >=0.32.0, <0.33.0"
        );
    }

    #[tokio::test]
    async fn missing_engine_is_a_failed_check_with_root_cause() {
        let dir = tempfile::tempdir().unwrap();
        let input = PreflightInput {
            docker_host: Some(format!("unix://{}/docker.sock", dir.path().display())),
            tools: vec![],
            ..PreflightInput::default()
        };
        let checks = run_checks(&input).await;
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].name, "docker-engine");
        assert_eq!(checks[0].status, Status::Fail);
        assert!(checks[0]
            .detail
            .contains("No such file or directory (os error 2)"));
        assert!(checks[0].fix.is_some());
        assert_eq!(worst(&checks), Status::Fail);
    }
}
