//! What an upload is, decided from its bytes alone (magic numbers): never from its name or the
//! content type the client claimed.

/// The formats VeilGram accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
    Mp4,
    Mov,
    Webm,
}

/// Whether an upload is a still (or animated) image or a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Image,
    Video,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "image" => Some(Self::Image),
            "video" => Some(Self::Video),
            _ => None,
        }
    }
}

/// Bytes of an upload enough to tell its format.
pub const SNIFF_LEN: usize = 32;

impl Format {
    /// The format of a file starting with `head` (at least `SNIFF_LEN` bytes when the file is
    /// that long), or `None` for anything not accepted, HEIC included (no decoder in a
    /// registry package).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            return Some(Self::Gif);
        }
        if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            return Some(Self::Webp);
        }
        if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
            // EBML: Matroska or WebM; ffmpeg reads both with the same demuxer.
            return Some(Self::Webm);
        }
        if head.len() >= 12 && &head[4..8] == b"ftyp" {
            return match &head[8..12] {
                b"qt  " => Some(Self::Mov),
                b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"avif" => None,
                _ => Some(Self::Mp4),
            };
        }
        None
    }

    /// A short name, for job payloads.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Mp4 => "mp4",
            Self::Mov => "mov",
            Self::Webm => "webm",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Jpeg,
            Self::Png,
            Self::Gif,
            Self::Webp,
            Self::Mp4,
            Self::Mov,
            Self::Webm,
        ]
        .into_iter()
        .find(|format| format.name() == name)
    }

    pub const fn kind(self) -> Kind {
        match self {
            Self::Jpeg | Self::Png | Self::Gif | Self::Webp => Kind::Image,
            Self::Mp4 | Self::Mov | Self::Webm => Kind::Video,
        }
    }

    /// The demuxer ffmpeg is forced to use (it never guesses from the content).
    pub const fn ffmpeg_format(self) -> &'static str {
        match self {
            Self::Mp4 | Self::Mov => "mov",
            Self::Webm => "matroska",
            Self::Jpeg => "jpeg_pipe",
            Self::Png => "png_pipe",
            Self::Gif => "gif",
            Self::Webp => "webp_pipe",
        }
    }
}

/// Whether `tail` (the last bytes of a file) ends with a ZIP archive's end-of-central-directory
/// record: an image with an archive appended (a polyglot) is refused.
pub fn has_zip_trailer(tail: &[u8]) -> bool {
    tail.windows(4).any(|window| window == b"PK\x05\x06")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_from_their_magic_numbers() {
        let cases: [(&[u8], Option<Format>); 11] = [
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some(Format::Jpeg)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", Some(Format::Png)),
            (b"GIF89a\x01\0\x01\0", Some(Format::Gif)),
            (b"RIFF\x10\0\0\0WEBPVP8 ", Some(Format::Webp)),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", Some(Format::Mp4)),
            (b"\0\0\0\x14ftypqt  \0\0\0\0", Some(Format::Mov)),
            (b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81", Some(Format::Webm)),
            (b"\0\0\0\x18ftypheic\0\0\0\0", None),
            (b"<!DOCTYPE html><html>", None),
            (b"<svg xmlns=\"http://www.w3.org/2000/svg\">", None),
            (b"", None),
        ];
        for (head, format) in cases {
            assert_eq!(Format::sniff(head), format, "{head:?}");
        }
    }

    #[test]
    fn an_appended_zip_archive_is_seen() {
        let mut file = b"\xFF\xD8\xFF\xE0 jpeg bytes \xFF\xD9".to_vec();
        assert!(!has_zip_trailer(&file));
        file.extend_from_slice(b"PK\x03\x04 entry PK\x05\x06\0\0\0\0");
        assert!(has_zip_trailer(&file));
    }
}
