//! A last check on every image VeilGram stores: its container is walked, and anything but
//! pixels and the structure needed to show them (EXIF, XMP, IPTC, ICC profiles, comments,
//! text chunks, application extensions) is named. The encoders write none of it; this proves it
//! on every file before it is stored, and the tests use it on everything they read back.

/// The first piece of metadata found in an encoded JPEG, PNG or GIF, or `None` if it has none.
/// Bytes of any other format answer `Some("unknown format")`.
pub fn leftover_metadata(bytes: &[u8]) -> Option<String> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)
    } else if bytes.starts_with(b"GIF8") {
        gif(bytes)
    } else {
        Some("unknown format".to_owned())
    }
}

/// JPEG segments up to the scan: only APP0 (JFIF) and the coding tables may appear.
fn jpeg(bytes: &[u8]) -> Option<String> {
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return Some("a damaged segment".to_owned());
        }
        let marker = bytes[at + 1];
        if marker == 0xDA {
            return None; // start of scan: pixels follow
        }
        let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        match marker {
            0xE0 if bytes.get(at + 4..at + 9) == Some(b"JFIF\0") => {}
            0xE0..=0xEF => return Some(format!("an APP{} segment", marker - 0xE0)),
            0xFE => return Some("a comment".to_owned()),
            _ => {}
        }
        at += 2 + length;
    }
    Some("no image data".to_owned())
}

/// PNG chunks: only the critical ones and those describing how to show pixels.
fn png(bytes: &[u8]) -> Option<String> {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let length = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let kind = &bytes[at + 4..at + 8];
        match kind {
            b"IHDR" | b"PLTE" | b"IDAT" | b"tRNS" | b"gAMA" | b"cHRM" | b"sRGB" | b"sBIT"
            | b"pHYs" | b"bKGD" | b"acTL" | b"fcTL" | b"fdAT" => {}
            b"IEND" => {
                return (at + 12 < bytes.len()).then(|| "data after the end".to_owned());
            }
            other => return Some(format!("a {} chunk", String::from_utf8_lossy(other))),
        }
        at += 12 + length as usize;
    }
    Some("no end chunk".to_owned())
}

/// GIF extension blocks: graphic control and the looping (NETSCAPE2.0) extension only.
fn gif(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 13 {
        return Some("a truncated header".to_owned());
    }
    let mut at = 13;
    let flags = bytes[10];
    if flags & 0x80 != 0 {
        at += 3 << ((flags & 0x07) + 1);
    }
    let skip_sub_blocks = |mut at: usize| -> Option<usize> {
        loop {
            let size = usize::from(*bytes.get(at)?);
            at += 1;
            if size == 0 {
                return Some(at);
            }
            at += size;
        }
    };
    while let Some(&block) = bytes.get(at) {
        match block {
            0x3B => return None, // trailer
            0x21 => {
                let label = *bytes.get(at + 1)?;
                match label {
                    0xF9 => {}
                    0xFF if bytes.get(at + 3..at + 14) == Some(b"NETSCAPE2.0") => {}
                    0xFE => return Some("a comment extension".to_owned()),
                    0xFF => return Some("an application extension".to_owned()),
                    _ => return Some(format!("extension {label:#x}")),
                }
                at = skip_sub_blocks(at + 2)?;
            }
            0x2C => {
                let flags = *bytes.get(at + 9)?;
                at += 10;
                if flags & 0x80 != 0 {
                    at += 3 << ((flags & 0x07) + 1);
                }
                at = skip_sub_blocks(at + 1)?; // LZW minimum code size, then the data
            }
            _ => return Some("a damaged block".to_owned()),
        }
    }
    Some("no trailer".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_segments_and_chunks_are_named() {
        let clean_jpeg =
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xDA\x00\x08";
        assert_eq!(leftover_metadata(clean_jpeg), None);
        let mut exif = b"\xFF\xD8\xFF\xE1\x00\x08Exif\x00\x00".to_vec();
        exif.extend_from_slice(b"\xFF\xDA\x00\x08");
        assert_eq!(leftover_metadata(&exif).as_deref(), Some("an APP1 segment"));
        let comment = b"\xFF\xD8\xFF\xFE\x00\x05hi!\xFF\xDA\x00\x08";
        assert_eq!(leftover_metadata(comment).as_deref(), Some("a comment"));
        let mut text_png = b"\x89PNG\r\n\x1a\n".to_vec();
        text_png.extend_from_slice(b"\x00\x00\x00\x02tEXtab\x00\x00\x00\x00");
        assert_eq!(
            leftover_metadata(&text_png).as_deref(),
            Some("a tEXt chunk")
        );
        assert_eq!(
            leftover_metadata(b"<svg/>").as_deref(),
            Some("unknown format")
        );
    }
}
