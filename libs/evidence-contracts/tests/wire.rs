//! Wire round-trips and decode errors of the contract messages.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use chrono::{TimeZone, Utc};
use evidence_contracts::events::{EvidenceRejectedV1, RejectReason, Stage};
use evidence_contracts::ingest::{IngestRequestSchema, IngestRequestV1};
use evidence_contracts::keys::ObjectRef;
use evidence_contracts::{Blake3Digest, DecodeError, DeviceId, Message, OfficerId, StationId, decode, encode};

fn request() -> IngestRequestV1 {
    IngestRequestV1 {
        schema: IngestRequestSchema,
        station_id: StationId::new("st-01").unwrap(),
        device_id: DeviceId::new("CAM0042").unwrap(),
        officer_id: OfficerId::new("OF1001").unwrap(),
        file_name: "OF1001_CAM0042_20261128093000_0001.MP4".into(),
        size_bytes: 1234,
        blake3: Blake3Digest(*blake3::hash(b"recording").as_bytes()),
        landing: ObjectRef { bucket: "work".into(), key: "landing/x".into() },
        recorded_start: Some(Utc.with_ymd_and_hms(2026, 11, 28, 9, 30, 0).unwrap()),
        docked_at: Utc.with_ymd_and_hms(2026, 11, 28, 18, 0, 0).unwrap(),
        uploaded_at: Utc.with_ymd_and_hms(2026, 11, 28, 18, 5, 0).unwrap(),
        segment: None,
    }
}

#[test]
fn ingest_request_round_trips_with_stable_field_names() {
    let r = request();
    let bytes = encode(&r);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["schema"], "evidence.ingest.request.v1");
    assert_eq!(v["station_id"], "st-01");
    assert_eq!(v["blake3"], blake3::hash(b"recording").to_hex().as_str());
    assert_eq!(v["landing"]["key"], "landing/x");
    assert_eq!(v["recorded_start"], "2026-11-28T09:30:00Z");
    assert_eq!(decode::<IngestRequestV1>(&bytes).unwrap(), r);
    assert_eq!(r.subject(), "evidence.ingest.request.v1.st-01");
    assert_eq!(r.msg_id(), format!("ingest:st-01:CAM0042:{}", blake3::hash(b"recording").to_hex()));
}

#[test]
fn unknown_fields_are_tolerated_within_a_version() {
    let mut v: serde_json::Value = serde_json::from_slice(&encode(&request())).unwrap();
    v["added_later"] = serde_json::json!({"x": 1});
    assert!(decode::<IngestRequestV1>(&serde_json::to_vec(&v).unwrap()).is_ok());
}

#[test]
fn decode_errors_name_the_problem() {
    let e = decode::<IngestRequestV1>(b"not json").unwrap_err();
    assert!(matches!(e, DecodeError::Json { .. }), "{e}");
    let e = decode::<IngestRequestV1>(br#"{"station_id":"a"}"#).unwrap_err();
    assert!(matches!(e, DecodeError::MissingSchema { .. }), "{e}");
    let e = decode::<IngestRequestV1>(br#"{"schema":"evidence.sealed.v1"}"#).unwrap_err();
    assert!(e.to_string().contains("evidence.sealed.v1"), "{e}");

    let mut v: serde_json::Value = serde_json::from_slice(&encode(&request())).unwrap();
    v["device_id"] = "cam 1".into();
    let e = decode::<IngestRequestV1>(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(e.to_string().contains("device_id \"cam 1\" contains ' '"), "{e}");

    v["device_id"] = "CAM1".into();
    v.as_object_mut().unwrap().remove("size_bytes");
    let e = decode::<IngestRequestV1>(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(e.to_string().contains("size_bytes"), "{e}");
}

#[test]
fn rejection_ids_are_stable_across_redeliveries() {
    let make = |payload: &str| EvidenceRejectedV1 {
        schema: Default::default(),
        stage: Stage::Ingest,
        reason: RejectReason::MalformedMessage,
        detail: "x".into(),
        evidence_id: None,
        station_id: None,
        device_id: None,
        file_name: None,
        source_subject: "evidence.ingest.request.v1.st".into(),
        source_sequence: Some(1),
        payload: payload.into(),
        rejected_at: Utc::now(),
    };
    assert_eq!(make("a").msg_id(), make("a").msg_id());
    assert_ne!(make("a").msg_id(), make("b").msg_id());
    assert_eq!(make("a").subject(), "evidence.rejected.v1.ingest");
}

#[test]
fn a_finding_kind_from_a_newer_producer_is_read_as_unknown_and_new_kinds_keep_their_names() {
    use evidence_contracts::report::{Finding, FindingKind};
    let f: Finding = serde_json::from_str(r#"{"kind":"decoded_badly","at_s":1.0,"duration_s":0.0,"detail":"x"}"#)
        .expect("an unknown kind is not an error");
    assert_eq!(f.kind, FindingKind::Unknown);
    for k in FindingKind::ALL {
        let json = serde_json::to_value(k).expect("serialises");
        assert_eq!(json, serde_json::Value::String(k.as_str().into()));
    }
    assert!(!FindingKind::Encrypted.counts_against() && FindingKind::NoSamples.counts_against());
}

/// The closed string fields became enums: every value written before reads back to the same
/// string, and a value a newer producer writes reads as `Unknown` instead of failing the message.
#[test]
fn typed_string_fields_keep_their_wire_form_and_read_unknown_values() {
    use evidence_contracts::ingest::EndedBy;
    use evidence_contracts::seal::{C2paSummary, RetentionClass};
    use evidence_contracts::transcode::{DeadlineBasis, DeadlineStatus};
    fn same<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(wire: &[&str]) {
        for w in wire {
            let v: T = serde_json::from_value(serde_json::Value::String((*w).into())).expect("a known value");
            assert_eq!(serde_json::to_value(&v).expect("serialises"), serde_json::Value::String((*w).into()));
        }
        let newer: T = serde_json::from_value(serde_json::Value::String("added_in_v1_9".into())).expect("unknown");
        assert_eq!(serde_json::to_value(&newer).expect("serialises"), "unknown");
    }
    same::<DeadlineStatus>(&["on_time", "late"]);
    same::<DeadlineBasis>(&["recording_end", "docked_at"]);
    same::<C2paSummary>(&["c2pa", "partial", "none"]);
    same::<RetentionClass>(&["recording", "evidence"]);
    same::<EndedBy>(&["split", "outage", "restart"]);
    same::<evidence_contracts::seal::Placement>(&["sidecar", "embedded", "none"]);
    same::<evidence_contracts::seal::HashBinding>(&["c2pa.hash.bmff", "c2pa.hash.data", "c2pa.hash.boxes", "none"]);
    use evidence_contracts::seal::HashBinding;
    assert_eq!(HashBinding::from_label("c2pa.hash.bmff.v3"), HashBinding::Bmff);
    assert_eq!(HashBinding::from_label("c2pa.hash.data"), HashBinding::Data);
    assert_eq!(HashBinding::from_label("c2pa.hash.multi_asset"), HashBinding::Unknown);
    assert_eq!(DeadlineStatus::Late.to_string(), "late");
    assert_eq!(C2paSummary::of(false, true), C2paSummary::Partial);
}
