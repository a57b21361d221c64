//! Start-up steps that a misconfiguration must not turn into an exit: a worker whose S3 key is
//! refused (or whose bucket is missing) stays up, says so in `/healthz`, raises
//! `evidence_worker_config_fault{subject="startup",…}` (alert `EvidenceConfigurationRefused`), and
//! tries again until the operator fixes it — then goes on as if nothing happened. Jobs wait in
//! their queue meanwhile; none is rejected. Other start-up errors still stop the worker.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::consume::ConfigFault;
use crate::telemetry::Health;

/// The `subject` label of configuration faults met at start-up.
pub const STARTUP: &str = "startup";

/// Runs `attempt` until it succeeds. While it fails with an error `fault_of` recognises as a
/// configuration fault, the worker waits (`every`, doubling up to 60 s) and tries again, with
/// health check `check` false and the fault in the metrics; any other error is returned.
///
/// # Errors
/// A failure that is not a configuration fault, or shutdown while waiting.
pub async fn until_configured<T, F, Fut>(
    check: &'static str,
    health: &Health,
    shutdown: &CancellationToken,
    every: Duration,
    fault_of: impl Fn(&anyhow::Error) -> Option<ConfigFault>,
    mut attempt: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut wait = every;
    loop {
        match attempt().await {
            Ok(v) => {
                crate::metrics::config_fault_cleared(STARTUP);
                return Ok(v);
            }
            Err(e) => {
                let Some(f) = fault_of(&e) else { return Err(e) };
                crate::metrics::config_fault(STARTUP, &f);
                health.set(check, false, format!("{e:#}"));
                tracing::error!(error = %format!("{e:#}"), service = f.service, endpoint = %f.endpoint, resource = %f.resource,
                    credential = %f.credential, retry_in = ?wait,
                    "the configuration is refused at start-up; waiting for it to be fixed (nothing is rejected meanwhile)");
                tokio::select! {
                    () = shutdown.cancelled() => anyhow::bail!("shut down while waiting for the configuration to be fixed: {e:#}"),
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// A worker's whole configuration: the shared sections, its own, and how it checks itself.
/// What [`main_run`] needs to load it the same way for every worker.
pub trait WorkerConfig: serde::de::DeserializeOwned + serde::Serialize + Default {
    /// `[nats]`, `[telemetry]`, and `s3.endpoint`, for the command-line overrides.
    fn shared(&mut self) -> (&mut crate::config::NatsConfig, &mut crate::config::TelemetryConfig, &mut Option<String>);
    /// Every key checked; the message names the offending one.
    ///
    /// # Errors
    /// An invalid value.
    fn validate(&self) -> anyhow::Result<()>;

    /// The file (or the embedded defaults) with `--nats-url`, `--s3-endpoint`, `--metrics-addr`
    /// applied, validated.
    ///
    /// # Errors
    /// Unreadable file, unknown key, invalid value (named).
    fn load(args: &crate::cli::RunArgs) -> anyhow::Result<Self> {
        let mut cfg: Self = crate::config::load_toml(args.endpoints.config.as_deref())?;
        let (nats, telemetry, s3_endpoint) = cfg.shared();
        if let Some(ep) = args.apply(nats, telemetry) {
            *s3_endpoint = Some(ep);
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Implements [`WorkerConfig`] for a worker's `Config` with fields `nats`, `telemetry`, `s3`
/// (an `object_store::S3Config`) and an inherent `validate(&self) -> anyhow::Result<()>`.
#[macro_export]
macro_rules! worker_config {
    ($t:ty) => {
        impl $crate::startup::WorkerConfig for $t {
            fn shared(
                &mut self,
            ) -> (&mut $crate::config::NatsConfig, &mut $crate::config::TelemetryConfig, &mut Option<String>) {
                (&mut self.nats, &mut self.telemetry, &mut self.s3.endpoint)
            }

            fn validate(&self) -> anyhow::Result<()> {
                <$t>::validate(self)
            }
        }
    };
}

/// `<worker> run`: loads the configuration (or, with `--print-config`, prints it and returns),
/// starts logging, and runs `run` until SIGTERM/SIGINT.
///
/// # Errors
/// An invalid configuration, or what `run` returns.
pub async fn main_run<C, F, Fut>(args: crate::cli::RunArgs, run: F) -> anyhow::Result<()>
where
    C: WorkerConfig,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut cfg = C::load(&args)?;
    if args.print_config {
        println!("{}", crate::config::to_toml(&cfg));
        return Ok(());
    }
    crate::telemetry::init_logging(cfg.shared().1);
    run(cfg, crate::shutdown::on_signal()).await
}

/// The first steps of every worker: `/metrics` and `/healthz` served, NATS connected (health
/// check `nats`), and the `streams` it uses there (created from `deploy/nats/streams/` if allowed).
///
/// # Errors
/// The listen address is taken, NATS cannot be reached, a stream is missing and may not be created.
pub async fn serve_and_connect(
    name: &str,
    telemetry: &crate::config::TelemetryConfig,
    nats: &crate::config::NatsConfig,
    streams: &[&str],
    shutdown: &CancellationToken,
) -> anyhow::Result<(Health, async_nats::jetstream::Context)> {
    let health = Health::default();
    crate::telemetry::serve(telemetry.listen, health.clone(), shutdown.clone()).await?;
    let client = crate::nats::connect(nats, name).await?;
    health.set("nats", true, nats.url.clone());
    let js = crate::nats::jetstream(&client, nats, streams).await?;
    Ok((health, js))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_configuration_is_waited_out_and_other_errors_stop() {
        let health = Health::default();
        let shutdown = CancellationToken::new();
        let fault = |e: &anyhow::Error| {
            e.to_string().contains("denied").then(|| ConfigFault::s3(("e".into(), "b".into(), "k".into())))
        };
        let mut n = 0;
        let v = until_configured("s3", &health, &shutdown, Duration::from_millis(1), fault, || {
            n += 1;
            let r = if n < 3 { Err(anyhow::anyhow!("access denied")) } else { Ok(n) };
            async move { r }
        })
        .await
        .expect("fixed on the third try");
        assert_eq!(v, 3);
        let e = until_configured("s3", &health, &shutdown, Duration::from_millis(1), fault, || async {
            Err::<(), _>(anyhow::anyhow!("disk on fire"))
        })
        .await
        .expect_err("not a configuration fault");
        assert!(e.to_string().contains("disk on fire"));
    }
}
