//! Private files and directories: configuration, credential cache and kubeconfig.
//!
//! Files are written to a temporary file in the same directory with mode 0600 and renamed over
//! the target, so a reader never sees half a file and the content is never readable by others,
//! not even for a moment.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::CliError;

/// Mode of every file that eksgate writes.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Mode of every directory that eksgate creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Returns the user's home directory from `HOME`.
pub fn home_dir() -> Result<PathBuf, CliError> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            CliError::Config(
                "HOME is not set, so eksgate cannot find its configuration, cache and \
                 kubeconfig: set HOME"
                    .into(),
            )
        })
}

/// Returns `$XDG_CONFIG_HOME`, or `~/.config`. A relative `XDG_CONFIG_HOME` is ignored, as the
/// XDG Base Directory Specification requires.
pub fn config_home() -> Result<PathBuf, CliError> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// Returns `$XDG_CACHE_HOME`, or `~/.cache`, with the same rule as [`config_home`].
pub fn cache_home() -> Result<PathBuf, CliError> {
    xdg_dir("XDG_CACHE_HOME", ".cache")
}

fn xdg_dir(variable: &str, default_under_home: &str) -> Result<PathBuf, CliError> {
    match std::env::var_os(variable).map(PathBuf::from) {
        Some(path) if path.is_absolute() => Ok(path),
        _ => Ok(home_dir()?.join(default_under_home)),
    }
}

/// Creates `path` and its missing parents with mode 0700. An existing `path` that others can
/// read or enter is restricted to 0700.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)?;
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, Permissions::from_mode(PRIVATE_DIR_MODE))?;
    }
    Ok(())
}

/// Creates the missing directories above `path` with mode 0700, leaving existing ones as they
/// are.
pub fn create_parent_dirs(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.exists() => DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR_MODE)
            .create(parent),
        _ => Ok(()),
    }
}

/// Replaces the content of `path` with `content`, leaving the file with mode 0600.
///
/// The new content goes to a temporary file created with mode 0600 next to `path`, which is
/// then renamed over `path`. If `path` is a symbolic link, the file it points to is replaced
/// and the link stays.
pub fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let temporary = directory.join(format!(
        ".{}.{}-{nanos}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));

    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&temporary)?;
        // The mode given to open is reduced by the umask; set it exactly.
        file.set_permissions(Permissions::from_mode(PRIVATE_FILE_MODE))?;
        file.write_all(content)?;
        file.sync_all()?;
        fs::rename(&temporary, &target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Tells whether a file's mode lets other users read or write it.
pub fn is_shared(metadata: &fs::Metadata) -> bool {
    metadata.permissions().mode() & 0o077 != 0
}

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A directory under the system temporary directory, removed when dropped.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(label: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "eksgate-cli-{label}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("creating a temporary directory");
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn writes_files_with_mode_0600() {
        let dir = TempDir::new("files");
        let path = dir.0.join("config.json");
        fs::write(&path, "old").expect("seed");
        fs::set_permissions(&path, Permissions::from_mode(0o644)).expect("chmod");
        write_private(&path, b"new").expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(mode(&path), 0o600);
        let leftovers: Vec<_> = fs::read_dir(&dir.0)
            .expect("list")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn writing_through_a_symlink_keeps_the_link() {
        let dir = TempDir::new("symlink");
        let real = dir.0.join("real-kubeconfig");
        let link = dir.0.join("kubeconfig");
        fs::write(&real, "old").expect("seed");
        symlink(&real, &link).expect("symlink");
        write_private(&link, b"new").expect("write");
        assert!(
            fs::symlink_metadata(&link)
                .expect("metadata")
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).expect("read"), "new");
    }

    #[test]
    fn creates_and_restricts_directories() {
        let dir = TempDir::new("dirs");
        let nested = dir.0.join("a/b/eksgate");
        create_private_dir(&nested).expect("create");
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.0.join("a")), 0o700);
        fs::set_permissions(&nested, Permissions::from_mode(0o755)).expect("chmod");
        create_private_dir(&nested).expect("again");
        assert_eq!(mode(&nested), 0o700);
    }
}
