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
