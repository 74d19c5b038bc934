//! The credential cache of the exec plugin: one file per (API URL, identity, cluster, role) in
//! `$XDG_CACHE_HOME/eksgate` (by default `~/.cache/eksgate`), directory mode 0700, file mode
//! 0600.
//!
//! An entry contains the temporary AWS credentials of one session. The plugin signs a fresh EKS
//! token from them on every call, and requests a new session from the API only when they expire
//! within [`REFRESH_BEFORE_EXPIRY`].
//!
//! Identity hints (`identity-<hash>.json`) record which identity a token command printed a
//! token for last, so that a call served from the cache needs neither the command nor a
//! sign-in. Every run that does execute the command updates the hint.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CliError;
use crate::files;
use crate::identity::hex;
use crate::time::parse_rfc3339;

/// Credentials that expire within this time are replaced by a new session. A token signed from
/// them stays usable for at least four minutes, because the token's reported expiry is one
/// minute before the credentials'.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Version of the entry format. Entries of other versions are ignored.
const ENTRY_VERSION: u32 = 1;

/// Maximum size of an entry file.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// The fields that identify an entry. Entries are found by the SHA-256 of these fields, and each entry
/// repeats them, so that a lookup never returns another key's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub api_url: String,
    /// From [`crate::identity::identity_key`].
    pub identity: String,
    /// The cluster as the command line names it: an ARN, or a name.
    pub cluster: String,
    pub role: String,
}

impl CacheKey {
    fn file_name(&self) -> String {
        let digest = digest_fields(&[&self.api_url, &self.identity, &self.cluster, &self.role]);
        format!("session-{digest}.json")
    }
}

/// Returns 40 hex digits of the SHA-256 of the fields, each followed by a NUL byte so that
/// ("ab", "c") and ("a", "bc") differ.
fn digest_fields(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update(field.as_bytes());
        hasher.update([0u8]);
    }
    hex(&hasher.finalize())[..40].to_string()
}

/// The identity that a token command printed a token for last, for one API URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IdentityHint {
    version: u32,
    api_url: String,
    /// SHA-256 digest of the command, because its arguments may contain secrets.
    command_digest: String,
    identity: String,
}

/// One cached session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedSession {
    pub version: u32,
    pub api_url: String,
    pub identity: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub role: String,
    pub session_id: String,
    pub grant_id: String,
    pub grant_ends_at: String,
    pub credentials: CachedCredentials,
}

/// Temporary AWS credentials as the API returns them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// RFC 3339.
    pub expiration: String,
}

impl fmt::Debug for CachedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &"** redacted **")
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl CachedSession {
    /// Builds an entry for `key`.
    pub fn new(
        key: &CacheKey,
        cluster_arn: String,
        session_id: String,
        grant_id: String,
        grant_ends_at: String,
        credentials: CachedCredentials,
    ) -> Self {
        Self {
            version: ENTRY_VERSION,
            api_url: key.api_url.clone(),
            identity: key.identity.clone(),
            cluster: key.cluster.clone(),
            cluster_arn,
            role: key.role.clone(),
            session_id,
            grant_id,
            grant_ends_at,
            credentials,
        }
    }

    /// Returns when the credentials expire, or `None` if the stored time does not parse.
    pub fn expires_at(&self) -> Option<SystemTime> {
        parse_rfc3339(&self.credentials.expiration)
    }

    /// Tells whether the credentials stay valid for more than [`REFRESH_BEFORE_EXPIRY`] after
    /// `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.expires_at()
            .is_some_and(|expires_at| expires_at > now + REFRESH_BEFORE_EXPIRY)
    }

    fn matches(&self, key: &CacheKey) -> bool {
        self.version == ENTRY_VERSION
            && self.api_url == key.api_url
            && self.identity == key.identity
            && self.cluster == key.cluster
            && self.role == key.role
    }
}

/// The cache directory. Nothing is created until an entry is stored.
#[derive(Debug, Clone)]
pub struct CredentialCache {
    dir: PathBuf,
}

impl CredentialCache {
    /// Opens `$XDG_CACHE_HOME/eksgate`, or `~/.cache/eksgate`.
    pub fn open_default() -> Result<Self, CliError> {
        Ok(Self::at(files::cache_home()?.join("eksgate")))
    }

    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    /// Returns the entry for `key`. A missing, unreadable, corrupt or foreign entry, or one
    /// that other users can read, counts as absent, so the caller gets a new session.
    pub fn load(&self, key: &CacheKey) -> Option<CachedSession> {
        let path = self.path(key);
        let file = fs::File::open(&path).ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || files::is_shared(&metadata) {
            return None;
        }
        let mut text = String::new();
        file.take(MAX_ENTRY_BYTES).read_to_string(&mut text).ok()?;
        let entry: CachedSession = serde_json::from_str(&text).ok()?;
        entry.matches(key).then_some(entry)
    }

    /// Stores an entry, replacing the previous one for its key.
    pub fn store(&self, key: &CacheKey, entry: &CachedSession) -> Result<(), CliError> {
        files::create_private_dir(&self.dir)
            .map_err(|error| CliError::file("creating the cache directory", &self.dir, error))?;
        let path = self.path(key);
        let text = serde_json::to_string(entry).expect("a cache entry serialises");
        files::write_private(&path, text.as_bytes())
            .map_err(|error| CliError::file("writing the cached credentials", path, error))
    }

    fn hint_path(&self, api_url: &str, command_digest: &str) -> PathBuf {
        self.dir.join(format!(
            "identity-{}.json",
            digest_fields(&[api_url, command_digest])
        ))
    }

    /// Returns the identity that the token command `command` printed a token for last, if a
    /// private, readable hint records it.
    pub fn identity_hint(&self, api_url: &str, command: &str) -> Option<String> {
        let command_digest = digest_fields(&[command]);
        let path = self.hint_path(api_url, &command_digest);
        let file = fs::File::open(&path).ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || files::is_shared(&metadata) {
            return None;
        }
        let mut text = String::new();
        file.take(MAX_ENTRY_BYTES).read_to_string(&mut text).ok()?;
        let hint: IdentityHint = serde_json::from_str(&text).ok()?;
        (hint.version == ENTRY_VERSION
            && hint.api_url == api_url
            && hint.command_digest == command_digest)
            .then_some(hint.identity)
    }

    /// Records that the token command `command` printed a token for `identity`.
    pub fn store_identity_hint(
        &self,
        api_url: &str,
        command: &str,
        identity: &str,
    ) -> Result<(), CliError> {
        let command_digest = digest_fields(&[command]);
        let path = self.hint_path(api_url, &command_digest);
        if self.identity_hint(api_url, command).as_deref() == Some(identity) {
            return Ok(());
        }
        files::create_private_dir(&self.dir)
            .map_err(|error| CliError::file("creating the cache directory", &self.dir, error))?;
        let hint = IdentityHint {
            version: ENTRY_VERSION,
            api_url: api_url.to_string(),
            command_digest,
            identity: identity.to_string(),
        };
        let text = serde_json::to_string(&hint).expect("an identity hint serialises");
        files::write_private(&path, text.as_bytes())
            .map_err(|error| CliError::file("writing the identity hint", path, error))
    }

    /// Removes the entry for `key`, if there is one.
    pub fn remove(&self, key: &CacheKey) -> Result<(), CliError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(CliError::file(
                "removing the cached credentials",
                path,
                error,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::files::tests::TempDir;

    fn key(role: &str) -> CacheKey {
        CacheKey {
            api_url: "https://api.example.com".into(),
            identity: "jwt:https://idp.example.com 00u1".into(),
            cluster: "arn:aws:eks:eu-west-1:111122223333:cluster/payments".into(),
            role: role.into(),
        }
    }

    fn entry(key: &CacheKey, expiration: &str) -> CachedSession {
        CachedSession::new(
            key,
            key.cluster.clone(),
            "session-1".into(),
            "grant-1".into(),
            "2025-11-30T15:30:00Z".into(),
            CachedCredentials {
                access_key_id: "ASIAEXAMPLE".into(),
                secret_access_key: "secret".into(),
                session_token: "token".into(),
                expiration: expiration.into(),
            },
        )
    }

    #[test]
    fn stores_and_loads_private_entries() {
        let dir = TempDir::new("cache");
        let cache = CredentialCache::at(dir.0.join("eksgate"));
        let admin = key("ClusterAdmin");
        let stored = entry(&admin, "2025-11-30T14:30:00Z");
        cache.store(&admin, &stored).expect("store");

        assert_eq!(cache.load(&admin), Some(stored));
        assert_eq!(cache.load(&key("ClusterView")), None, "another role");
        let path = cache.path(&admin);
        let mode = |path: &std::path::Path| {
            fs::metadata(path).expect("metadata").permissions().mode() & 0o777
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.0.join("eksgate")), 0o700);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(cache.load(&admin), None, "a readable entry is ignored");

        cache.remove(&admin).expect("remove");
        assert!(!path.exists());
        cache.remove(&admin).expect("removing twice");
    }

    #[test]
    fn corrupt_and_foreign_entries_are_ignored() {
        let dir = TempDir::new("cache-corrupt");
        let cache = CredentialCache::at(dir.0.clone());
        let admin = key("ClusterAdmin");
        cache
            .store(&admin, &entry(&admin, "2025-11-30T14:30:00Z"))
            .expect("store");
        files::write_private(&cache.path(&admin), b"{not json").expect("corrupt");
        assert_eq!(cache.load(&admin), None);

        // An entry written for another key under this key's file name.
        let other = key("ClusterView");
        let text = serde_json::to_string(&entry(&other, "2025-11-30T14:30:00Z")).expect("json");
        files::write_private(&cache.path(&admin), text.as_bytes()).expect("write");
        assert_eq!(cache.load(&admin), None);
    }

    #[test]
    fn freshness_keeps_a_margin() {
        let admin = key("ClusterAdmin");
        let session = entry(&admin, "2025-11-30T14:30:00Z");
        let expires = UNIX_EPOCH + Duration::from_secs(1_764_513_000);
        assert_eq!(session.expires_at(), Some(expires));
        assert!(session.is_fresh(expires - Duration::from_secs(301)));
        assert!(!session.is_fresh(expires - Duration::from_secs(300)));
        assert!(!entry(&admin, "soon").is_fresh(UNIX_EPOCH));
    }

    #[test]
    fn file_names_separate_fields() {
        let mut first = key("b");
        first.cluster = "a".into();
        let mut second = key("");
        second.cluster = "ab".into();
        assert_ne!(first.file_name(), second.file_name());
        assert!(first.file_name().starts_with("session-"));
    }

    #[test]
    fn identity_hints_per_api_and_command() {
        let dir = TempDir::new("cache-hints");
        let cache = CredentialCache::at(dir.0.join("eksgate"));
        let command = "kubelogin\0get-token\0--oidc-client-secret=hunter2";
        assert_eq!(cache.identity_hint("https://a", command), None);

        cache
            .store_identity_hint("https://a", command, "jwt:iss one")
            .expect("store");
        assert_eq!(
            cache.identity_hint("https://a", command).as_deref(),
            Some("jwt:iss one")
        );
        assert_eq!(cache.identity_hint("https://b", command), None);
        assert_eq!(cache.identity_hint("https://a", "cat\0token"), None);

        cache
            .store_identity_hint("https://a", command, "jwt:iss two")
            .expect("replace");
        assert_eq!(
            cache.identity_hint("https://a", command).as_deref(),
            Some("jwt:iss two")
        );

        let files: Vec<String> = fs::read_dir(dir.0.join("eksgate"))
            .expect("list")
            .filter_map(Result::ok)
            .map(|entry| fs::read_to_string(entry.path()).expect("read"))
            .collect();
        assert!(
            files.iter().all(|text| !text.contains("hunter2")),
            "{files:?}"
        );
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let text = format!("{:?}", entry(&key("r"), "2025-11-30T14:30:00Z"));
        assert!(!text.contains("secret\""), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}
