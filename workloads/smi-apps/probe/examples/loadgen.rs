//! Load generator for the probe (not a test): starts app-a and app-b on loopback in a
//! single-threaded server runtime (one core), drives them from a second single-threaded client
//! runtime, and prints requests/s, latency percentiles and peak RSS.
//!
//! Run: `cargo run --release -p meshproof-probe --example loadgen -- [--requests N] [--conns C]`
//! With `--a ADDR --b ADDR` it drives already-running probe processes instead (so their own
//! peak RSS can be read from `/proc/<pid>/status`).

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use meshproof_probe::{spawn, DEFAULT_CAP};
use tokio::net::TcpStream;

struct Args {
    requests: usize,
    conns: usize,
    external: (Option<SocketAddr>, Option<SocketAddr>),
}

fn parse_args() -> Args {
    let mut args = Args {
        requests: 100_000,
        conns: 32,
        external: (None, None),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        let num = value.parse::<usize>().ok().filter(|v| *v > 0);
        let addr = value.parse::<SocketAddr>().ok();
        match (flag.as_str(), num, addr) {
            ("--requests", Some(v), _) => args.requests = v,
            ("--conns", Some(v), _) => args.conns = v,
            ("--a", _, Some(a)) => args.external.0 = Some(a),
            ("--b", _, Some(b)) => args.external.1 = Some(b),
            _ => {
                eprintln!("usage: loadgen [--requests N] [--conns C] [--a IP:PORT --b IP:PORT]");
                std::process::exit(2);
            }
        }
    }
    args
}

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Outcome {
    elapsed: Duration,
    latencies_us: Vec<u32>,
    errors: usize,
}

fn report(name: &str, o: &mut Outcome) {
    o.latencies_us.sort_unstable();
    let n = o.latencies_us.len();
    let pct = |p: f64| {
        if n == 0 {
            0
        } else {
            o.latencies_us[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
        }
    };
    println!(
        "{name:<22} {n:>7} req in {:>6.2}s = {:>8.0} req/s | p50 {:>6} us | p99 {:>6} us | max {:>6} us | errors {}",
        o.elapsed.as_secs_f64(),
        n as f64 / o.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        o.latencies_us.last().copied().unwrap_or(0),
        o.errors
    );
}

/// Sends `total` requests built by `make` over `conns` keep-alive connections to `addr`.
async fn drive(
    addr: SocketAddr,
    total: usize,
    conns: usize,
    make: fn() -> Request<Full<Bytes>>,
) -> Outcome {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..conns {
        let share = total / conns + usize::from(i < total % conns);
        set.spawn(async move {
            let mut lat = Vec::with_capacity(share);
            let mut errors = 0;
            let stream = TcpStream::connect(addr)
                .await
                .expect("connect to the probe");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            for _ in 0..share {
                let t = Instant::now();
                let ok = match sender.send_request(make()).await {
                    Ok(resp) => {
                        let ok = resp.status() == 200;
                        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                        // For /call, the answer's own status field tells whether B answered.
                        ok && body.is_ok_and(|b| !b.windows(13).any(|w| w == b"\"status\":null"))
                    }
                    Err(_) => false,
                };
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        });
    }
    let mut out = Outcome {
        elapsed: Duration::ZERO,
        latencies_us: Vec::with_capacity(total),
        errors: 0,
    };
    while let Some(res) = set.join_next().await {
        let (lat, errors) = res.expect("client task");
        out.latencies_us.extend(lat);
        out.errors += errors;
    }
    out.elapsed = start.elapsed();
    out
}

fn echo_request() -> Request<Full<Bytes>> {
    Request::get("/echo")
        .header("host", "app-b")
        .header("servicename", "loadgen")
        .body(Full::new(Bytes::new()))
        .expect("request")
}

static CALL_BODY: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();

fn call_request() -> Request<Full<Bytes>> {
    Request::post("/call")
        .header("host", "app-a")
        .header("content-type", "application/json")
        .body(Full::new(CALL_BODY.get().cloned().unwrap_or_default()))
        .expect("request")
}

fn main() {
    let args = parse_args();
    if let (Some(a), Some(b)) = args.external {
        CALL_BODY
            .get_or_init(|| Bytes::from(format!(r#"{{"url":"http://{b}/echo","method":"GET"}}"#)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        println!(
            "loadgen: external probes a={a} b={b}, {} requests per phase, {} connections",
            args.requests, args.conns
        );
        rt.block_on(async {
            let mut echo = drive(b, args.requests, args.conns, echo_request).await;
            report("GET /echo (app-b)", &mut echo);
            let mut call = drive(a, args.requests, args.conns, call_request).await;
            report("POST /call A->B", &mut call);
        });
        return;
    }
    // Server: app-a and app-b on ONE thread (current_thread runtime) = one core at most.
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
            let a = spawn("app-a", any, DEFAULT_CAP).await.expect("start app-a");
            let b = spawn("app-b", any, DEFAULT_CAP).await.expect("start app-b");
            addr_tx.send((a.addr, b.addr)).expect("send addrs");
            let _ = stop_rx.await;
            let ta = a.metrics.totals();
            let tb = b.metrics.totals();
            println!(
                "server totals: app-a records={} RespSucceeded={} RespFailed={}; app-b ReqReceived={} (lists capped at {})",
                ta.records, ta.resp_succeeded, ta.resp_failed, tb.req_received, DEFAULT_CAP
            );
            let _ = a.shutdown().await;
            let _ = b.shutdown().await;
        });
    });
    let (a, b) = addr_rx.recv().expect("server started");
    CALL_BODY.get_or_init(|| Bytes::from(format!(r#"{{"url":"http://{b}/echo","method":"GET"}}"#)));

    // Client: a second single thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    println!(
        "loadgen: {} requests per phase, {} keep-alive client connections; server = 1 thread, client = 1 thread",
        args.requests, args.conns
    );
    rt.block_on(async {
        // Warm-up so connection setup and allocator growth are not measured.
        let _ = drive(b, 2_000, args.conns, echo_request).await;
        let mut echo = drive(b, args.requests, args.conns, echo_request).await;
        report("GET /echo (app-b)", &mut echo);
        let mut call = drive(a, args.requests, args.conns, call_request).await;
        report("POST /call A->B", &mut call);
    });
    let _ = stop_tx.send(());
    server.join().expect("server thread");
    println!(
        "peak RSS (VmHWM) after {} /echo + {} /call: {} KiB; current VmRSS {} KiB",
        args.requests,
        args.requests,
        status_kib("VmHWM:"),
        status_kib("VmRSS:")
    );
}
