//! What passes between docking stations (and the RTSP recorder) and the pipeline besides the
//! ingest request: the **docking record** a station publishes when a camera is docked, and the
//! **receipt** the pipeline publishes back when a recording is sealed or refused.
//!
//! Receipts live on their own subject per station (`evidence.receipt.v1.<station>.<evidence_id>`)
//! so that a station's credentials can allow it to read its own receipts and nothing else
//! (JetStream direct get on that subject prefix, see `deploy/nats/`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::{RejectReason, Stage};
use crate::{DeviceId, EvidenceId, Message, OfficerId, StationId, schema_field, subjects};

schema_field!(DockingSchema, "evidence.station.docking.v1");
schema_field!(ReceiptSchema, "evidence.receipt.v1");

/// One file found on a docked device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceFileV1 {
    /// Path relative to the device's mount point, `/`-separated.
    pub path: String,
    pub size_bytes: u64,
    /// Modification time of the file on the device (device clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    /// Recording start read from the file name (device clock), when the name carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_start: Option<DateTime<Utc>>,
    /// Officer id read from the file name, when the name carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_in_name: Option<String>,
}

/// Published by a station on `evidence.station.v1.<station>.docking` each time a device is
/// docked (message id `docking:<station>:<device>:<docked_at>`). It lists everything on the
/// device, so that checks can later find recordings that were never uploaded and recordings
/// made after the fact (device clock offset, recorded time vs. first seen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DockingV1 {
    pub schema: DockingSchema,
    pub station_id: StationId,
    /// The slot (mount folder) the device sits in.
    pub slot: String,
    pub device_id: DeviceId,
    /// The officer the station's binding table assigns to the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_id: Option<OfficerId>,
    /// Station clock (NTP-disciplined) when the device was seen docked.
    pub docked_at: DateTime<Utc>,
    /// The device's own clock at docking, as its dock driver reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_time: Option<DateTime<Utc>>,
    /// `device_time − docked_at` in seconds (positive: the device runs ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_percent: Option<u8>,
    pub files: Vec<DeviceFileV1>,
    /// Disagreements the station noticed (file name officer ≠ binding, …), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Message for DockingV1 {
    const SCHEMA: &'static str = DockingSchema::VALUE;
    fn subject(&self) -> String {
        subjects::station_docking(&self.station_id)
    }
    fn msg_id(&self) -> String {
        format!("docking:{}:{}:{}", self.station_id, self.device_id, self.docked_at.timestamp_millis())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// The recording is sealed in the evidence store; the station may release it.
    Sealed,
    /// The pipeline will not store this upload as it is (see `reason`); keep the file.
    Rejected,
}

/// Published by the pipeline on `evidence.receipt.v1.<station>.<evidence_id>`: the sealer once
/// the package is sealed, any worker when it rejects the recording. Message id
/// `receipt:<station_id>:<evidence_id>:<status>`. The last receipt on the subject is the current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiptV1 {
    pub schema: ReceiptSchema,
    pub station_id: StationId,
    pub evidence_id: EvidenceId,
    pub status: ReceiptStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Sealed: evidence bucket and package prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Rejected: the stage and reason (as in `evidence.rejected.v1`) and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<RejectReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

impl ReceiptV1 {
    /// A `sealed` receipt for `station`: the package is `<bucket>/<prefix>`, sealed `at`.
    pub fn sealed(
        station: StationId,
        evidence_id: EvidenceId,
        device_id: DeviceId,
        file_name: String,
        (bucket, prefix): (&str, &str),
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            schema: ReceiptSchema,
            station_id: station,
            evidence_id,
            status: ReceiptStatus::Sealed,
            device_id: Some(device_id),
            file_name: Some(file_name),
            package: Some(format!("{bucket}/{prefix}")),
            stage: None,
            reason: None,
            detail: None,
            at,
        }
    }
}

impl Message for ReceiptV1 {
    const SCHEMA: &'static str = ReceiptSchema::VALUE;
    fn subject(&self) -> String {
        subjects::receipt(&self.station_id, &self.evidence_id)
    }
    fn msg_id(&self) -> String {
        let s = match self.status {
            ReceiptStatus::Sealed => "sealed",
            ReceiptStatus::Rejected => "rejected",
        };
        format!("receipt:{}:{}:{s}", self.station_id, self.evidence_id)
    }
}
