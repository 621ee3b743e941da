//! `serve --audit-log FILE`: each request's audit event ([`edge::audit`]), completed with its
//! status and the cache's `Hit`/`Miss`, as one JSON line appended to a file that only its
//! owner may read (it names who looked at which study).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub struct AuditLog {
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens `path` for appending, creating it with mode 0600.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        Ok(Self {
            file: Mutex::new(options.open(path)?),
        })
    }

    /// Appends `event` as one line (a single write, so lines of concurrent requests do not
    /// interleave). A failed write is logged, not fatal: the answer has already been sent.
    pub fn write(&self, event: &edge::audit::AuditEvent) {
        let mut line = event.to_line();
        line.push('\n');
        let Ok(mut file) = self.file.lock() else {
            return;
        };
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!(error = %e, "the audit log cannot be written");
        }
    }
}
