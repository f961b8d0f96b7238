//! Files and directories only the bot's user can read: the state directory holds saved plans
//! (which embed prior state), var files, backend settings, logs and the store. Directories are
//! created 0700 and files 0600 explicitly, on top of the process-wide umask that `main` sets,
//! so a library caller without that umask gets the same modes.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Directories under the state directory.
pub const DIR_MODE: u32 = 0o700;
/// Files under the state directory.
pub const FILE_MODE: u32 = 0o600;

/// Makes every file and directory this process creates private by default (group and others
/// get nothing), whatever creates it: SQLite's files, Terraform's data dir, plans.
pub fn restrict_umask() {
    // SAFETY: umask(2) only changes this process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// `mkdir -p` with mode 0700 for every directory it creates (existing ones are left as they
/// are; `check` warns about a state directory that is wider).
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Writes `bytes` to `path`, created 0600; an existing file is narrowed to 0600 first, so its
/// new content is never readable by others even for a moment.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if metadata.is_file() && metadata.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))?;
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.write_all(bytes)
}

/// Narrows a file someone else wrote (Terraform's saved plan) to 0600.
pub fn narrow_to_private(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
}

/// A warning when an existing directory can be read, written or entered by its group or
/// others; `None` when it is private or does not exist.
pub fn wide_dir_warning(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the state directory {} is mode {mode:04o}: its group or others can read saved plans, \
             logs and the store; run `chmod 700 {}`",
            path.display(),
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_directories_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir_all(&nested).unwrap();
        assert_eq!(mode_of(&dir.path().join("a")), 0o700);
        assert_eq!(mode_of(&nested), 0o700);
        let file = nested.join("vars.json");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&file, b"new").unwrap();
        assert_eq!(mode_of(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
    }

    #[test]
    fn a_wide_directory_is_named_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let warning = wide_dir_warning(dir.path()).unwrap();
        assert!(warning.contains("is mode 0755"), "{warning}");
        assert!(warning.contains("chmod 700"), "{warning}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(wide_dir_warning(dir.path()), None);
        assert_eq!(wide_dir_warning(&dir.path().join("missing")), None);
    }
}
