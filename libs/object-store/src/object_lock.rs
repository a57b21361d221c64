//! S3 Object Lock: COMPLIANCE retention and legal hold on puts and afterwards (only ever
//! extended), what the store reports, and the probe that finds out whether a bucket is really
//! write-once.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode,
};

use crate::client::Store;
use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub retain_until: chrono::DateTime<chrono::Utc>,
    pub legal_hold: bool,
}

impl Lock {
    pub(crate) fn date(&self) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(self.retain_until.timestamp())
    }
    pub(crate) fn hold(&self) -> ObjectLockLegalHoldStatus {
        if self.legal_hold { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off }
    }
}

/// What the write-once probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WormProbe {
    /// The store refused to delete a locked object version.
    pub worm: bool,
    /// One sentence for logs and `/healthz`.
    pub detail: String,
}

impl Store {
    /// The object's current COMPLIANCE retain-until date and legal-hold status, as the store
    /// reports them (`None`: no retention / no hold reported; a store without Object Lock
    /// reports neither).
    ///
    /// # Errors
    /// Unreachable store, missing object.
    pub async fn lock_state(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Option<chrono::DateTime<chrono::Utc>>, bool), StoreError> {
        let h = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("head", bucket, key, e))?;
        let until = h.object_lock_retain_until_date().and_then(|d| chrono::DateTime::from_timestamp(d.secs(), 0));
        let hold = h.object_lock_legal_hold_status().is_some_and(|s| s.as_str() == "ON");
        Ok((until, hold))
    }

    /// Extends an object's COMPLIANCE retention to `until`; never shortens it, whatever the
    /// server would allow (COMPLIANCE forbids it; not every implementation enforces that).
    /// Stores without Object Lock refuse or ignore this; the caller reports which.
    ///
    /// # Errors
    /// [`StoreError::Retention`] when the object is already retained longer; refused (no
    /// Object Lock on the bucket), unreachable.
    pub async fn extend_retention(
        &self,
        bucket: &str,
        key: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        if let Ok(cur) = self.client.head_object().bucket(bucket).key(key).send().await
            && let Some(have) = cur.object_lock_retain_until_date()
            && have.secs() > until.timestamp()
        {
            return Err(StoreError::Retention {
                bucket: bucket.into(),
                key: key.into(),
                detail: format!(
                    "is retained until {}; retention is only ever extended, never shortened to {}",
                    chrono::DateTime::from_timestamp(have.secs(), 0)
                        .map_or_else(|| have.secs().to_string(), |d| d.to_rfc3339()),
                    until.to_rfc3339()
                ),
            });
        }
        let lock = Lock { retain_until: until, legal_hold: false };
        self.client
            .put_object_retention()
            .bucket(bucket)
            .key(key)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .retain_until_date(lock.date())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.err("put retention", bucket, key, e))?;
        Ok(())
    }

    /// Puts an object under S3 legal hold or releases it. A hold carries no date: it keeps the
    /// object until it is released, independently of any retention.
    ///
    /// # Errors
    /// Refused (no Object Lock on the bucket), unreachable.
    pub async fn set_legal_hold(&self, bucket: &str, key: &str, on: bool) -> Result<(), StoreError> {
        let status = if on { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off };
        self.client
            .put_object_legal_hold()
            .bucket(bucket)
            .key(key)
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            .send()
            .await
            .map_err(|e| self.err("put legal hold", bucket, key, e))?;
        Ok(())
    }

    /// Finds out whether the bucket really refuses to delete a locked object: puts a small
    /// object under `_worm-probe/` with a COMPLIANCE retention of `hold`, then tries to delete
    /// that exact version. A store that ignores Object Lock headers (s3s-fs, Garage) deletes
    /// it: not WORM. A store that enforces them refuses: WORM (the probe object then stays
    /// until `hold` has passed; keep `hold` short).
    ///
    /// # Errors
    /// Only an unreachable store; refusals are answers.
    pub async fn probe_worm(&self, bucket: &str, hold: std::time::Duration) -> Result<WormProbe, StoreError> {
        let key = format!("_worm-probe/{}", uuid::Uuid::new_v4());
        let until = chrono::Utc::now() + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::minutes(1));
        let lock = Lock { retain_until: until, legal_hold: false };
        let put = self
            .client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from_static(b"write-once probe"))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(lock.date())
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await;
        let version = match put {
            Ok(o) => o.version_id().map(str::to_owned),
            Err(e) => {
                return match self.err("put", bucket, &key, e) {
                    e @ StoreError::Unreachable { .. } => Err(e),
                    e => Ok(WormProbe {
                        worm: false,
                        detail: format!(
                            "a locked put was refused ({e}): Object Lock is not enabled on bucket {bucket}"
                        ),
                    }),
                };
            }
        };
        let del = self.client.delete_object().bucket(bucket).key(&key).set_version_id(version.clone()).send().await;
        match del {
            Err(e) => match self.err("delete", bucket, &key, e) {
                e @ StoreError::Unreachable { .. } => Err(e),
                e => Ok(WormProbe {
                    worm: true,
                    detail: format!(
                        "deleting a locked object version was refused ({e}); bucket {bucket} enforces Object Lock"
                    ),
                }),
            },
            Ok(_) => {
                let still = self.head(bucket, &key).await?.is_some();
                Ok(WormProbe {
                    worm: false,
                    detail: if still {
                        format!(
                            "bucket {bucket} accepted a delete of a locked object (the object remains only as an older version); not verified as write-once"
                        )
                    } else {
                        format!(
                            "bucket {bucket} accepted the Object Lock headers but deleted the locked object: not write-once"
                        )
                    },
                })
            }
        }
    }
}
