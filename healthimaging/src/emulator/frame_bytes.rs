//! Where the emulator finds a frame's bytes: in the file it was imported from, read on
//! demand, so that the memory a folder takes does not grow with its pixel data.
//!
//! A frame on disk is a list of byte ranges of its source file: its slice of native pixel
//! data, or its fragments' values (without their item headers). Frames whose stored bytes
//! differ from what is served (big endian or deflated files) are kept in memory. Before each
//! read the file's length and modification time are compared with those seen at import, so
//! a file changed since then is refused rather than served as something it is not.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

/// A file frames are read from, as it was at import.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl SourceFile {
    /// The file at `path` as it is now.
    pub fn at(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            path: path.to_owned(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    fn open_unchanged(&self) -> Result<File, FrameReadError> {
        let file = File::open(&self.path).map_err(|e| self.error(e.to_string()))?;
        let meta = file.metadata().map_err(|e| self.error(e.to_string()))?;
        if meta.len() != self.len || meta.modified().ok() != self.modified {
            return Err(self.error("it changed after the import; restart to import it again"));
        }
        Ok(file)
    }

    fn error(&self, why: impl Into<String>) -> FrameReadError {
        FrameReadError {
            file: self.path.file_name().map_or_else(
                || self.path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            why: why.into(),
        }
    }
}

/// A frame that could not be read from its file.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the frame from {file}: {why}")]
pub struct FrameReadError {
    file: String,
    why: String,
}

/// A stored frame's bytes.
#[derive(Debug, Clone)]
pub enum FrameBytes {
    Memory(Bytes),
    /// Byte ranges `(offset, length)` of `file`, joined.
    File {
        file: Arc<SourceFile>,
        ranges: Arc<[(u64, u64)]>,
    },
}

impl FrameBytes {
    pub fn len(&self) -> u64 {
        match self {
            FrameBytes::Memory(b) => b.len() as u64,
            FrameBytes::File { ranges, .. } => ranges.iter().map(|r| r.1).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes; blocking when they are on disk.
    pub fn read(&self) -> Result<Bytes, FrameReadError> {
        let (file, ranges) = match self {
            FrameBytes::Memory(b) => return Ok(b.clone()),
            FrameBytes::File { file, ranges } => (file, ranges),
        };
        let f = file.open_unchanged()?;
        let len = usize::try_from(self.len()).map_err(|_| file.error("the frame is too large"))?;
        let mut out = BytesMut::zeroed(len);
        let mut at = 0;
        for &(offset, n) in ranges.iter() {
            let n = n as usize;
            f.read_exact_at(&mut out[at..at + n], offset)
                .map_err(|e| file.error(e.to_string()))?;
            at += n;
        }
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ranges_and_refuses_a_changed_file() {
        let dir = std::env::temp_dir().join(format!("frame-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let frame = FrameBytes::File {
            file: Arc::new(SourceFile::at(&path).unwrap()),
            ranges: vec![(2, 3), (8, 2)].into(),
        };
        assert_eq!(frame.len(), 5);
        assert_eq!(frame.read().unwrap().as_ref(), b"23489");
        std::fs::write(&path, b"0123456789ab").unwrap();
        let err = frame.read().unwrap_err().to_string();
        assert!(err.contains("f.bin") && err.contains("changed"), "{err}");
        std::fs::remove_file(&path).unwrap();
        assert!(frame.read().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
