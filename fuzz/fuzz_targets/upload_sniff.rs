//! Upload sniffing: any bytes are told apart by their head alone, the same whatever follows,
//! and the ZIP-trailer check (polyglot files) answers for any tail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veilgram_media::sniff::{has_zip_trailer, Format, SNIFF_LEN};

fuzz_target!(|bytes: &[u8]| {
    let format = Format::sniff(bytes);
    if bytes.len() >= SNIFF_LEN {
        assert_eq!(Format::sniff(&bytes[..SNIFF_LEN]), format);
    }
    let _ = has_zip_trailer(bytes);
});
