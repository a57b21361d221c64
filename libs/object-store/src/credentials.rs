//! The S3 secret read from its file whenever the SDK asks for credentials, so a rotated secret
//! written to `s3.secret_access_key_file` is used by a running worker without a restart (a
//! worker refused by the store after a rotation waits, `Misconfigured`, and goes on once the
//! operator writes the new secret).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError, future};

/// How long one reading of the file is used. The SDK's identity cache asks again after this
/// (less its refresh buffer of ~10 s).
pub(crate) const REREAD_AFTER: Duration = Duration::from_secs(60);

/// `s3.access_key_id` with the secret in `s3.secret_access_key_file`.
#[derive(Debug)]
pub(crate) struct SecretFile {
    pub(crate) key_id: String,
    pub(crate) path: PathBuf,
}

impl SecretFile {
    async fn load(&self) -> provider::Result {
        let secret = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            CredentialsError::provider_error(format!("read s3.secret_access_key_file {}: {e}", self.path.display()))
        })?;
        Ok(Credentials::new(
            &self.key_id,
            secret.trim_end(),
            None,
            Some(SystemTime::now() + REREAD_AFTER),
            "secret_access_key_file",
        ))
    }
}

impl ProvideCredentials for SecretFile {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.load())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_secret_is_read_at_the_next_request_for_credentials() {
        let d = tempfile::tempdir().expect("tmp");
        let path = d.path().join("s3-secret");
        std::fs::write(&path, "old-secret\n").expect("write");
        let p = SecretFile { key_id: "KEY1".into(), path: path.clone() };
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
        let first = rt.block_on(p.load()).expect("credentials");
        assert_eq!((first.access_key_id(), first.secret_access_key()), ("KEY1", "old-secret"));
        assert!(first.expiry().is_some_and(|e| e <= SystemTime::now() + REREAD_AFTER));
        std::fs::write(&path, "new-secret\n").expect("rotate");
        assert_eq!(rt.block_on(p.load()).expect("credentials").secret_access_key(), "new-secret");
        std::fs::remove_file(&path).expect("rm");
        let e = rt.block_on(p.load()).expect_err("missing file");
        assert!(format!("{e:?}").contains("s3.secret_access_key_file"), "{e:?}");
    }
}
