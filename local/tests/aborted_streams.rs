//! Frame answers that fail part-way: with HealthImaging failing most GetImageFrame calls,
//! every reply still has a status line (the error status when the first frame fails, else
//! 200 and a body without its closing delimiter), and the access log says which: `aborted
//! after {n}B` for every truncated 200, never a plain 200. Read over raw TCP, since an HTTP
//! client hides an empty reply behind a generic error.
//!
//! Its own test binary: the access log is captured by a global subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use healthimaging::emulator::Faults;
use rand::seq::SliceRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The whole reply to one request on its own connection, as bytes.
async fn raw_get(base_url: &str, path: &str) -> Vec<u8> {
    let addr = base_url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {OHIF_DEFAULT}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut out)).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_frames_always_get_a_status_line_and_an_honest_log() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_env_filter("access=info")
        .init();

    let s = start_demo(|_| {}).await;
    let cine = &demo_series(&s, "Rotating phantom cine")[0];
    assert_eq!(cine.frames.len(), 36);
    let em = s.emulator.as_ref().unwrap().emulator.clone();
    // Resolve first, so the faults hit GetImageFrame only.
    let (status, _, _) = get(&s, &cine.frames_path("1"), Some(OHIF_DEFAULT)).await;
    assert_eq!(status, 200);
    em.set_faults(Faults {
        error_rate: 0.6,
        error_type: Some("InternalServerException".into()),
        operations: vec!["GetImageFrame".into()],
        ..Faults::default()
    });

    let (mut complete, mut truncated, mut failed) = (0, 0, 0);
    let mut rng = rand::rng();
    for _ in 0..40 {
        let mut list: Vec<u32> = (1..=36).collect();
        list.shuffle(&mut rng);
        let list = list
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let reply = raw_get(&s.base_url, &cine.frames_path(&list)).await;
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.starts_with("HTTP/1.1 "),
            "a reply without a status line: {} bytes",
            reply.len()
        );
        match &text[9..12] {
            "200" => {
                // Chunked: a complete body ends with the closing delimiter and the last chunk.
                if text.ends_with("--\r\n\r\n0\r\n\r\n") {
                    complete += 1;
                } else {
                    assert!(
                        !text.contains("\r\n0\r\n\r\n"),
                        "a truncated body ended cleanly"
                    );
                    truncated += 1;
                }
            }
            "502" => failed += 1,
            other => panic!("unexpected status {other}: {text:.300}"),
        }
    }
    assert!(
        truncated > 0 && failed > 0,
        "{complete} {truncated} {failed}"
    );
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("/frames/") && l.contains(','))
        .collect();
    let count = |f: &dyn Fn(&str) -> bool| lines.iter().filter(|l| f(l)).count();
    assert_eq!(lines.len(), 40, "{log}");
    assert_eq!(
        count(&|l| l.contains(" 200 ") && l.contains("aborted after")),
        truncated,
        "{log}"
    );
    assert_eq!(
        count(&|l| l.contains(" 200 ") && l.ends_with('B') && !l.contains("aborted")),
        complete,
        "{log}"
    );
    assert_eq!(count(&|l| l.contains(" 502 ")), failed, "{log}");
}
