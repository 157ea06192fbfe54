//! Reading the text files a repository hands us (stage files, `.sops.yaml`, `serverless.yml`,
//! `.gitattributes`, git's copies of a file's versions) only when they are regular files of a
//! bounded size. A committed symlink to `/dev/zero` must be an error, not a read that runs
//! until memory is gone; a FIFO must be an error, not a read that waits forever.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Far above any real file (stage files and `serverless.yml` are kilobytes; the benchmark's
/// synthetic 42k-line service is about 1 MiB), far below what would exhaust memory.
pub const MAX_TEXT_BYTES: u64 = 16 * 1024 * 1024;

/// The whole of `path` as UTF-8 text, if it is a regular file (a symlink to one counts) of at
/// most [`MAX_TEXT_BYTES`]. Anything else is an error that says what the file is.
pub fn read_text(path: &Path) -> io::Result<String> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// The whole of `path` as bytes, on the same terms as [`read_text`] (key files: an age file
/// encrypted with a passphrase may be binary).
pub fn read_bytes(path: &Path) -> io::Result<Vec<u8>> {
    let file = open_nonblocking(path)?;
    // The type of what was opened, not of what the path named a moment earlier.
    let meta = file.metadata()?;
    if let Some(what) = not_a_regular_file(&meta.file_type()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what}, not a regular file; only regular files are read"),
        ));
    }
    if meta.len() > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // A file that grows while it is read is still cut at the bound.
    file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "is larger than {} MiB, far more than any stage file, serverless.yml or key file",
            MAX_TEXT_BYTES / (1024 * 1024)
        ),
    )
}

/// Opening a FIFO for reading waits for a writer; `O_NONBLOCK` makes the open return, and the
/// type check after it refuses the FIFO. It changes nothing for a regular file.
#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

/// What a file that is not a regular file is, for an error message; `None` for a regular file.
pub fn not_a_regular_file(t: &FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return Some("is a character device");
        }
        if t.is_block_device() {
            return Some("is a block device");
        }
        if t.is_fifo() {
            return Some("is a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("is a socket");
        }
    }
    if t.is_symlink() {
        Some("is a symbolic link (the link itself would be replaced)")
    } else if t.is_dir() {
        Some("is a directory")
    } else if t.is_file() {
        None
    } else {
        Some("is not a regular file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_refuses_devices_fifos_folders_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.yml");
        std::fs::write(&ok, "A: 1\n").unwrap();
        assert_eq!(read_text(&ok).unwrap(), "A: 1\n");

        #[cfg(unix)]
        {
            let link = dir.path().join("zero.yml");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            let e = read_text(&link).unwrap_err();
            assert!(e.to_string().contains("character device"), "{e}");

            let fifo = dir.path().join("fifo.yml");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.unwrap().success(), "mkfifo");
            let e = read_text(&fifo).unwrap_err();
            assert!(e.to_string().contains("FIFO"), "{e}");
        }
        let e = read_text(dir.path()).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");

        let big = dir.path().join("big.yml");
        let f = File::create(&big).unwrap();
        f.set_len(MAX_TEXT_BYTES + 1).unwrap();
        let e = read_text(&big).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);

        let bin = dir.path().join("bin.yml");
        std::fs::write(&bin, [0xff, 0xfe]).unwrap();
        assert!(read_text(&bin).unwrap_err().to_string().contains("UTF-8"));
    }
}
