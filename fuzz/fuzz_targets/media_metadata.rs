//! The metadata walker every stored image passes: it finishes on any bytes (damaged, truncated
//! or hostile containers) with an answer, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veilgram_media::metadata::leftover_metadata;

fuzz_target!(|bytes: &[u8]| {
    let _ = leftover_metadata(bytes);
});
