//! A real S3 server for tests: a single-node Garage on 127.0.0.1:3900 started by
//! `scripts/garage` (built from crates.io into `~/.cache/veilgram/tools` by `scripts/test`), with
//! one test bucket. Keys are random per upload, so tests share the bucket without meeting.

use std::path::PathBuf;
use std::process::Command;
use veilgram_media::StorageConfig;

/// Overrides the endpoint (a Garage started elsewhere); its bucket and key must be the
/// script's.
pub const S3_VARIABLE: &str = "VEILGRAM_TEST_S3_ENDPOINT";

/// The test bucket, starting Garage first if it is not running.
pub async fn bucket() -> StorageConfig {
    let endpoint = match std::env::var(S3_VARIABLE) {
        Ok(endpoint) => endpoint,
        Err(_) => {
            tokio::task::spawn_blocking(start)
                .await
                .unwrap_or_else(|error| panic!("starting Garage: {error}"));
            "http://127.0.0.1:3900".to_owned()
        }
    };
    StorageConfig::S3 {
        endpoint,
        bucket: "veilgram-test".into(),
        access_key: "GK0123456789abcdef01234567".into(),
        secret_key: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
        region: "garage".into(),
    }
}

fn start() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/garage");
    let mut command = Command::new("flock");
    // `-o`: the daemon must not inherit (and so keep holding) the lock.
    command
        .arg("-o")
        .arg(std::env::temp_dir().join("veilgram-garage.lock"))
        .arg(&script)
        .arg("start");
    if std::env::var_os("VEILGRAM_GARAGE_BIN").is_none() {
        if let Some(home) = std::env::var_os("HOME") {
            let built = PathBuf::from(home).join(".cache/veilgram/tools/bin/garage");
            if built.exists() {
                command.env("VEILGRAM_GARAGE_BIN", built);
            }
        }
    }
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    assert!(
        status.success(),
        "Garage could not be started by {} (scripts/test builds it)",
        script.display()
    );
}
