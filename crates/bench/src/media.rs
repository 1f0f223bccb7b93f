//! The media suite: photo uploads end to end (a 4 MP JPEG carrying GPS EXIF, over HTTP, decoded,
//! turned upright, re-encoded as display and thumbnail, stored, recorded) against the physical
//! reference of the same run: decoding, resizing and encoding the same photo in this process,
//! as fast as one thread can (the server decodes one image at a time). Reports the server's
//! peak resident memory.

use crate::{run, start_server, Arguments, Call};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use veilgram_media::image::{process_image, ImageLimits};
use veilgram_media::sniff::Format;
use veilgram_testkit::samples;

pub const BOUNDARY: &str = "veilgram-bench-boundary";
/// Uploads in flight: more only queue behind the one decoder.
const CONNECTIONS: usize = 4;

fn peak_memory_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:").and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
            })
        })
        .map_or(0, |kilobytes| kilobytes / 1024)
}

pub async fn print(arguments: &Arguments, binary: &PathBuf) -> anyhow::Result<()> {
    let duration = Duration::from_secs(arguments.duration);
    // 2448×1632 (4.0 MP) stored sideways, with EXIF (orientation, GPS, serial), XMP, IPTC.
    let photo = samples::jpeg_with_metadata(2448, 1632, 6);
    let work = tempfile::tempdir()?;
    let path = work.path().join("photo.jpg");
    std::fs::write(&path, &photo)?;

    // The physical reference: the same pipeline in this process, one thread.
    let reference_path = path.clone();
    let (processed, elapsed) = tokio::task::spawn_blocking(move || {
        let limits = ImageLimits::default();
        let started = Instant::now();
        let mut processed = 0u64;
        while started.elapsed() < duration {
            process_image(&reference_path, Format::Jpeg, &limits)?;
            processed += 1;
        }
        anyhow::Ok((processed, started.elapsed()))
    })
    .await??;
    let raw_rate = processed as f64 / elapsed.as_secs_f64();

    let data = tempfile::tempdir()?;
    let server = start_server(binary, data.path(), None, &[])?;
    let address = server.address.clone();
    let signups = run(
        &address,
        Call::Signup,
        CONNECTIONS,
        Duration::from_secs(1),
        None,
        64,
    )
    .await?;
    let tokens = Arc::new(signups.tokens.clone());
    anyhow::ensure!(!tokens.is_empty(), "no account was made");
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&photo);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let call = Call::Upload(tokens, Bytes::from(body));
    let mut uploads = run(&address, call, CONNECTIONS, duration, None, 0).await?;
    let peak = peak_memory_mb(server.child.id());

    println!(
        "\nmedia: photo uploads, {:.1} MP JPEG ({} KB) with GPS EXIF, SQLite, local storage",
        2448.0 * 1632.0 / 1e6,
        photo.len() / 1024
    );
    println!(
        "| {:<50} | {:>10} | {:>8} | {:>8} | {:>8} |",
        "operation", "per s", "P50 ms", "P99 ms", "errors"
    );
    println!(
        "|{:-<52}|{:->12}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", ""
    );
    println!(
        "| {:<50} | {:>10.2} | {:>8} | {:>8} | {:>8} |",
        "decode+orient+resize+encode in-process (1 thread)", raw_rate, "", "", ""
    );
    let (p50, p99) = (uploads.percentile(0.5), uploads.percentile(0.99));
    println!(
        "| {:<50} | {:>10.2} | {:>8.1} | {:>8.1} | {:>8} |",
        format!("POST /media ({CONNECTIONS} connections)"),
        uploads.rate(),
        p50,
        p99,
        uploads.failed
    );
    println!(
        "uploads reach {:.0}% of the in-process rate; server peak resident memory {peak} MB",
        100.0 * uploads.rate() / raw_rate
    );
    drop(server);
    Ok(())
}
