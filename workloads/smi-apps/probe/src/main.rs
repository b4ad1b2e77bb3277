//! meshproof-probe binary: reads `SERVICE_NAME`/`PORT`, serves until SIGTERM or SIGINT.

use std::error::Error as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use meshproof_probe::server::ServeOptions;
use meshproof_probe::{serve, Config, Metrics, ProbeError, DEFAULT_CAP};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("meshproof-probe: error: {e}");
            let mut cur = e.source();
            while let Some(s) = cur {
                msg.push_str(&format!("\n  caused by: {s}"));
                cur = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), ProbeError> {
    let cfg = Config::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ProbeError::Runtime)?;
    rt.block_on(async {
        let addr = SocketAddr::from(([0, 0, 0, 0], cfg.port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ProbeError::Bind { addr, source })?;
        let mut term = signal(SignalKind::terminate()).map_err(ProbeError::Signal)?;
        let mut int = signal(SignalKind::interrupt()).map_err(ProbeError::Signal)?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        let opts = ServeOptions {
            name: cfg.service_name.clone(),
            log_calls: true,
        };
        serve(
            listener,
            opts,
            Arc::new(Metrics::new(DEFAULT_CAP)),
            shutdown,
        )
        .await
    })
}
