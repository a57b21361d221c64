//! The provenance seam. C2PA manifests (a sidecar bound to the original, an embedded manifest
//! in each copy) and the signature over the seal record are added by the sealing issue, here:
//! the handler asks a [`Provenance`] implementation for what to attach before it writes the
//! seal record. Until then packages say plainly that they carry no manifest (`c2pa: "none"`).

use evidence_contracts::seal::ProvenanceV1;

/// What a package carries besides its digests.
pub trait Provenance: Send + Sync + 'static {
    /// Describes the provenance attached to a package.
    fn describe(&self) -> ProvenanceV1;
}

/// No manifests, no signature: the digests in the seal record and the sealed event are the
/// only binding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unsigned;

impl Provenance for Unsigned {
    fn describe(&self) -> ProvenanceV1 {
        ProvenanceV1 { c2pa: "none".into(), ..Default::default() }
    }
}
