//! The server's limits on what clients send, over raw TCP (an HTTP client would not send
//! these): idle, trickling and silent connections are closed after the header timeout; a POST
//! body that does not arrive in time is 408; an oversized `Content-Length` is refused with
//! 413 before `100 Continue`; a malformed chunked body is 400, not 413; a client that stops
//! reading an answer is dropped after the send timeout.

mod common;

use std::time::{Duration, Instant};

use common::*;
use dicomweb_edge::server::Timeouts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_millis(800);

async fn stack() -> dicomweb_edge::stack::RunningStack {
    start_demo(|o| {
        o.timeouts = Timeouts {
            header_read: TIMEOUT,
            body_read: TIMEOUT,
            send: TIMEOUT,
        };
    })
    .await
}

async fn connect(s: &dicomweb_edge::stack::RunningStack) -> TcpStream {
    TcpStream::connect(s.base_url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the server sends until it closes (or 10 s pass), and how long that took.
async fn until_closed(c: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

fn native_post(s: &dicomweb_edge::stack::RunningStack) -> String {
    let ct = &demo_series(s, "Axial 3mm HTJ2K")[0];
    format!(
        "/datastore/{}/imageSet/{}/getImageFrame",
        ct.datastore, ct.image_set
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_idle_and_trickling_connections_are_closed() {
    let s = stack().await;
    let studies = format!(
        "/datastore/{}/studies",
        demo_series(&s, "Axial")[0].datastore
    );

    // Connected, never a byte.
    let mut silent = connect(&s).await;
    let (text, took) = until_closed(&mut silent).await;
    assert_eq!(text, "");
    assert!(took >= TIMEOUT && took < TIMEOUT * 5, "{took:?}");

    // Kept alive after an answer, then idle.
    let mut idle = connect(&s).await;
    idle.write_all(format!("GET {studies} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (text, took) = until_closed(&mut idle).await;
    assert!(text.starts_with("HTTP/1.1 200 "), "{text:.200}");
    assert!(took >= TIMEOUT && took < TIMEOUT * 5, "{took:?}");

    // A head sent a byte at a time, slower than the timeout allows.
    let mut trickle = connect(&s).await;
    let started = Instant::now();
    let head = format!("GET {studies} HTTP/1.1\r\nHost: x\r\n");
    let mut closed = false;
    for b in head.bytes() {
        if trickle.write_all(&[b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), trickle.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled head was read to its end");
    assert!(started.elapsed() < TIMEOUT * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_bodies_are_bounded_in_size_time_and_form() {
    let s = stack().await;
    let path = native_post(&s);

    // An oversized Content-Length with Expect: 413 at once, never 100 Continue.
    let mut c = connect(&s).await;
    c.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut head))
        .await
        .expect("an immediate answer")
        .unwrap();
    let text = String::from_utf8_lossy(&head[..n]);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");

    // A malformed chunk size: 400.
    let mut c = connect(&s).await;
    c.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (text, _) = until_closed(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.ends_with("the request body is malformed\n"), "{text}");

    // A body that stops arriving: 408 after the body timeout.
    let mut c = connect(&s).await;
    c.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 50\r\n\r\n{{\"imageFrameId\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (text, took) = until_closed(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(
        text.ends_with("the request body did not arrive in time\n"),
        "{text}"
    );
    assert!(took >= TIMEOUT, "{took:?}");
}

/// A client that asks for a large answer and stops reading is dropped once the server's
/// writes have waited the send timeout: the answer it gets is cut short (no closing
/// delimiter), where one that reads gets all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let s = stack().await;
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let path = format!(
        "/datastore/{}/studies/{}/series/{}",
        ct.datastore, ct.study, ct.series
    );
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: multipart/related; type=\"application/dicom\"\r\nConnection: close\r\n\r\n"
    );
    let ask = |read_at_once: bool| {
        let request = request.clone();
        let addr = s.base_url.trim_start_matches("http://").to_owned();
        async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let mut c = socket.connect(addr.parse().unwrap()).await.unwrap();
            c.write_all(request.as_bytes()).await.unwrap();
            if !read_at_once {
                tokio::time::sleep(TIMEOUT * 4).await;
            }
            until_closed(&mut c).await.0
        }
    };
    let whole = ask(true).await;
    assert!(whole.starts_with("HTTP/1.1 200 "), "{whole:.200}");
    assert!(
        whole.len() > 8 << 20,
        "a large answer: {} bytes",
        whole.len()
    );
    let boundary = whole
        .split("boundary=")
        .nth(1)
        .and_then(|b| b.split(['\r', ';']).next())
        .unwrap()
        .to_owned();
    let closing = format!("--{boundary}--");
    assert!(whole.contains(&closing));
    let cut = ask(false).await;
    assert!(cut.starts_with("HTTP/1.1 200 "), "{cut:.200}");
    assert!(
        cut.len() < whole.len() && !cut.contains(&closing),
        "{} of {} bytes",
        cut.len(),
        whole.len()
    );
}
