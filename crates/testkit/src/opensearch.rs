//! A server answering the Elasticsearch 8 REST API for the OpenSearch adapter's tests:
//! PyPI's noida-db on 127.0.0.1:19200, started by `scripts/opensearch` (no OpenSearch can be
//! installed here). Tests keep apart by index prefix.

use std::path::PathBuf;
use std::process::Command;

/// Overrides the server (one started elsewhere, e.g. by `scripts/test`).
pub const OPENSEARCH_VARIABLE: &str = "VEILGRAM_TEST_OPENSEARCH_URL";

/// The test server's URL, starting it first if none is named (blocking: call it from
/// `spawn_blocking` in async tests).
pub fn url() -> String {
    if let Ok(url) = std::env::var(OPENSEARCH_VARIABLE) {
        return url;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/opensearch");
    let status = Command::new("flock")
        .arg("-o")
        .arg(std::env::temp_dir().join("veilgram-opensearch.lock"))
        .arg(&script)
        .arg("start")
        .status()
        .unwrap_or_else(|error| panic!("running scripts/opensearch: {error}"));
    assert!(
        status.success(),
        "scripts/opensearch start failed: the tests need it"
    );
    "http://127.0.0.1:19200".to_owned()
}
