//! Package assembly, pure: what a sealed package's record says, from the facts of the recording
//! and the objects stored for it. No I/O, no clock: the worker (`handler.rs`) and `sealer seal`
//! (`local.rs`) store the objects their own way (write-once in the evidence bucket, or files in a
//! folder) and both make the record here, so the two can never describe a package differently.

use chrono::{DateTime, Utc};
use evidence_contracts::keys::PackageKeys;
use evidence_contracts::seal::{
    AccessOf, AccessPlanV1, AccessV1, C2paSummary, ContinuityV1, HashBinding, ManifestBindingV1, ObjectRole,
    PackageObjectV1, Placement, ProfileDecisionV1, ProvenanceV1, RetentionV1, SealJobV1, SealRecordSchema,
    SealRecordV1,
};
use evidence_contracts::transcode::DeadlineV1;
use evidence_contracts::{DeviceId, EvidenceId, OfficerId, StationId};
use object_store::Digests;

use crate::manifest::{ASSERTION_LABEL, RecordingAssertion};

/// What is known of the recording when its package is sealed.
#[derive(Debug, Clone)]
pub struct Facts {
    pub evidence_id: EvidenceId,
    pub station_id: StationId,
    pub device_id: DeviceId,
    pub officer_id: OfficerId,
    pub file_name: String,
    pub recorded_start: Option<DateTime<Utc>>,
    /// The start plus the scanned duration, when both are known.
    pub recorded_end: Option<DateTime<Utc>>,
    pub docked_at: DateTime<Utc>,
    pub uploaded_at: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
    pub sealed_at: DateTime<Utc>,
    /// `sealer <version>`, or `sealer <version> (local)`.
    pub sealed_by: String,
    pub continuity: ContinuityV1,
    pub decisions: Vec<ProfileDecisionV1>,
    pub retention: Option<RetentionV1>,
    pub deadline: Option<DeadlineV1>,
    /// The transcoder's choice of access rendition.
    pub access: Option<AccessPlanV1>,
    /// A fixed camera's segment, as the recorder announced it.
    pub segment: Option<evidence_contracts::ingest::SegmentV1>,
}

impl Facts {
    /// The facts of a seal job, sealed at `sealed_at` under `retention`, its continuity report
    /// stored with BLAKE3 `report_blake3`.
    pub fn of_job(
        job: &SealJobV1,
        sealed_at: DateTime<Utc>,
        retention: RetentionV1,
        report_blake3: evidence_contracts::Blake3Digest,
    ) -> Self {
        let r = &job.request;
        Self {
            evidence_id: job.evidence_id,
            station_id: r.station_id.clone(),
            device_id: r.device_id.clone(),
            officer_id: r.officer_id.clone(),
            file_name: r.file_name.clone(),
            recorded_start: r.recorded_start,
            recorded_end: r
                .recorded_start
                .filter(|_| job.scan.duration_ns > 0)
                .map(|s| s + chrono::Duration::nanoseconds(i64::try_from(job.scan.duration_ns).unwrap_or(i64::MAX))),
            docked_at: r.docked_at,
            uploaded_at: r.uploaded_at,
            ingested_at: job.ingested_at,
            sealed_at,
            sealed_by: format!("sealer {}", env!("CARGO_PKG_VERSION")),
            continuity: ContinuityV1 {
                verdict: job.scan.verdict,
                readable: job.scan.readable,
                complete: job.scan.complete,
                findings: job.scan.findings,
                report_blake3,
            },
            decisions: job.decisions.clone(),
            retention: Some(retention),
            deadline: job.deadline.clone(),
            access: job.access.clone(),
            segment: r.segment.clone(),
        }
    }

    /// The recording assertion every manifest of the package carries.
    pub fn assertion(&self, original: &Digests, report: &PackageObjectV1) -> RecordingAssertion {
        RecordingAssertion {
            evidence_id: self.evidence_id,
            station_id: self.station_id.clone(),
            device_id: self.device_id.clone(),
            officer_id: self.officer_id.clone(),
            file_name: self.file_name.clone(),
            recorded_start: self.recorded_start,
            recorded_end: self.recorded_end,
            docked_at: self.docked_at,
            ingested_at: self.ingested_at,
            original_size: original.size,
            original_blake3: original.blake3,
            original_sha256: original.sha256,
            continuity_verdict: self.continuity.verdict,
            continuity_readable: self.continuity.readable,
            continuity_findings: self.continuity.findings,
            continuity_report_blake3: report.blake3,
            continuity_report_sha256: report.sha256,
            session_id: self.segment.as_ref().map(|s| s.session_id.clone()),
            segment_index: self.segment.as_ref().map(|s| s.index),
            previous_segment_blake3: self.segment.as_ref().and_then(|s| s.previous_blake3),
        }
    }
}

/// Who signed the package's manifests and record.
#[derive(Debug, Clone)]
pub struct Signer {
    pub subject: String,
    pub cert_sha256: String,
}

/// The seal record of a package: the facts, every stored object (in the order stored), and the
/// manifest binding of every asset (the original first, then each copy).
pub fn seal_record(
    facts: Facts,
    keys: &PackageKeys,
    bucket: &str,
    objects: Vec<PackageObjectV1>,
    manifests: Vec<ManifestBindingV1>,
    signer: &Signer,
) -> SealRecordV1 {
    let all = manifests.iter().all(|m| m.placement != Placement::None);
    let any = manifests.iter().any(|m| m.placement != Placement::None);
    let access = facts.access.as_ref().and_then(|plan| access(plan, &objects));
    SealRecordV1 {
        schema: SealRecordSchema,
        evidence_id: facts.evidence_id,
        station_id: facts.station_id,
        device_id: facts.device_id,
        officer_id: facts.officer_id,
        file_name: facts.file_name,
        recorded_start: facts.recorded_start,
        docked_at: facts.docked_at,
        uploaded_at: facts.uploaded_at,
        ingested_at: facts.ingested_at,
        sealed_at: facts.sealed_at,
        sealed_by: facts.sealed_by,
        bucket: bucket.to_owned(),
        prefix: keys.prefix.clone(),
        objects,
        continuity: facts.continuity,
        decisions: facts.decisions,
        provenance: ProvenanceV1 {
            c2pa: C2paSummary::of(all, any),
            signature: None,
            signer: Some(signer.subject.clone()),
            signer_sha256: Some(signer.cert_sha256.clone()),
            assertion_label: Some(ASSERTION_LABEL.into()),
            manifests,
        },
        retention: facts.retention,
        deadline: facts.deadline,
        access,
        segment: facts.segment,
    }
}

/// The stored object the access plan names: the original, or the copy of the planned profile
/// (none when that copy is not in the package).
fn access(plan: &AccessPlanV1, objects: &[PackageObjectV1]) -> Option<AccessV1> {
    let object = match plan.of {
        AccessOf::Original => objects.iter().find(|o| o.role == ObjectRole::Original),
        AccessOf::Derivative => objects
            .iter()
            .find(|o| o.role == ObjectRole::Derivative && o.profile.is_some() && o.profile == plan.profile),
        AccessOf::Unknown => None,
    }?;
    Some(AccessV1 { of: plan.of, key: object.key.clone(), profile: object.profile.clone(), made_by: plan.made_by })
}

/// One stored object as the record lists it.
pub fn object(role: ObjectRole, profile: Option<String>, key: String, d: Digests) -> PackageObjectV1 {
    PackageObjectV1 { role, profile, key, size_bytes: d.size, blake3: d.blake3, sha256: d.sha256 }
}

/// How an asset's manifest is bound to it.
pub fn binding(
    asset: &str,
    placement: Placement,
    manifest_key: Option<String>,
    hash: &str,
    label: Option<String>,
) -> ManifestBindingV1 {
    ManifestBindingV1 {
        asset_key: asset.to_owned(),
        placement,
        manifest_key,
        hash_binding: HashBinding::from_label(hash),
        manifest_label: label,
        reason: None,
    }
}

/// An asset without a manifest, and why.
pub fn unsigned(asset: &str, reason: String) -> ManifestBindingV1 {
    ManifestBindingV1 {
        asset_key: asset.to_owned(),
        placement: Placement::None,
        manifest_key: None,
        hash_binding: HashBinding::None,
        manifest_label: None,
        reason: Some(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_contracts::report::Verdict;
    use evidence_contracts::seal::AccessMadeBy;

    fn facts() -> Facts {
        let t: DateTime<Utc> = "2026-11-28T09:30:00Z".parse().expect("time");
        let d = DeviceId::new("CAM1").expect("id");
        Facts {
            evidence_id: EvidenceId::derive(&d, &evidence_contracts::Blake3Digest([1; 32])),
            station_id: StationId::new("st-1").expect("id"),
            device_id: d,
            officer_id: OfficerId::new("OF1").expect("id"),
            file_name: "A.MP4".into(),
            recorded_start: Some(t),
            recorded_end: None,
            docked_at: t,
            uploaded_at: t,
            ingested_at: t,
            sealed_at: t,
            sealed_by: "sealer test".into(),
            continuity: ContinuityV1 {
                verdict: Verdict::Continuous,
                readable: true,
                complete: true,
                findings: 0,
                report_blake3: evidence_contracts::Blake3Digest([2; 32]),
            },
            decisions: Vec::new(),
            retention: None,
            deadline: None,
            access: None,
            segment: None,
        }
    }

    #[test]
    fn the_access_rendition_is_the_planned_object_when_it_is_stored() {
        let f = facts();
        let keys = PackageKeys::new(&f.officer_id, f.sealed_at, &f.evidence_id);
        let signer = Signer { subject: "CN=test".into(), cert_sha256: "00".into() };
        let d = Digests {
            size: 1,
            blake3: evidence_contracts::Blake3Digest([3; 32]),
            sha256: evidence_contracts::Sha256Digest([4; 32]),
        };
        let original = object(ObjectRole::Original, None, keys.original("A.MP4"), d);
        let copy = object(ObjectRole::Derivative, Some("access".into()), keys.derivative("access", "mp4"), d);
        let plan = |of, made_by| Facts {
            access: Some(AccessPlanV1 { of, profile: Some("access".into()), made_by }),
            ..f.clone()
        };
        let served = seal_record(plan(AccessOf::Original, None), &keys, "b", vec![original.clone()], vec![], &signer);
        assert_eq!(
            served.access.as_ref().map(|a| (a.of, a.key.as_str())),
            Some((AccessOf::Original, original.key.as_str()))
        );
        let remuxed = seal_record(
            plan(AccessOf::Derivative, Some(AccessMadeBy::Remux)),
            &keys,
            "b",
            vec![original.clone(), copy.clone()],
            vec![],
            &signer,
        );
        let a = remuxed.access.expect("access");
        assert_eq!((a.of, a.key, a.made_by), (AccessOf::Derivative, copy.key.clone(), Some(AccessMadeBy::Remux)));
        // A planned copy that is not in the package is not named.
        let missing = seal_record(
            plan(AccessOf::Derivative, Some(AccessMadeBy::Transcode)),
            &keys,
            "b",
            vec![original],
            vec![],
            &signer,
        );
        assert!(missing.access.is_none());
    }

    #[test]
    fn the_c2pa_summary_follows_the_bindings() {
        let f = facts();
        let keys = PackageKeys::new(&f.officer_id, f.sealed_at, &f.evidence_id);
        let signer = Signer { subject: "CN=test".into(), cert_sha256: "00".into() };
        let signed = binding("o", Placement::Sidecar, Some("o.c2pa".into()), "c2pa.hash.bmff.v2", None);
        let none = unsigned("c", "c2pa could not sign the copy".into());
        let all = seal_record(f.clone(), &keys, "b", Vec::new(), vec![signed.clone()], &signer);
        let some = seal_record(f.clone(), &keys, "b", Vec::new(), vec![signed, none.clone()], &signer);
        let nothing = seal_record(f, &keys, "b", Vec::new(), vec![none], &signer);
        assert_eq!(all.provenance.c2pa, C2paSummary::of(true, true));
        assert_eq!(some.provenance.c2pa, C2paSummary::of(false, true));
        assert_eq!(nothing.provenance.c2pa, C2paSummary::of(false, false));
        assert_ne!(all.provenance.c2pa, some.provenance.c2pa);
        assert_eq!(all.prefix, keys.prefix);
        assert_eq!(all.provenance.signer.as_deref(), Some("CN=test"));
        assert_eq!(all.provenance.manifests[0].hash_binding, HashBinding::from_label("c2pa.hash.bmff.v2"));
    }
}
