//! Identifier newtypes. Owns validation of every id that ends up in a NATS subject token or an
//! object key; does not own how ids are chosen by stations (that is configuration).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} characters long; at most 64 are allowed")]
    TooLong { field: &'static str, len: usize },
    #[error("{field} \"{value}\" contains {ch:?}; only letters, digits, '-' and '_' are allowed")]
    BadChar { field: &'static str, value: String, ch: char },
    #[error("{field} \"{value}\" is not {expected}")]
    BadHex { field: &'static str, value: String, expected: &'static str },
}

fn check_token(field: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { field });
    }
    if value.len() > 64 {
        return Err(IdError::TooLong { field, len: value.len() });
    }
    if let Some(ch) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(IdError::BadChar { field, value: value.to_owned(), ch });
    }
    Ok(())
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        ///
        /// 1–64 characters from `[A-Za-z0-9_-]`: it is used as a NATS subject token and an
        /// object-key segment, so nothing else is allowed.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// # Errors
            /// Refuses empty, over-long or non-token values, naming the field.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_token($field, &value)?;
                Ok(Self(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_-]{1,64}$",
                    "description": concat!("The ", $field, ": 1-64 characters from [A-Za-z0-9_-].")
                })
            }
        }
    };
}

token_id!(
    /// The docking station (or RTSP recorder) that delivered a recording.
    StationId,
    "station_id"
);
token_id!(
    /// The camera's serial number or asset tag.
    DeviceId,
    "device_id"
);
token_id!(
    /// The officer the device was bound to when the recording was made.
    OfficerId,
    "officer_id"
);

macro_rules! digest {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// # Errors
            /// Refuses anything but 64 hex digits.
            pub fn from_hex(field: &'static str, s: &str) -> Result<Self, IdError> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| IdError::BadHex {
                    field,
                    value: s.to_owned(),
                    expected: concat!("a ", $what, " digest (64 hex digits)"),
                })?;
                Ok(Self(out))
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::from_hex(stringify!($name), &s.to_ascii_lowercase())
            }
        }
        impl From<$name> for String {
            fn from(d: $name) -> String {
                d.to_hex()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": "^[0-9a-f]{64}$",
                    "description": concat!($what, " digest, lower-case hex.")
                })
            }
        }
    };
}

digest!(
    /// BLAKE3-256 of exactly the bytes of an object (what `b3sum` prints).
    Blake3Digest,
    "BLAKE3"
);
digest!(
    /// SHA-256 of exactly the bytes of an object (what `sha256sum` prints); kept for courts and
    /// tools that know no BLAKE3.
    Sha256Digest,
    "SHA-256"
);

/// The identity of one piece of evidence (one recording file and everything derived from it).
///
/// Derived, not random: `EvidenceId::derive(device, blake3)` is the same on every redelivery and
/// every re-push of the same bytes from the same camera, which is what makes every stage
/// idempotent (same id → same object keys → put-if-absent finds the package already there).
/// The device is part of the derivation so that two cameras that produce identical bytes (two
/// empty files, say) still get two pieces of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct EvidenceId(pub Uuid);

impl EvidenceId {
    /// The derivation is part of the contract (v1): UUIDv8 over the first 16 bytes of
    /// `BLAKE3(derive_key("evidence-pipeline evidence-id v1"), device_id || 0x00 || blake3)`.
    pub fn derive(device: &DeviceId, content: &Blake3Digest) -> Self {
        let mut h = blake3::Hasher::new_derive_key("evidence-pipeline evidence-id v1");
        h.update(device.as_str().as_bytes());
        h.update(&[0]);
        h.update(&content.0);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Self(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }
}

impl fmt::Display for EvidenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for EvidenceId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(Uuid::parse_str(s)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_refuse_what_breaks_subjects_and_keys() {
        assert!(StationId::new("station-01").is_ok());
        assert_eq!(StationId::new(""), Err(IdError::Empty { field: "station_id" }));
        let e = DeviceId::new("cam.1").unwrap_err();
        assert!(e.to_string().contains("device_id \"cam.1\" contains '.'"), "{e}");
        assert!(OfficerId::new("a".repeat(65)).is_err());
        assert!(serde_json::from_str::<StationId>("\"a b\"").is_err());
    }

    #[test]
    fn evidence_id_is_stable_and_device_bound() {
        let d = Blake3Digest(*blake3::hash(b"x").as_bytes());
        let a = EvidenceId::derive(&DeviceId::new("cam1").unwrap(), &d);
        assert_eq!(a, EvidenceId::derive(&DeviceId::new("cam1").unwrap(), &d));
        assert_ne!(a, EvidenceId::derive(&DeviceId::new("cam2").unwrap(), &d));
        assert_eq!(a.0.get_version_num(), 8);
    }

    #[test]
    fn digests_round_trip_as_hex() {
        let d = Blake3Digest(*blake3::hash(b"abc").as_bytes());
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, format!("\"{}\"", blake3::hash(b"abc").to_hex()));
        assert_eq!(serde_json::from_str::<Blake3Digest>(&j).unwrap(), d);
        assert!(serde_json::from_str::<Sha256Digest>("\"zz\"").is_err());
    }
}
