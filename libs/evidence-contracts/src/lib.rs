//! The wire boundary of the evidence pipeline.
//!
//! Everything that crosses a process boundary lives here and nowhere else: NATS subjects and
//! stream names ([`subjects`]), the versioned JSON message types ([`ingest`], [`transcode`],
//! [`seal`], [`events`]), the continuity report ([`report`]), identifiers ([`ids`]) and the
//! object-key layout ([`keys`]). The crate has no async, NATS, S3 or GStreamer dependency so
//! that case systems and tools can depend on it cheaply.
//!
//! Compatibility rules: within a version (`…V1`, `….v1` subject) changes are additive and
//! optional fields only; consumers never use `deny_unknown_fields`. A breaking change adds a
//! `…V2` type and subject, and both are served during migration. The JSON Schemas under
//! `deploy/schemas/` are generated from these types; a test fails when they drift.

pub mod access;
pub mod compliance;
pub mod events;
pub mod ids;
pub mod ingest;
pub mod keys;
pub mod ledger;
pub mod report;
pub mod schema;
pub mod seal;
pub mod station;
pub mod subjects;
pub mod transcode;

pub use ids::{Blake3Digest, DeviceId, EvidenceId, IdError, OfficerId, Sha256Digest, StationId};

/// A message published on NATS. Implemented only by the types of this crate.
pub trait Message: serde::Serialize + serde::de::DeserializeOwned {
    /// Schema name and version carried in the `schema` field, e.g. `evidence.ingest.request.v1`.
    const SCHEMA: &'static str;

    /// The subject this message is published on.
    fn subject(&self) -> String;

    /// The `Nats-Msg-Id` header: `<stage>:<stable id>`. Republishing the same logical message
    /// (a redelivered job) yields the same id, so JetStream drops the duplicate.
    fn msg_id(&self) -> String;
}

/// Decodes a message from its JSON payload, checking the `schema` field.
///
/// # Errors
/// [`DecodeError`] names the JSON path and what was wrong; it is a poison message: retrying
/// cannot help.
pub fn decode<M: Message>(payload: &[u8]) -> Result<M, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::Json { schema: M::SCHEMA, source: e })?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(s) if s == M::SCHEMA => {}
        Some(other) => {
            return Err(DecodeError::WrongSchema { expected: M::SCHEMA, found: other.to_owned() });
        }
        None => {
            return Err(DecodeError::MissingSchema { expected: M::SCHEMA });
        }
    }
    serde_json::from_value(value).map_err(|e| DecodeError::Json { schema: M::SCHEMA, source: e })
}

/// Encodes a message to its JSON payload.
pub fn encode<M: Message>(msg: &M) -> Vec<u8> {
    // Serialising our own plain data types cannot fail: no maps with non-string keys, no
    // custom serialisers that error.
    serde_json::to_vec(msg).expect("contract types always serialise")
}

/// Why a payload is not a valid message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not a valid {schema} message: {source} (fix the producer; this message will not be retried)")]
    Json { schema: &'static str, source: serde_json::Error },
    #[error("field `schema` is missing; expected \"{expected}\" (the producer must set it)")]
    MissingSchema { expected: &'static str },
    #[error("field `schema` is \"{found}\" but this subject carries \"{expected}\"")]
    WrongSchema { expected: &'static str, found: String },
}

/// Serde helper: the constant `schema` field of each message.
macro_rules! schema_field {
    ($name:ident, $value:literal) => {
        #[doc = concat!("The constant `", $value, "`.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;
        impl $name {
            pub const VALUE: &'static str = $value;
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($value)
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                if s == $value {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format!("schema must be \"{}\", found \"{}\"", $value, s)))
                }
            }
        }
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "const": $value })
            }
            fn inline_schema() -> bool {
                true
            }
        }
    };
}
pub(crate) use schema_field;

/// A closed set of string values on the wire, read by older and newer code alike: each value a
/// variant, and any value this version does not know reads as `Unknown` (`#[serde(other)]`)
/// instead of failing the whole message. The wire form is the same strings as before.
macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)+
            /// A value written by a newer version that this one does not know.
            #[serde(other, rename = "unknown")]
            Unknown,
        }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$v => $s,)+
                    Self::Unknown => "unknown",
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use open_enum;
