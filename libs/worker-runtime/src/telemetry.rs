//! Logging setup and the HTTP endpoint serving `/metrics` (Prometheus text) and `/healthz`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetryConfig};

/// Installs the global tracing subscriber (stderr). `RUST_LOG` wins over the config filter.
pub fn init_logging(cfg: &TelemetryConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log_filter));
    // Colour only on a terminal: log files and collectors get plain `key=value` text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match cfg.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// What `/healthz` reports: named checks, each healthy or not with a detail. The endpoint
/// answers 200 when every check is healthy, 503 otherwise.
#[derive(Clone, Default)]
pub struct Health {
    checks: Arc<RwLock<BTreeMap<&'static str, (bool, String)>>>,
}

impl Health {
    pub fn set(&self, name: &'static str, ok: bool, detail: impl Into<String>) {
        if let Ok(mut c) = self.checks.write() {
            c.insert(name, (ok, detail.into()));
        }
    }

    fn render(&self) -> (bool, String) {
        let checks = self.checks.read().map(|c| c.clone()).unwrap_or_default();
        let ok = checks.values().all(|(ok, _)| *ok);
        let body = serde_json::json!({
            "status": if ok { "ok" } else { "unhealthy" },
            "checks": checks.iter().map(|(k, (ok, d))| (k.to_string(), serde_json::json!({"ok": ok, "detail": d})))
                .collect::<serde_json::Map<_, _>>(),
        });
        (ok, body.to_string())
    }
}

/// Binds the telemetry endpoint and serves it until `shutdown`. Logs `listening addr=<addr>`,
/// which tests and operators read when the configured port is 0.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(addr: SocketAddr, health: Health, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("bind telemetry endpoint {addr}"))?;
    let local = listener.local_addr().context("read bound address")?;
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::render()) }),
        )
        .route(
            "/healthz",
            get(move || {
                let health = health.clone();
                async move {
                    let (ok, body) = health.render();
                    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
                }
            }),
        );
    tracing::info!(addr = %local, "listening addr={local}");
    tokio::spawn(async move {
        let r = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
        if let Err(e) = r {
            tracing::error!(error = %e, "telemetry endpoint stopped");
        }
    });
    Ok(local)
}
