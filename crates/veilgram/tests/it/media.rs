//! Media through the real binary: an upload over HTTP, and the shipped Varnish configuration in
//! front of `veilgram serve` answering repeat requests from its cache.

use crate::server::{Server, StartOptions};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use veilgram_testkit::samples;

/// A raw HTTP/1.1 exchange: status, headers (lower-case names) and body bytes.
async fn exchange(address: &str, request: Vec<u8>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(found, _)| found == name)
        .map(|(_, value)| value.as_str())
}

async fn get(address: &str, path: &str, extra: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: media\r\n{extra}Connection: close\r\n\r\n");
    exchange(address, request.into_bytes()).await
}

/// Debian's varnishd in the foreground with the shipped VCL pointed at `backend`.
struct Varnish {
    child: Child,
    address: String,
    _work: tempfile::TempDir,
}

impl Varnish {
    fn start(backend: &str) -> Self {
        let work = tempfile::tempdir().unwrap();
        let shipped = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../deploy/varnish/veilgram.vcl"),
        )
        .unwrap();
        let (host, port) = backend.rsplit_once(':').unwrap();
        let vcl = shipped
            .replace(".host = \"127.0.0.1\";", &format!(".host = \"{host}\";"))
            .replace(".port = \"8080\";", &format!(".port = \"{port}\";"));
        assert_ne!(vcl, shipped, "the backend was pointed at the test server");
        let vcl_path = work.path().join("veilgram.vcl");
        std::fs::write(&vcl_path, vcl).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let mut child = Command::new("varnishd")
            .args(["-F", "-j", "none", "-s", "malloc,64m", "-a", &address])
            .arg("-f")
            .arg(&vcl_path)
            .arg("-n")
            .arg(work.path().join("instance"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("varnishd (Debian's varnish) is needed");
        // It serves once its child process says it started.
        let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        let (started, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("said Child starts") {
                    let _ = started.send(());
                }
            }
        });
        said.recv_timeout(Duration::from_secs(30))
            .expect("varnishd did not start its child");
        Self {
            child,
            address,
            _work: work,
        }
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn varnish_serves_repeat_media_requests_from_its_cache() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(data.path()),
        ..StartOptions::default()
    });
    let (status, account) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    assert_eq!(status, 201);
    let token = account["access_token"].as_str().unwrap();
    let photo = samples::jpeg_with_metadata(1600, 1200, 1);
    let (status, media) = upload_raw(&server.address, token, &photo).await;
    assert_eq!(status, 201, "{media}");
    let url = media["url"].as_str().unwrap();

    let varnish = Varnish::start(&server.address);
    let (status, first_headers, first) = get(&varnish.address, url, "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&first_headers, "x-cache"), Some("MISS"));
    let (_, direct_headers, direct) = get(&server.address, url, "").await;
    assert_eq!(first, direct, "Varnish hands out what VeilGram serves");
    for _ in 0..3 {
        let (status, headers, again) = get(&varnish.address, url, "").await;
        assert_eq!((status, header(&headers, "x-cache")), (200, Some("HIT")));
        assert_eq!(again, direct);
        assert_eq!(
            header(&headers, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    }
    let etag = header(&direct_headers, "etag").unwrap().to_owned();
    let (status, headers, _) =
        get(&varnish.address, url, &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!((status, header(&headers, "x-cache")), (304, Some("HIT")));
    let (status, headers, part) = get(&varnish.address, url, "Range: bytes=100-199\r\n").await;
    assert_eq!((status, header(&headers, "x-cache")), (206, Some("HIT")));
    assert_eq!(part, direct[100..200]);

    // VeilGram itself served the file twice: Varnish's first fetch and the direct read.
    let metrics = server.metrics().await;
    let served = metrics
        .lines()
        .find(|line| line.starts_with("veilgram_http_requests_total{route=\"/media/{key}\",method=\"GET\",status=\"200\"}"))
        .unwrap_or_else(|| panic!("no media line in {metrics}"));
    assert!(served.ends_with(" 2"), "{served}");
    // The API is never cached.
    let (_, headers, _) = get(&varnish.address, "/healthz", "").await;
    assert_eq!(header(&headers, "x-cache"), Some("MISS"));
}

/// Sends one multipart upload (field `file`) to the real server; answers the status and the
/// JSON answer.
pub(crate) async fn upload_raw(address: &str, token: &str, bytes: &[u8]) -> (u16, Value) {
    let boundary = "process-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = format!(
        "POST /api/v1/media HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend(body);
    let (status, _, answer) = exchange(address, request).await;
    (
        status,
        serde_json::from_slice(&answer).unwrap_or(Value::Null),
    )
}

/// The server's peak resident memory so far, in bytes (Linux).
fn peak_memory(pid: u32) -> u64 {
    crate::server::memory_kib(pid, "VmHWM") * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_and_largest_uploads_keep_the_server_under_512_mb() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(data.path()),
        ..StartOptions::default()
    });
    let (_, account) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let token = account["access_token"].as_str().unwrap();
    let mut largest = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut largest, 80)
        .encode_image(&samples::photo(7680, 4320))
        .unwrap();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a 1×1 PNG claiming 100000×100000",
            samples::png_claiming(100_000, 100_000),
            422,
        ),
        ("a GIF of 10000 frames", samples::gif(10_000, 4, 4), 422),
        (
            "a PNG whose text inflates to 256 MB",
            samples::png_with_huge_ztxt(256 * 1024 * 1024),
            201,
        ),
        ("the largest photo allowed, 7680×4320", largest, 201),
        (
            "an animation at the pixel budget",
            samples::gif(64, 1280, 360),
            201,
        ),
    ];
    for (what, bytes, expected) in cases {
        let started = Instant::now();
        assert_eq!(
            upload_raw(&server.address, token, &bytes).await.0,
            expected,
            "{what}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: {:?}",
            started.elapsed()
        );
    }
    let peak = peak_memory(server.child.id());
    eprintln!("server peak resident memory: {} MB", peak / (1024 * 1024));
    assert!(
        peak < 512 * 1024 * 1024,
        "peak resident memory {} MB",
        peak / (1024 * 1024)
    );
}

/// `veilgram worker` in its own process runs the jobs a `serve` (told not to run them) queued:
/// a video, and an image large enough to be decoded there rather than where it was received;
/// both processes share the database and the media directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_worker_process_transcodes_what_serve_queued() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(data.path()),
        environment: vec![
            ("VEILGRAM_MEDIA__WORKER", "false"),
            ("VEILGRAM_MEDIA__OFFLOAD_IMAGE_MEGAPIXELS", "1"),
        ],
        ..StartOptions::default()
    });
    let (_, account) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let token = account["access_token"].as_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let video = samples::mp4_with_metadata(work.path(), 640, 360, 1);
    let (status, created) = upload_raw(&server.address, token, &video).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/api/v1/media/{}", created["id"].as_str().unwrap());
    let (status, large) = upload_raw(&server.address, token, &samples::large_png(1600, 1200)).await;
    assert_eq!(
        (status, large["status"].as_str()),
        (201, Some("processing")),
        "{large}"
    );
    let large_path = format!("/api/v1/media/{}", large["id"].as_str().unwrap());
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("veilgram_jobs_run_total 0"),
        "serve ran no job"
    );

    let mut worker = crate::server::binary()
        .arg("worker")
        .env_clear()
        .env("VEILGRAM_DATA_DIR", data.path())
        .env("VEILGRAM_MEDIA__WORKER_POLL_MS", "50")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The worker logs each job it finishes; then the upload's status has changed.
    let lines = std::io::BufRead::lines(std::io::BufReader::new(worker.stderr.take().unwrap()));
    let (finished, logged) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("a media job finished") {
                let _ = finished.send(());
            }
        }
    });
    for _ in 0..2 {
        logged
            .recv_timeout(Duration::from_secs(60))
            .expect("the worker finished the jobs");
    }
    let (_, media) = server.request("GET", &path, None, Some(token)).await;
    let (_, image) = server.request("GET", &large_path, None, Some(token)).await;
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(media["status"], "ready", "{media}");
    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(640), Some(360))
    );
    assert_eq!(image["status"], "ready", "{image}");
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(1600), Some(1200))
    );
    assert!(image["blurhash"].is_string(), "{image}");
}
