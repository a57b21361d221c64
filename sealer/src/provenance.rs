//! Provenance for each asset of a package: the original's C2PA sidecar (the original is never
//! rewritten) and each copy's manifest (embedded in MP4, else a sidecar), each pointing back to the
//! original. A manifest an earlier attempt stored is reused and validated, never re-signed over;
//! one c2pa cannot make is recorded with its reason and never stops the sealing.

use std::path::Path;

use evidence_contracts::keys::PackageKeys;
use evidence_contracts::seal::{DerivativeV1, ManifestBindingV1, ObjectRole, PackageObjectV1, Placement};
use object_store::{Lock, PutOpts, StoreError};

use crate::bucket::EvidenceBucket;
use crate::error::SealError;
use crate::handler::{SealHandler, blocking};
use crate::manifest::{self, RecordingAssertion, Sidecar};
use crate::{metrics, package};

impl SealHandler {
    /// The original's sidecar: reused when stored, else signed from the digests the original
    /// was stored with (the media is not read again) and stored.
    pub(crate) async fn original_sidecar(
        &self,
        original: &PackageObjectV1,
        file_name: &str,
        assertion: &RecordingAssertion,
        opts: &PutOpts,
        spool: &Path,
    ) -> Result<(Option<(Sidecar, PackageObjectV1)>, ManifestBindingV1), SealError> {
        let key = manifest::sidecar_key(&original.key);
        let stored = self.bucket.head("sidecar", &key).await?;
        let sidecar = if stored.is_some() {
            let bytes = self.bucket.get_small("sidecar", &key).await?;
            self.reopen_sidecar(bytes, original, file_name, &key, spool).await?
        } else {
            let (creds, name, sha, a) = (self.creds.clone(), file_name.to_owned(), original.sha256, assertion.clone());
            match blocking(move || manifest::sign_original_from_digests(&creds, &name, &sha, &a)).await {
                // Signed and validated here: validate again only if another attempt's sidecar won.
                Ok(s) => match self.bucket.put_generated("sidecar", &key, s.bytes.clone(), opts).await? {
                    b if b == s.bytes => s,
                    b => self.reopen_sidecar(b, original, file_name, &key, spool).await?,
                },
                Err(e) => {
                    metrics::manifest("failed");
                    tracing::warn!(key = original.key, error = %format!("{e:#}"), "no C2PA manifest for the original; the signed seal record binds it");
                    return Ok((
                        None,
                        package::unsigned(
                            &original.key,
                            format!("c2pa could not sign a manifest for this file: {e:#}"),
                        ),
                    ));
                }
            }
        };
        metrics::manifest("ok");
        let d = self.bucket.digests_of_stored("sidecar", &key).await?;
        let binding = package::binding(
            &original.key,
            Placement::Sidecar,
            Some(key.clone()),
            &sidecar.hash_binding,
            sidecar.label.clone(),
        );
        Ok((Some((sidecar, package::object(ObjectRole::C2paSidecar, None, key, d))), binding))
    }

    /// A sidecar an earlier attempt stored, checked against the digests the original was stored
    /// with. One sealed before 2026-12-04 (bound by the original's format) is validated against
    /// the original read back from the bucket: the only case in which the sealer reads it twice.
    async fn reopen_sidecar(
        &self,
        bytes: Vec<u8>,
        original: &PackageObjectV1,
        file_name: &str,
        key: &str,
        spool: &Path,
    ) -> Result<Sidecar, SealError> {
        let bad = |detail: String| SealError::BadRecord {
            bucket: self.bucket.name.clone(),
            key: key.to_owned(),
            detail: format!("the stored sidecar does not validate against the original: {detail}"),
        };
        let format = manifest::c2pa_format(file_name).unwrap_or(manifest::GENERIC_FORMAT);
        let (b, sha) = (bytes.clone(), original.sha256);
        let streamed = match blocking(move || manifest::check_streamed_sidecar(b, format, &sha)).await {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        if manifest::is_whole_file_bound(&bytes) {
            return Err(bad(streamed));
        }
        let path = spool.join("original.read-back");
        self.bucket.fetch_stored("original", &original.key, &path).await?;
        let name = file_name.to_owned();
        blocking(move || manifest::reopen_sidecar(&path, &name, bytes)).await.map_err(bad)
    }

    /// One copy: reused when stored, else fetched, signed (embedded, or a sidecar for formats
    /// c2pa cannot embed into) and stored.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn derivative(
        &self,
        d: &DerivativeV1,
        keys: &PackageKeys,
        sidecar: Option<&Sidecar>,
        assertion: &RecordingAssertion,
        spool: &Path,
        lock: Lock,
    ) -> Result<(Vec<PackageObjectV1>, ManifestBindingV1), SealError> {
        let key = keys.derivative(&d.profile, &d.extension);
        let side_key = manifest::sidecar_key(&key);
        let format = manifest::c2pa_format(&format!("x.{}", d.extension)).filter(|f| f.starts_with("video/mp4"));
        let mut objects = Vec::new();
        let unsigned = |reason: String| package::unsigned(&key, reason);
        let opts = EvidenceBucket::opts(ObjectRole::Derivative, Some(&format!("video/{}", d.extension)), lock);
        let side_opts = EvidenceBucket::opts(ObjectRole::C2paSidecar, Some("application/c2pa"), lock);
        let copy_in = spool.join(format!("{}.in.{}", d.profile, d.extension));
        let copy_out = spool.join(format!("{}.{}", d.profile, d.extension));
        let stored = self.bucket.head("copy", &key).await?;

        // Embedded manifest (MP4).
        if let (Some(format), Some(side)) = (format, sidecar) {
            let (digests, fresh_check) = if stored.is_some() {
                (self.bucket.fetch_stored("copy", &key, &copy_out).await?, None)
            } else {
                let fetched = self.bucket.fetch("copy", &d.object, &copy_in).await?;
                let (creds, i, o, p, s, a) = (
                    self.creds.clone(),
                    copy_in.clone(),
                    copy_out.clone(),
                    d.profile.clone(),
                    side.clone(),
                    assertion.clone(),
                );
                match blocking(move || manifest::sign_copy(&creds, &i, &o, format, &p, &s, &a)).await {
                    Ok(check) => {
                        let path = copy_out.clone();
                        let dg = blocking(move || object_store::hash_file(&path))
                            .await
                            .map_err(|e| SealError::Local { what: "hash the signed copy", detail: e.to_string() })?;
                        match self.bucket.put_file("copy", &key, &copy_out, dg, &opts).await {
                            Ok(dg) => (dg, Some(check)),
                            // Another delivery of this job stored its signed copy first (copies
                            // are signed anew each time, so bytes differ): use the winner's,
                            // validated below like any stored copy.
                            Err(SealError::Store { source: StoreError::Conflict { .. }, .. }) => {
                                tracing::info!(
                                    key,
                                    "another attempt stored this copy first; validating and reusing it"
                                );
                                (self.bucket.fetch_stored("copy", &key, &copy_out).await?, None)
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) => {
                        metrics::manifest("failed");
                        tracing::warn!(key, error = %format!("{e:#}"), "copy stored without a manifest");
                        let dg = self.bucket.put_file("copy", &key, &copy_in, fetched, &opts).await?;
                        objects.push(package::object(ObjectRole::Derivative, Some(d.profile.clone()), key.clone(), dg));
                        return Ok((objects, unsigned(format!("c2pa could not sign the copy: {e:#}"))));
                    }
                }
            };
            objects.push(package::object(ObjectRole::Derivative, Some(d.profile.clone()), key.clone(), digests));
            if digests.blake3 == d.object.blake3 {
                // The copy exactly as the transcoder made it: an earlier attempt could not sign it
                // and stored it unsigned on purpose.
                metrics::manifest("failed");
                return Ok((objects, unsigned("c2pa could not sign the copy (earlier attempt)".into())));
            }
            // A copy signed now was validated by `sign_copy`; one an earlier attempt stored is
            // validated here.
            let check = match fresh_check {
                Some(c) => c,
                None => {
                    let (path, fmt) = (copy_out.clone(), format);
                    blocking(move || manifest::read_embedded(&path, fmt, None)).await
                }
            };
            if !check.failures.is_empty() {
                return Err(SealError::BadRecord {
                    bucket: self.bucket.name.clone(),
                    key,
                    detail: format!("the stored copy's manifest does not validate: {}", check.failures.join("; ")),
                });
            }
            metrics::manifest("ok");
            return Ok((objects, package::binding(&key, Placement::Embedded, None, &check.hash_binding, check.label)));
        }

        // Copy stored as made; a sidecar when the original has one.
        let dg = self.bucket.fetch("copy", &d.object, &copy_in).await?;
        let dg = self.bucket.put_file("copy", &key, &copy_in, dg, &opts).await?;
        objects.push(package::object(ObjectRole::Derivative, Some(d.profile.clone()), key.clone(), dg));
        let Some(side) = sidecar else {
            return Ok((objects, unsigned("the original has no manifest to point back to".into())));
        };
        let existing = self.bucket.head("sidecar", &side_key).await?;
        let bytes = if existing.is_some() {
            self.bucket.get_small("sidecar", &side_key).await?
        } else {
            let title = key.rsplit('/').next().unwrap_or(&key).to_owned();
            let (creds, c, p, s, a) =
                (self.creds.clone(), copy_in.clone(), d.profile.clone(), side.clone(), assertion.clone());
            match blocking(move || manifest::sign_copy_sidecar(&creds, &c, &title, &p, &s, &a)).await {
                Ok(s) => self.bucket.put_generated("sidecar", &side_key, s.bytes, &side_opts).await?,
                Err(e) => {
                    metrics::manifest("failed");
                    return Ok((objects, unsigned(format!("c2pa could not sign the copy: {e:#}"))));
                }
            }
        };
        let check = {
            let (c, b) = (copy_in.clone(), bytes.clone());
            blocking(move || manifest::read_sidecar(&c, manifest::GENERIC_FORMAT, &b, None)).await
        };
        if !check.failures.is_empty() {
            return Err(SealError::BadRecord {
                bucket: self.bucket.name.clone(),
                key: side_key,
                detail: format!("the stored sidecar of the copy does not validate: {}", check.failures.join("; ")),
            });
        }
        metrics::manifest("ok");
        let sd = self.bucket.digests_of_stored("sidecar", &side_key).await?;
        objects.push(package::object(ObjectRole::C2paSidecar, Some(d.profile.clone()), side_key.clone(), sd));
        Ok((objects, package::binding(&key, Placement::Sidecar, Some(side_key), &check.hash_binding, check.label)))
    }
}
