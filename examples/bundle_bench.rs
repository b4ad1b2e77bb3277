//! Bundle benchmark: `bundle pack` against `tar | zstd -3 -T0`, `verify` against decompression.
//!
//! ```text
//! cargo run --release --example bundle_bench -- [--size-mib 1024] [--dir DIR] [--runs 3] [--keep]
//!                                               [--bin PATH/TO/meshproof] [--data RUN_DIR]
//! ```
//!
//! Generates a run directory of about `--size-mib` MiB of realistic data (pod logs, kubelet and
//! containerd journals, object and event dumps, valid observations for every case of
//! `suites/smi`) with a seeded PRNG, so every run generates the same bytes. It then runs, as
//! child processes on the same data with a warm page cache (each command once before timing,
//! then the best of `--runs`):
//!
//! - `meshproof bundle pack DIR -o B --force` (and with `--jobs 1`) and
//!   `tar -c --sort=name -C DIR . | zstd -3 -T0 -q -o X`
//! - `meshproof verify B`, `zstd -d -c B > /dev/null` (decompression only, the limit),
//!   `zstd -d -T0 -c B > /dev/null` and `openssl dgst -sha256` over the decompressed tar
//!
//! and prints each command's wall time, CPU time, peak RSS and the machine's load average while it
//! was measured, then the ratios of this run. Peak RSS comes from `/usr/bin/time -v` ("Maximum
//! resident set size"). `--data` reuses a run directory kept by an earlier `--keep` run. The release
//! `meshproof` binary is built first (`cargo build --release --bin meshproof`) unless `--bin`
//! names one. Work files go to `--dir` (default `/tmp/meshproof-bench-<pid>`, which must not
//! exist) and are deleted at the end unless `--keep`. See `docs/performance.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshproof::bundle::{RunInfo, RunManifest, RunSelection, RunStatus};
use meshproof::observation::{
    Attempt, CallRecord, CaseObservation, MetricsObservation, ObjectResult, ObjectSnapshot,
    StepObservation, StepStatus, TrafficObservation, OBSERVATION_FORMAT,
};
use meshproof::spec::case::{Expect, Step};
use meshproof::spec::catalog::{Catalog, LoadedCase};
use meshproof::verdict::Scoring;
use serde_json::json;
use sha2::{Digest, Sha256};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MIB: u64 = 1 << 20;
const SEED: u64 = 0x6d65_7368_7072_6f6f; // "meshproo"

struct Args {
    size_mib: u64,
    dir: Option<PathBuf>,
    runs: usize,
    keep: bool,
    bin: Option<PathBuf>,
    /// An existing run directory (a generated one kept by `--keep`) instead of generating.
    data: Option<PathBuf>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        size_mib: 1024,
        dir: None,
        runs: 3,
        keep: false,
        bin: None,
        data: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--size-mib" => a.size_mib = value("--size-mib")?.parse()?,
            "--dir" => a.dir = Some(PathBuf::from(value("--dir")?)),
            "--runs" => a.runs = value("--runs")?.parse::<usize>()?.max(1),
            "--bin" => a.bin = Some(PathBuf::from(value("--bin")?)),
            "--keep" => a.keep = true,
            "--data" => a.data = Some(PathBuf::from(value("--data")?)),
            "-h" | "--help" => {
                println!(
                    "usage: bundle_bench [--size-mib 1024] [--dir DIR] [--runs 3] [--keep] [--bin PATH] [--data RUN_DIR]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)").into()),
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------------

/// SplitMix64: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn hex(&mut self, out: &mut String, digits: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut left = 0;
        let mut bits = 0u64;
        for _ in 0..digits {
            if left == 0 {
                bits = self.next();
                left = 16;
            }
            out.push(HEX[(bits & 15) as usize] as char);
            bits >>= 4;
            left -= 1;
        }
    }
    fn hex_string(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        self.hex(&mut s, digits);
        s
    }
    fn uuid(&mut self, out: &mut String) {
        for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
            if i > 0 {
                out.push('-');
            }
            self.hex(out, n);
        }
    }
    fn uuid_string(&mut self) -> String {
        let mut s = String::with_capacity(36);
        self.uuid(&mut s);
        s
    }
    /// A Kubernetes-style random suffix (`7d9f8c6b5`, `x2k4q`).
    fn suffix(&mut self, n: usize) -> String {
        const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALNUM[self.below(ALNUM.len() as u64) as usize] as char)
            .collect()
    }
}

/// A per-file clock starting at 2026-11-26T10:00:00Z, advancing by random steps.
struct Clock {
    us: u64,
}

impl Clock {
    fn new(rng: &mut Rng) -> Clock {
        Clock {
            us: rng.below(120_000_000),
        }
    }
    fn tick(&mut self, rng: &mut Rng, max_us: u64) {
        self.us += rng.below(max_us) + 1;
    }
    fn parts(&self) -> (u64, u64, u64, u64, u64) {
        let total_s = self.us / 1_000_000 + 10 * 3600;
        let day = 26 + (total_s / 86_400) % 4; // 26..29 November
        let s = total_s % 86_400;
        (day, s / 3600, (s / 60) % 60, s % 60, self.us % 1_000_000)
    }
    fn rfc3339(&self, out: &mut String) {
        let (d, h, m, s, us) = self.parts();
        let _ = write!(out, "2026-11-{d:02}T{h:02}:{m:02}:{s:02}.{us:06}Z");
    }
    fn rfc3339_s(&self) -> String {
        let (d, h, m, s, _) = self.parts();
        format!("2026-11-{d:02}T{h:02}:{m:02}:{s:02}Z")
    }
    fn klog(&self, out: &mut String, level: char) {
        let (d, h, m, s, us) = self.parts();
        let _ = write!(out, "{level}11{d:02} {h:02}:{m:02}:{s:02}.{us:06}");
    }
    fn journal(&self, out: &mut String) {
        let (d, h, m, s, _) = self.parts();
        let _ = write!(out, "Nov {d:02} {h:02}:{m:02}:{s:02}");
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Envoy,
    Probe,
    Controller,
    ApiServer,
    CoreDns,
    Kubelet,
    Containerd,
    PodDump,
    EventDump,
}

struct Planned {
    path: String,
    kind: Kind,
    weight: u64,
    /// Namespace and pod the file is about (for names inside lines).
    ns: String,
    pod: String,
}

struct World {
    nodes: Vec<String>,
    namespaces: Vec<String>,
    pods: Vec<(String, String)>,
    ips: Vec<String>,
}

const PATHS: &[&str] = &[
    "/echo",
    "/metrics",
    "/echo?n=1",
    "/healthz",
    "/call",
    "/ready",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const STATUSES: &[u16] = &[200, 200, 200, 200, 200, 200, 403, 404, 503, 200, 201, 204];
const CONTROLLER_MSGS: &[&str] = &[
    "Reconciling",
    "Successfully synced",
    "Updated endpoints",
    "Sending xDS response",
    "Received DiscoveryRequest",
    "Watch event",
    "Certificate issued",
    "Config changed, rebuilding snapshot",
    "Lease renewed",
    "Applied TrafficTarget",
    "Ignoring object outside monitored namespaces",
];
const KUBELET_MSGS: &[(&str, &str)] = &[
    ("kubelet.go:2421", "\"SyncLoop UPDATE\" source=\"api\""),
    ("kubelet.go:2437", "\"SyncLoop (PLEG): event for pod\""),
    ("kuberuntime_manager.go:1015", "\"computePodActions got for pod\""),
    ("prober.go:107", "\"Probe failed\" probeType=\"Readiness\""),
    ("kubelet_pods.go:1082", "\"Clean up pod workers for terminated pods\""),
    ("reconciler_common.go:258", "\"operationExecutor.MountVolume started\""),
    ("operation_generator.go:721", "\"MountVolume.SetUp succeeded\""),
    ("pod_workers.go:1300", "\"Error syncing pod, skipping\" err=\"failed to \\\"StartContainer\\\" with CrashLoopBackOff\""),
    ("scope.go:117", "\"RemoveContainer\""),
    ("eviction_manager.go:366", "\"Eviction manager: attempting to reclaim\" resourceName=\"ephemeral-storage\""),
];

fn ip(rng: &mut Rng) -> String {
    format!("10.244.{}.{}", rng.below(3), rng.range(2, 250))
}

fn world(rng: &mut Rng, cases: &[String]) -> World {
    let nodes = vec![
        "kind-control-plane".to_string(),
        "kind-worker".to_string(),
        "kind-worker2".to_string(),
    ];
    let mut namespaces: Vec<String> = cases
        .iter()
        .map(|c| format!("meshproof-{c}-{}", rng.suffix(5)))
        .collect();
    namespaces.extend(["osm-system", "kube-system", "local-path-storage"].map(String::from));
    let mut pods = Vec::new();
    for ns in &namespaces {
        let apps: &[&str] = match ns.as_str() {
            "osm-system" => &["osm-controller", "osm-injector", "osm-bootstrap"],
            "kube-system" => &["coredns", "coredns", "etcd", "kube-apiserver", "kube-proxy"],
            "local-path-storage" => &["local-path-provisioner"],
            _ => &["app-a", "app-b", "app-c"],
        };
        for app in apps {
            pods.push((
                ns.clone(),
                format!("{app}-{}-{}", rng.suffix(10), rng.suffix(5)),
            ));
        }
    }
    let ips = (0..64).map(|_| ip(rng)).collect();
    World {
        nodes,
        namespaces,
        pods,
        ips,
    }
}

fn plan_files(rng: &mut Rng, w: &World) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut add = |path: String, kind: Kind, base: u64, ns: &str, pod: &str, rng: &mut Rng| {
        out.push(Planned {
            path,
            kind,
            weight: base * rng.range(20, 180) / 100,
            ns: ns.to_string(),
            pod: pod.to_string(),
        })
    };
    for (ns, pod) in &w.pods {
        let base = format!("logs/pods/{ns}/{pod}");
        if ns.starts_with("meshproof-") {
            add(format!("{base}/envoy.log"), Kind::Envoy, 60, ns, pod, rng);
            add(format!("{base}/probe.log"), Kind::Probe, 30, ns, pod, rng);
            add(
                format!("{base}/osm-init.log"),
                Kind::Controller,
                1,
                ns,
                pod,
                rng,
            );
        } else if pod.starts_with("kube-apiserver") {
            add(
                format!("{base}/kube-apiserver.log"),
                Kind::ApiServer,
                80,
                ns,
                pod,
                rng,
            );
        } else if pod.starts_with("coredns") {
            add(
                format!("{base}/coredns.log"),
                Kind::CoreDns,
                15,
                ns,
                pod,
                rng,
            );
        } else {
            let c = pod.rsplitn(3, '-').last().unwrap_or("main").to_string();
            add(
                format!("{base}/{c}.log"),
                Kind::Controller,
                25,
                ns,
                pod,
                rng,
            );
        }
    }
    for node in &w.nodes {
        add(
            format!("logs/nodes/{node}/kubelet.log"),
            Kind::Kubelet,
            120,
            "",
            node,
            rng,
        );
        add(
            format!("logs/nodes/{node}/containerd.log"),
            Kind::Containerd,
            50,
            "",
            node,
            rng,
        );
    }
    for ns in &w.namespaces {
        add(
            format!("logs/objects/{ns}/pods.json"),
            Kind::PodDump,
            12,
            ns,
            "",
            rng,
        );
        add(
            format!("logs/events/{ns}.json"),
            Kind::EventDump,
            6,
            ns,
            "",
            rng,
        );
    }
    out
}

/// Append one line (or one JSON item for dumps) of `kind` to `line`.
fn gen_line(rng: &mut Rng, clock: &mut Clock, w: &World, f: &Planned, line: &mut String) {
    match f.kind {
        Kind::Envoy => {
            clock.tick(rng, 40_000);
            line.push('[');
            clock.rfc3339(line);
            let status = *rng.pick(STATUSES);
            let to = rng.pick(&["app-b", "app-c", "app-svc"]);
            let _ = write!(
                line,
                "] \"{} {} HTTP/1.1\" {status} {} via_upstream - \"-\" 0 {} {} {} \"-\" \"meshproof-probe/0.1\" \"",
                rng.pick(METHODS),
                rng.pick(PATHS),
                if status == 403 { "RBAC" } else { "-" },
                rng.range(0, 900),
                rng.range(0, 40),
                rng.range(0, 38),
            );
            rng.uuid(line);
            let _ = writeln!(
                line,
                "\" \"{to}.{}.svc.cluster.local:9091\" \"{}:9091\" inbound|9091|| {}:{} {}:9091 {}:{} - default",
                f.ns,
                rng.pick(&w.ips),
                rng.pick(&w.ips),
                rng.range(32768, 60999),
                rng.pick(&w.ips),
                rng.pick(&w.ips),
                rng.range(32768, 60999),
            );
        }
        Kind::Probe => {
            clock.tick(rng, 60_000);
            line.push_str("{\"ts\":\"");
            clock.rfc3339(line);
            let status = *rng.pick(STATUSES);
            let backend = rng.pick(&["app-b", "app-c"]);
            if rng.chance(8) {
                let _ = writeln!(
                    line,
                    "\",\"level\":\"warn\",\"msg\":\"call failed\",\"url\":\"http://{backend}.{}.svc.cluster.local:9091{}\",\"error\":\"{}\",\"latency_us\":{}}}",
                    f.ns,
                    rng.pick(PATHS),
                    rng.pick(&["reset", "connect-refused", "timeout", "dns"]),
                    rng.range(50, 5_000_000)
                );
            } else {
                let _ = writeln!(
                    line,
                    "\",\"level\":\"info\",\"msg\":\"call\",\"method\":\"{}\",\"url\":\"http://{backend}.{}.svc.cluster.local:9091{}\",\"status\":{status},\"backend\":\"{backend}\",\"latency_us\":{},\"conn\":{}}}",
                    rng.pick(METHODS),
                    f.ns,
                    rng.pick(PATHS),
                    rng.range(200, 90_000),
                    rng.below(100_000)
                );
            }
        }
        Kind::Controller | Kind::ApiServer => {
            clock.tick(rng, 200_000);
            let level = if rng.chance(5) {
                'W'
            } else if rng.chance(2) {
                'E'
            } else {
                'I'
            };
            clock.klog(line, level);
            let (ns, pod) = rng.pick(&w.pods);
            if matches!(f.kind, Kind::ApiServer) {
                let verb = rng.pick(&["GET", "LIST", "WATCH", "PATCH", "POST", "PUT"]);
                let res = rng.pick(&[
                    "pods",
                    "endpointslices",
                    "traffictargets",
                    "httproutegroups",
                    "trafficsplits",
                    "leases",
                    "events",
                ]);
                let _ = writeln!(
                    line,
                    "       1 httplog.go:132] \"HTTP\" verb=\"{verb}\" URI=\"/api/v1/namespaces/{ns}/{res}?resourceVersion={}&timeout={}s\" latency=\"{}.{:03}ms\" userAgent=\"kubelet/v1.31.0 (linux/amd64) kubernetes/{}\" audit-ID=\"{}\" srcIP=\"172.18.0.{}:{}\" resp={}",
                    rng.range(1000, 999_999),
                    rng.range(60, 600),
                    rng.below(300),
                    rng.below(1000),
                    rng.hex_string(7),
                    rng.uuid_string(),
                    rng.range(2, 5),
                    rng.range(32768, 60999),
                    rng.pick(&[200, 200, 200, 201, 404, 409])
                );
            } else {
                let _ = writeln!(
                    line,
                    "       1 {}.go:{}] \"{}\" object=\"{ns}/{pod}\" generation={} resourceVersion=\"{}\" duration=\"{}.{:03}ms\"",
                    rng.pick(&["controller", "reconciler", "ads", "cache", "server", "leaderelection"]),
                    rng.range(30, 900),
                    rng.pick(CONTROLLER_MSGS),
                    rng.range(1, 40),
                    rng.range(1000, 999_999),
                    rng.below(120),
                    rng.below(1000)
                );
            }
        }
        Kind::CoreDns => {
            clock.tick(rng, 50_000);
            let ns = rng.pick(&w.namespaces);
            let _ = writeln!(
                line,
                "[INFO] {}:{} - {} \"{} IN {}.{ns}.svc.cluster.local. udp {} false 512\" {} qr,aa,rd {} 0.000{}s",
                rng.pick(&w.ips),
                rng.range(32768, 60999),
                rng.below(65536),
                rng.pick(&["A", "AAAA", "A", "SRV"]),
                rng.pick(&["app-a", "app-b", "app-c", "app-svc", "osm-controller"]),
                rng.range(40, 90),
                rng.pick(&["NOERROR", "NOERROR", "NXDOMAIN"]),
                rng.range(100, 400),
                rng.range(10_000, 999_999)
            );
        }
        Kind::Kubelet => {
            clock.tick(rng, 100_000);
            clock.journal(line);
            let level = if rng.chance(6) { 'E' } else { 'I' };
            let _ = write!(line, " {} kubelet[312]: ", f.pod);
            clock.klog(line, level);
            let (src, msg) = rng.pick(KUBELET_MSGS);
            let (ns, pod) = rng.pick(&w.pods);
            let _ = write!(line, "     312 {src}] {msg} pod=\"{ns}/{pod}\" podUID=\"");
            rng.uuid(line);
            line.push('"');
            if rng.chance(40) {
                line.push_str(" containerID=\"containerd://");
                rng.hex(line, 64);
                line.push('"');
            }
            line.push('\n');
        }
        Kind::Containerd => {
            clock.tick(rng, 150_000);
            clock.journal(line);
            let _ = write!(line, " {} containerd[201]: time=\"", f.pod);
            clock.rfc3339(line);
            let what = rng.pick(&[
                "StartContainer for \\\"",
                "CreateContainer within sandbox \\\"",
                "shim disconnected\" id=",
                "TaskExit event in podsandbox handler container_id:\\\"",
                "PullImage \\\"docker.io/openservicemesh/osm-controller:v1.2.4\\\" returns image reference \\\"sha256:",
            ]);
            let _ = write!(
                line,
                "\" level={} msg=\"{what}",
                rng.pick(&["info", "info", "info", "warning", "error"])
            );
            rng.hex(line, 64);
            line.push_str("\\\"\"\n");
        }
        Kind::PodDump => {
            clock.tick(rng, 5_000_000);
            let (_, pod) = rng.pick(&w.pods);
            let app = pod.split('-').take(2).collect::<Vec<_>>().join("-");
            let _ = write!(
                line,
                "    {{\n      \"apiVersion\": \"v1\",\n      \"kind\": \"Pod\",\n      \"metadata\": {{\n        \"name\": \"{pod}\",\n        \"namespace\": \"{}\",\n        \"uid\": \"",
                f.ns
            );
            rng.uuid(line);
            let _ = write!(
                line,
                "\",\n        \"resourceVersion\": \"{}\",\n        \"creationTimestamp\": \"{}\",\n        \"labels\": {{\n          \"app\": \"{app}\",\n          \"pod-template-hash\": \"{}\",\n          \"osm-proxy-uuid\": \"",
                rng.range(1000, 999_999),
                clock.rfc3339_s(),
                rng.suffix(10)
            );
            rng.uuid(line);
            let _ = write!(
                line,
                "\"\n        }},\n        \"annotations\": {{\n          \"openservicemesh.io/sidecar-injection\": \"enabled\",\n          \"prometheus.io/port\": \"15010\"\n        }}\n      }},\n      \"spec\": {{\n        \"serviceAccountName\": \"service-{}\",\n        \"nodeName\": \"{}\",\n        \"containers\": [\n          {{\n            \"name\": \"probe\",\n            \"image\": \"meshproof-probe@sha256:",
                &app[app.len().saturating_sub(1)..],
                rng.pick(&w.nodes)
            );
            rng.hex(line, 64);
            let _ = write!(
                line,
                "\",\n            \"ports\": [{{\"containerPort\": 9091, \"protocol\": \"TCP\"}}],\n            \"resources\": {{\"requests\": {{\"cpu\": \"{}m\", \"memory\": \"{}Mi\"}}}}\n          }}\n        ]\n      }},\n      \"status\": {{\n        \"phase\": \"{}\",\n        \"podIP\": \"{}\",\n        \"conditions\": [\n",
                rng.range(10, 500),
                rng.range(16, 512),
                rng.pick(&["Running", "Running", "Running", "Pending", "Succeeded"]),
                rng.pick(&w.ips)
            );
            for (i, c) in ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
                .iter()
                .enumerate()
            {
                clock.tick(rng, 2_000_000);
                let _ = writeln!(
                    line,
                    "          {{\"type\": \"{c}\", \"status\": \"{}\", \"lastTransitionTime\": \"{}\"}}{}",
                    if rng.chance(90) { "True" } else { "False" },
                    clock.rfc3339_s(),
                    if i < 3 { "," } else { "" }
                );
            }
            line.push_str(
                "        ],\n        \"containerStatuses\": [\n          {\n            \"name\": \"probe\",\n            \"containerID\": \"containerd://",
            );
            rng.hex(line, 64);
            let _ = write!(
                line,
                "\",\n            \"ready\": true,\n            \"restartCount\": {},\n            \"state\": {{\"running\": {{\"startedAt\": \"{}\"}}}}\n          }}\n        ]\n      }}\n    }}",
                rng.below(4),
                clock.rfc3339_s()
            );
        }
        Kind::EventDump => {
            clock.tick(rng, 3_000_000);
            let (_, pod) = rng.pick(&w.pods);
            let (reason, msg) = rng.pick(&[
                ("Scheduled", "Successfully assigned {pod} to kind-worker"),
                (
                    "Pulled",
                    "Container image \\\"meshproof-probe:dev\\\" already present on machine",
                ),
                ("Created", "Created container probe"),
                ("Started", "Started container probe"),
                (
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                ),
                ("Killing", "Stopping container envoy"),
                (
                    "BackOff",
                    "Back-off restarting failed container osm-init in pod {pod}",
                ),
            ]);
            let _ = write!(
                line,
                "    {{\"apiVersion\": \"v1\", \"kind\": \"Event\", \"metadata\": {{\"name\": \"{pod}.{}\", \"namespace\": \"{}\", \"uid\": \"",
                rng.hex_string(16),
                f.ns
            );
            rng.uuid(line);
            let _ = write!(
                line,
                "\"}}, \"involvedObject\": {{\"kind\": \"Pod\", \"name\": \"{pod}\"}}, \"reason\": \"{reason}\", \"message\": \"{}\", \"type\": \"{}\", \"count\": {}, \"firstTimestamp\": \"{}\"}}",
                msg.replace("{pod}", pod),
                if rng.chance(80) { "Normal" } else { "Warning" },
                rng.range(1, 30),
                clock.rfc3339_s()
            );
        }
    }
}

fn write_log(dir: &Path, rng: &mut Rng, w: &World, f: &Planned, size: u64) -> Res<u64> {
    let path = dir.join(&f.path);
    fs::create_dir_all(path.parent().expect("has a parent"))?;
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(&path)?);
    let mut clock = Clock::new(rng);
    let dump = matches!(f.kind, Kind::PodDump | Kind::EventDump);
    let mut written = 0u64;
    let mut line = String::with_capacity(4096);
    if dump {
        let head = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [\n";
        out.write_all(head.as_bytes())?;
        written += head.len() as u64;
    }
    let mut first = true;
    while written < size {
        line.clear();
        if dump && !first {
            line.push_str(",\n");
        }
        first = false;
        gen_line(rng, &mut clock, w, f, &mut line);
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    if dump {
        let tail = "\n  ]\n}\n";
        out.write_all(tail.as_bytes())?;
        written += tail.len() as u64;
    }
    out.flush()?;
    Ok(written)
}

/// The objects of a step file as the judge expects them (`Kind/name`, value).
fn case_objects(
    lc: &LoadedCase,
    variant: &str,
    ns: &str,
    file: &str,
) -> Vec<(String, serde_json::Value)> {
    meshproof::verdict::expected_objects(lc, variant, ns, file)
        .unwrap_or_default()
        .into_iter()
        .map(|v| (meshproof::verdict::object_ref(&v), v))
        .collect()
}

fn traffic_records(
    rng: &mut Rng,
    ns: &str,
    check: &meshproof::spec::case::TrafficCheck,
    works: bool,
) -> Vec<CallRecord> {
    (0..check.count)
        .map(|i| {
            let backend: Option<String> = match &check.expect {
                Expect::Denied => None,
                Expect::Allowed | Expect::Any => Some(check.to.clone()),
                Expect::Only(b) => Some(b.clone()),
                Expect::Spread(bs) => Some(bs[i as usize % bs.len().max(1)].clone()),
                Expect::Greater(bs) => {
                    let k = if i % 4 == 3 { 1 } else { 0 };
                    Some(bs[k.min(bs.len().saturating_sub(1))].clone())
                }
            };
            let url = format!(
                "http://{}.{ns}.svc.cluster.local:9091{}",
                check.to, check.path
            );
            match backend.filter(|_| works) {
                Some(b) => CallRecord {
                    source: check.from.clone(),
                    url,
                    method: check.method.clone(),
                    status: Some(200),
                    error: None,
                    error_detail: None,
                    backend: Some(b),
                    latency_us: rng.range(400, 30_000),
                    source_pod: Some(source_pod(&check.from)),
                    ..CallRecord::default()
                },
                None if rng.chance(50) => CallRecord {
                    source: check.from.clone(),
                    url,
                    method: check.method.clone(),
                    status: Some(403),
                    error: None,
                    error_detail: None,
                    backend: None,
                    latency_us: rng.range(300, 9_000),
                    body: Some("RBAC: access denied".into()),
                    source_pod: Some(source_pod(&check.from)),
                    ..CallRecord::default()
                },
                None => CallRecord {
                    source: check.from.clone(),
                    url,
                    method: check.method.clone(),
                    status: None,
                    error: Some("reset".into()),
                    error_detail: Some("connection reset by peer (os error 104)".into()),
                    backend: None,
                    latency_us: rng.range(300, 9_000),
                    source_pod: Some(source_pod(&check.from)),
                    ..CallRecord::default()
                },
            }
        })
        .collect()
}

fn metrics_body(
    ns: &str,
    step: &Step,
    i: usize,
    ok: u64,
    failed: u64,
    when: &str,
) -> serde_json::Value {
    let m = &step.metrics[i];
    let metrics = json!([
        {"name": "p99_response_latency", "unit": "ms", "value": "12m"},
        {"name": "p90_response_latency", "unit": "ms", "value": "9m"},
        {"name": "p50_response_latency", "unit": "ms", "value": "3m"},
        {"name": "success_count", "value": ok.to_string()},
        {"name": "failure_count", "value": failed.to_string()},
    ]);
    let resource = json!({"kind": m.resource.kind, "name": m.resource.name, "namespace": ns});
    match &m.edge {
        None => json!({
            "apiVersion": "metrics.smi-spec.io/v1alpha1",
            "kind": "TrafficMetrics",
            "resource": resource,
            "edge": {"direction": "from", "resource": null},
            "timestamp": when,
            "window": "30s",
            "metrics": metrics,
        }),
        Some(target) => json!({
            "apiVersion": "metrics.smi-spec.io/v1alpha1",
            "kind": "TrafficMetricsList",
            "resource": resource,
            "items": [{
                "kind": "TrafficMetrics",
                "resource": resource,
                "edge": {"direction": "to", "resource": {"kind": m.resource.kind, "name": target, "namespace": ns}},
                "timestamp": when,
                "window": "30s",
                "metrics": metrics,
            }],
        }),
    }
}

/// Observations of a mostly conformant mesh: every step of the case, a defined variant.
fn observation(rng: &mut Rng, lc: &LoadedCase, ns: &str) -> CaseObservation {
    let variant = lc.case.spec.variants[0].name.clone();
    let mut served = BTreeMap::new();
    for (group, version) in &lc.case.spec.variants[0].apis {
        served.insert(group.clone(), vec!["v1alpha1".to_string(), version.clone()]);
    }
    served.insert("metrics.smi-spec.io".into(), vec!["v1alpha1".into()]);
    let mut steps: Vec<StepObservation> = Vec::new();
    for step in &lc.case.spec.steps {
        let attempts_n = if step.traffic.is_empty() {
            1
        } else {
            rng.range(1, 3)
        };
        let mut attempts = Vec::new();
        let mut at_ms = 0;
        for a in 0..attempts_n {
            at_ms += rng.range(200, 3_000);
            let last = a + 1 == attempts_n;
            let objs = |files: &[String], ok: bool, rng: &mut Rng| -> Vec<ObjectResult> {
                files
                    .iter()
                    .flat_map(|f| {
                        case_objects(lc, &variant, ns, f)
                            .into_iter()
                            .map(|(o, _)| (f.clone(), o))
                            .collect::<Vec<_>>()
                    })
                    .map(|(file, object)| ObjectResult {
                        file,
                        object,
                        ok,
                        message: (!ok || rng.chance(20)).then(|| "configured".to_string()),
                    })
                    .collect()
            };
            let mut snapshots = Vec::new();
            if let Some(assert) = &step.assert {
                for (files, found) in [(&assert.present, true), (&assert.absent, false)] {
                    for f in files {
                        for (object, want) in case_objects(lc, &variant, ns, f) {
                            // What the API server would answer: the object plus server fields.
                            let value = found.then(|| {
                                let mut v = want;
                                if let Some(meta) = v["metadata"].as_object_mut() {
                                    meta.insert("uid".into(), json!(rng.uuid_string()));
                                    meta.insert(
                                        "resourceVersion".into(),
                                        json!(rng.range(1000, 99_999).to_string()),
                                    );
                                }
                                if let Some(obj) = v.as_object_mut() {
                                    obj.entry("status").or_insert(json!({
                                        "conditions": [{"type": "Established", "status": "True"}]
                                    }));
                                }
                                v
                            });
                            snapshots.push(ObjectSnapshot {
                                file: f.clone(),
                                object,
                                found,
                                value,
                            });
                        }
                    }
                }
            }
            let traffic = step
                .traffic
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let works = last || rng.chance(30);
                    TrafficObservation {
                        check: i,
                        records: traffic_records(rng, ns, c, works),
                    }
                })
                .collect::<Vec<_>>();
            let metrics = (0..step.metrics.len())
                .map(|i| {
                    let from = step.metrics[i].counts_from.as_ref().and_then(|from| {
                        steps
                            .iter()
                            .find(|s| &s.name == from)
                            .and_then(|s| s.attempts.last())
                    });
                    let (ok, failed) = from
                        .map(|a| {
                            let all = a.traffic.iter().flat_map(|t| &t.records);
                            let ok = all.clone().filter(|r| r.succeeded()).count() as u64;
                            (ok, all.count() as u64 - ok)
                        })
                        .unwrap_or((20, 0));
                    let m = &step.metrics[i];
                    let mut path = format!(
                        "/apis/metrics.smi-spec.io/v1alpha1/namespaces/{ns}/{}/{}",
                        m.resource.kind, m.resource.name
                    );
                    if m.edge.is_some() {
                        path.push_str("/edges");
                    }
                    MetricsObservation {
                        check: i,
                        path,
                        status: Some(200),
                        body: Some(metrics_body(
                            ns,
                            step,
                            i,
                            ok,
                            failed,
                            "2026-11-26T10:20:00Z",
                        )),
                        error: None,
                    }
                })
                .collect();
            attempts.push(Attempt {
                at_ms,
                applied: objs(&step.apply, true, rng),
                deleted: objs(&step.delete, true, rng),
                objects: snapshots,
                traffic,
                metrics,
                pods: step.data_plane.then(|| {
                    ["app-a", "app-b", "app-c"]
                        .iter()
                        .map(|app| meshproof::observation::PodObservation {
                            name: source_pod(app).name,
                            app: Some(app.to_string()),
                            containers: source_pod(app).containers,
                            ready: true,
                        })
                        .collect()
                }),
            });
        }
        steps.push(StepObservation {
            name: step.name.clone(),
            status: StepStatus::Completed,
            error: None,
            attempts,
            retried: Vec::new(),
        });
    }
    CaseObservation {
        format: OBSERVATION_FORMAT,
        case: lc.name().to_string(),
        variant,
        namespace: ns.to_string(),
        served,
        steps,
    }
}

fn copy_tree(from: &Path, to: &Path) -> Res<u64> {
    let mut n = 0;
    fs::create_dir_all(to)?;
    let mut entries: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let t = e.file_type()?;
        if t.is_dir() {
            n += copy_tree(&e.path(), &to.join(e.file_name()))?;
        } else if t.is_file() {
            n += fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(n)
}

/// The first `*.yaml` (sorted) of a folder, newest last when `last`.
fn pick_yaml(dir: &Path, last: bool) -> Res<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    let p = if last { v.pop() } else { v.into_iter().next() };
    p.ok_or_else(|| format!("no yaml in {}", dir.display()).into())
}

/// Generate the run directory; returns (files, bytes).
fn generate(repo: &Path, run: &Path, size: u64) -> Res<(usize, u64)> {
    let mut rng = Rng(SEED);
    let (suite, _) = Catalog::new(repo).suite("smi")?;
    let cases: Vec<String> = suite.cases.iter().map(|c| c.name().to_string()).collect();
    let w = world(&mut rng, &cases);
    let mut files = 0usize;
    let mut bytes = 0u64;

    // manifest.json: only its `run` section is read by `bundle pack`.
    let run_info = RunInfo {
        id: "bench-20261126-100000-0001".into(),
        status: RunStatus::Complete,
        started_at: "2026-11-26T10:00:00Z".into(),
        finished_at: "2026-11-26T10:42:17Z".into(),
        scoring: Scoring::default(),
        selection: RunSelection {
            cluster: Some("kind-default".into()),
            mesh: Some("osm@1.2.4".into()),
            workload: Some("smi-apps".into()),
            suite: Some("smi".into()),
            ..RunSelection::default()
        },
        parent: None,
        extra: Default::default(),
    };
    let manifest = serde_json::to_vec_pretty(&RunManifest { run: run_info })?;
    fs::write(run.join("manifest.json"), &manifest)?;
    files += 1;
    bytes += manifest.len() as u64;

    // inputs/: the suite, a cluster pin, a mesh pin, the workload.
    let inputs = run.join("inputs");
    bytes += copy_tree(&repo.join("suites/smi"), &inputs.join("suite"))?;
    fs::create_dir_all(inputs.join("workload"))?;
    bytes += fs::copy(
        pick_yaml(&repo.join("clusters"), true)?,
        inputs.join("cluster.yaml"),
    )?;
    bytes += fs::copy(
        pick_yaml(&repo.join("meshes/osm"), true)?,
        inputs.join("mesh.yaml"),
    )?;
    for f in ["workload.yaml", "access.yaml", "split.yaml"] {
        let src = repo.join("workloads/smi-apps").join(f);
        if src.exists() {
            bytes += fs::copy(src, inputs.join("workload").join(f))?;
        }
    }

    // resolved/
    fs::create_dir_all(run.join("resolved"))?;
    let images: BTreeMap<String, String> = w
        .pods
        .iter()
        .map(|(ns, p)| {
            (
                format!("{ns}/{p}"),
                format!("sha256:{}", rng.hex_string(64)),
            )
        })
        .collect();
    for (name, value) in [
        ("resolved/images.json", serde_json::to_value(&images)?),
        (
            "resolved/versions.json",
            json!({"kind": "v0.32.0", "kubernetes": "v1.35.0", "docker": "27.3.1", "mesh": "osm v1.2.4"}),
        ),
        (
            "resolved/smi-apis.json",
            json!({"access.smi-spec.io": ["v1alpha1", "v1alpha2", "v1alpha3"], "specs.smi-spec.io": ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"], "split.smi-spec.io": ["v1alpha1", "v1alpha2"], "metrics.smi-spec.io": ["v1alpha1"]}),
        ),
    ] {
        let b = serde_json::to_vec_pretty(&value)?;
        fs::write(run.join(name), &b)?;
        files += 1;
        bytes += b.len() as u64;
    }

    // observations/<case>.json
    fs::create_dir_all(run.join("observations"))?;
    for (lc, ns) in suite.cases.iter().zip(&w.namespaces) {
        let obs = observation(&mut rng, lc, ns);
        let mut b = serde_json::to_vec_pretty(&obs)?;
        b.push(b'\n');
        // Must parse the way `bundle pack` reads it.
        meshproof::bundle::parse_observation(&format!("observations/{}.json", lc.name()), &b)?;
        fs::write(run.join(format!("observations/{}.json", lc.name())), &b)?;
        files += 1;
        bytes += b.len() as u64;
    }
    files += walk_count(&inputs)?;

    // logs/: the rest of the budget.
    let planned = plan_files(&mut rng, &w);
    let budget = size.saturating_sub(bytes);
    let total_weight: u64 = planned.iter().map(|f| f.weight).sum();
    for f in &planned {
        let share = (budget as u128 * f.weight as u128 / total_weight.max(1) as u128) as u64;
        bytes += write_log(run, &mut rng, &w, f, share)?;
        files += 1;
    }
    Ok((files, bytes))
}

fn walk_count(dir: &Path) -> Res<usize> {
    let mut n = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            n += walk_count(&e.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Sample {
    wall: Duration,
    /// Peak RSS in KiB (largest process of the command), from `/usr/bin/time -v`.
    rss_kib: Option<u64>,
    /// User + system CPU seconds (all processes of the command), from `/usr/bin/time -v`.
    cpu_s: Option<f64>,
    /// Lowest and highest 1-minute load average seen before and after the runs.
    load: Option<(f64, f64)>,
}

const TIME: &str = "/usr/bin/time";

/// Run `argv` as a child under `/usr/bin/time -v`; fail unless it exits 0.
fn run_child(argv: &[String], scratch: &Path) -> Res<Sample> {
    let have_time = Path::new(TIME).exists();
    let rss_file = scratch.join("time-v.txt");
    let mut cmd = if have_time {
        let mut c = Command::new(TIME);
        c.arg("-v").arg("-o").arg(&rss_file).args(argv);
        c
    } else {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output()?;
    let wall = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let report = if have_time {
        fs::read_to_string(&rss_file)?
    } else {
        String::new()
    };
    let field = |name: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let rss_kib = field("Maximum resident set size (kbytes):").and_then(|v| v.parse().ok());
    let user = field("User time (seconds):").and_then(|v| v.parse::<f64>().ok());
    let sys = field("System time (seconds):").and_then(|v| v.parse::<f64>().ok());
    let cpu_s = user.zip(sys).map(|(u, s)| u + s);
    Ok(Sample {
        wall,
        rss_kib,
        cpu_s,
        load: None,
    })
}

/// Best wall time, least CPU time and largest peak RSS over `runs` runs, after one untimed
/// warm-up run.
fn bench(label: &str, argv: &[String], runs: usize, scratch: &Path) -> Res<Sample> {
    let mut loads: Vec<f64> = load_avg().into_iter().collect();
    eprintln!("  {label}: warm-up");
    run_child(argv, scratch)?;
    let mut best = Duration::MAX;
    let mut rss = None;
    let mut cpu: Option<f64> = None;
    for i in 0..runs {
        let s = run_child(argv, scratch)?;
        eprintln!(
            "  {label}: run {} {:.3} s wall, {} CPU, peak RSS {}",
            i + 1,
            s.wall.as_secs_f64(),
            secs(s.cpu_s),
            mib(s.rss_kib)
        );
        loads.extend(load_avg());
        best = best.min(s.wall);
        rss = rss.max(s.rss_kib);
        cpu = match (cpu, s.cpu_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let load = loads
        .iter()
        .copied()
        .fold(None, |acc: Option<(f64, f64)>, l| match acc {
            None => Some((l, l)),
            Some((lo, hi)) => Some((lo.min(l), hi.max(l))),
        });
    Ok(Sample {
        wall: best,
        rss_kib: rss,
        cpu_s: cpu,
        load,
    })
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.2} s"))
        .unwrap_or_else(|| "n/a".into())
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

fn sh_quote(p: &Path) -> Res<String> {
    let s = p.to_str().ok_or("path is not UTF-8")?;
    if s.contains('\'') {
        return Err(format!("path {s} contains a quote").into());
    }
    Ok(format!("'{s}'"))
}

fn file_sha256(p: &Path) -> Res<String> {
    let mut f = fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn meshproof_bin(args: &Args) -> Res<PathBuf> {
    if let Some(b) = &args.bin {
        return Ok(b.clone());
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/bundle_bench → target/<profile>/meshproof
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    if !profile_dir.ends_with("release") {
        eprintln!(
            "warning: not a release build; run with `cargo run --release --example bundle_bench`"
        );
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "meshproof", "--bin", "meshproof"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    eprintln!("building the meshproof binary ...");
    if !build.status()?.success() {
        return Err("cargo build --bin meshproof failed".into());
    }
    Ok(profile_dir.join("meshproof"))
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|k| format!("{:.1} GiB RAM", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let sha_ni = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "sha_ni"));
    format!(
        "{} CPUs (nproc), {model}{}, {mem}; {}; {}; {}",
        cmd_out("nproc", &[]),
        if sha_ni { " (SHA-NI)" } else { "" },
        cmd_out("zstd", &["--version"]),
        cmd_out("tar", &["--version"]).lines().next().unwrap_or(""),
        cmd_out("openssl", &["version"])
    )
}

fn main() -> Res<()> {
    let args = parse_args()?;
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("meshproof-bench-{}", std::process::id()))
    });
    if work.exists() && fs::read_dir(&work)?.next().is_some() {
        return Err(format!("{} exists and is not empty", work.display()).into());
    }
    let bin = meshproof_bin(&args)?;
    fs::create_dir_all(&work)?;
    let result = run_bench(&args, &repo, &work, &bin);
    if args.keep {
        eprintln!("kept {}", work.display());
    } else {
        let _ = fs::remove_dir_all(&work);
    }
    result
}

fn load_avg() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn dir_bytes(dir: &Path) -> Res<u64> {
    let mut n = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        n += if e.file_type()?.is_dir() {
            dir_bytes(&e.path())?
        } else {
            e.metadata()?.len()
        };
    }
    Ok(n)
}

fn sh(cmd: String) -> Vec<String> {
    vec!["sh".into(), "-c".into(), cmd]
}

fn run_bench(args: &Args, repo: &Path, work: &Path, bin: &Path) -> Res<()> {
    let run = match &args.data {
        Some(d) => d.clone(),
        None => {
            let run = work.join("run");
            fs::create_dir_all(&run)?;
            let size = args.size_mib * MIB;
            eprintln!("generating {} MiB in {} ...", args.size_mib, run.display());
            let t = Instant::now();
            generate(repo, &run, size)?;
            eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
            run
        }
    };
    let (files, bytes) = (walk_count(&run)?, dir_bytes(&run)?);

    let bundle = work.join("bundle.tar.zst");
    let bundle1 = work.join("bundle-jobs1.tar.zst");
    let plain = work.join("plain.tar.zst");
    let tar = work.join("bundle.tar");
    let s = |p: &Path| p.display().to_string();
    let q = |p: &Path| sh_quote(p);
    let pack_argv = vec![
        s(bin),
        "bundle".into(),
        "pack".into(),
        s(&run),
        "-o".into(),
        s(&bundle),
        "--force".into(),
    ];
    let mut pack1_argv = pack_argv.clone();
    pack1_argv[5] = s(&bundle1);
    pack1_argv.extend(["--jobs".into(), "1".into()]);
    let tar_mt = sh(format!(
        "tar -c --sort=name -C {} . | zstd -3 -T0 -q -f -o {}",
        q(&run)?,
        q(&plain)?
    ));
    let verify_argv = vec![s(bin), "verify".into(), s(&bundle)];
    let unzstd = sh(format!("zstd -d -q -c {} > /dev/null", q(&bundle)?));
    let ossl = vec!["openssl".into(), "dgst".into(), "-sha256".into(), s(&tar)];
    let unzstd_t0 = sh(format!("zstd -d -q -T0 -c {} > /dev/null", q(&bundle)?));

    let mut rows: Vec<(&str, Sample)> = Vec::new();
    eprintln!("pack:");
    let pack = bench("meshproof bundle pack", &pack_argv, args.runs, work)?;
    rows.push(("`meshproof bundle pack` (one worker per core)", pack));
    let first_bundle = file_sha256(&bundle)?;
    let tarz = bench("tar | zstd -3 -T0", &tar_mt, args.runs, work)?;
    rows.push(("`tar -c --sort=name \\| zstd -3 -T0`", tarz));
    let pack1 = bench(
        "meshproof bundle pack --jobs 1",
        &pack1_argv,
        args.runs,
        work,
    )?;
    rows.push(("`meshproof bundle pack --jobs 1`", pack1));
    eprintln!("verify:");
    let verify = bench("meshproof verify", &verify_argv, args.runs, work)?;
    rows.push(("`meshproof verify`", verify));
    let dec = bench("zstd -d > /dev/null", &unzstd, args.runs, work)?;
    rows.push(("`zstd -d -c B > /dev/null` (decompression only)", dec));
    let dec_t0 = bench("zstd -d -T0 > /dev/null", &unzstd_t0, args.runs, work)?;
    rows.push(("`zstd -d -T0 -c B > /dev/null`", dec_t0));
    // The 1 GiB tar inside the bundle, for the hashing baseline; deleted right after.
    let status = Command::new("zstd")
        .args(["-d", "-q", "-f"])
        .arg(&bundle)
        .arg("-o")
        .arg(&tar)
        .status()?;
    if !status.success() {
        return Err("zstd -d of the bundle failed".into());
    }
    let hash = bench("openssl dgst -sha256", &ossl, args.runs, work);
    let _ = fs::remove_file(&tar);
    let hash = hash?;
    rows.push(("`openssl dgst -sha256` over the tar", hash));
    // Determinism: the last pack wrote the same bytes as the first, and one worker the same as
    // one per core.
    let deterministic = file_sha256(&bundle)? == first_bundle;
    let same_across_jobs = file_sha256(&bundle1)? == first_bundle;
    let bundle_size = fs::metadata(&bundle)?.len();
    let plain_size = fs::metadata(&plain)?.len();

    let ratio = |a: Sample, b: Sample| a.wall.as_secs_f64() / b.wall.as_secs_f64();
    let cpu_ratio = |a: Sample, b: Sample| a.cpu_s.zip(b.cpu_s).map(|(a, b)| a / b);
    let pack_ratio = ratio(pack, tarz);
    let verify_ratio = ratio(verify, dec);
    // 64 MB read strictly as 64,000,000 bytes.
    let rss_ok = |s: Sample| s.rss_kib.map(|k| k * 1024 <= 64_000_000);
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    };
    let load = |s: Sample| {
        s.load
            .map(|(lo, hi)| format!("{lo:.2}–{hi:.2}"))
            .unwrap_or_else(|| "n/a".into())
    };
    let x = |r: Option<f64>| {
        r.map(|r| format!("{r:.2}×"))
            .unwrap_or_else(|| "n/a".into())
    };

    println!();
    println!("machine: {}", machine());
    println!("date: {}", cmd_out("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    println!(
        "data: {files} files, {bytes} bytes ({:.1} MiB); best of {} runs after one warm-up",
        bytes as f64 / MIB as f64,
        args.runs
    );
    println!();
    println!("| command | wall (best) | CPU user+sys (least) | peak RSS (largest) | load avg (1 min) while measured |");
    println!("|---|---:|---:|---:|---:|");
    for (name, smp) in &rows {
        println!(
            "| {name} | {:.3} s | {} | {} | {} |",
            smp.wall.as_secs_f64(),
            secs(smp.cpu_s),
            mib(smp.rss_kib),
            load(*smp)
        );
    }
    println!();
    println!("| target | wall ratio | CPU ratio | result (wall) |");
    println!("|---|---:|---:|---|");
    println!(
        "| verify ≤ 1.15× `zstd -d > /dev/null` | {verify_ratio:.2}× | {} | {} |",
        x(cpu_ratio(verify, dec)),
        verdict(Some(verify_ratio <= 1.15))
    );
    println!(
        "| pack ≤ 1.0× `tar \\| zstd -3 -T0` | {pack_ratio:.2}× | {} | {} |",
        x(cpu_ratio(pack, tarz)),
        verdict(Some(pack_ratio <= 1.0))
    );
    println!(
        "| verify peak RSS ≤ 64 MB | {} | | {} |",
        mib(verify.rss_kib),
        verdict(rss_ok(verify))
    );
    println!(
        "| pack peak RSS ≤ 64 MB | {} | | {} |",
        mib(pack.rss_kib),
        verdict(rss_ok(pack))
    );
    println!();
    println!(
        "for reference: verify / `openssl dgst -sha256` {:.2}× wall; pack --jobs 1 / pack {:.2}× wall",
        ratio(verify, hash),
        ratio(pack1, pack)
    );
    println!(
        "bundle: {bundle_size} bytes; tar|zstd -3 -T0: {plain_size} bytes ({:.4}×); compression {:.2}:1",
        bundle_size as f64 / plain_size as f64,
        bytes as f64 / bundle_size as f64
    );
    println!(
        "pack deterministic across runs: {}; --jobs 1 gives the same bytes as one worker per core: {}",
        if deterministic { "yes" } else { "NO" },
        if same_across_jobs { "yes" } else { "NO" }
    );
    if !deterministic || !same_across_jobs {
        return Err("bundle bytes differ between runs or worker counts".into());
    }
    Ok(())
}

/// A workload pod of the OSM pin the bundles record: the probe and OSM's `envoy` sidecar.
fn source_pod(app: &str) -> meshproof::observation::SourcePod {
    meshproof::observation::SourcePod {
        name: format!("{app}-7c9f8d6b5-q2x4z"),
        containers: vec!["envoy".into(), "probe".into()],
    }
}
