//! Media samples made by the tests themselves: photos carrying everything a phone writes about
//! its owner, and hostile files (decompression bombs, lying headers, polyglots, endless
//! animations, broken videos). Videos come from Debian's ffmpeg (`lavfi` test sources).

use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::{Delay, Frame, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};
use std::path::Path;
use std::process::Command;

/// Strings planted in samples' metadata; none may appear in anything stored.
pub const PLANTED: [&str; 6] = [
    "VG-SECRET-GPS",
    "VG-SECRET-SERIAL",
    "VG-SECRET-XMP",
    "VG-SECRET-IPTC",
    "VG-SECRET-COMMENT",
    "VG-SECRET-TITLE",
];

/// Which planted strings `bytes` still contains.
pub fn planted_in(bytes: &[u8]) -> Vec<&'static str> {
    PLANTED
        .iter()
        .copied()
        .filter(|planted| {
            bytes
                .windows(planted.len())
                .any(|window| window == planted.as_bytes())
        })
        .collect()
}

/// A gradient photo (so that it compresses like one, not like a flat colour).
pub fn photo(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut segment = vec![0xFF, marker];
    segment.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(body);
    segment
}

/// A little-endian TIFF holding IFD0 (orientation, a camera serial, a pointer to the GPS IFD)
/// and a GPS IFD with a latitude reference and a processing-method string.
fn exif(orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\x00\x08\x00\x00\x00".to_vec();
    // IFD0 at 8: three entries (2 + 3*12 + 4 = 42 bytes), then the serial, then the GPS IFD.
    let serial = b"VG-SECRET-SERIAL\0";
    let serial_at = 8 + 42;
    let gps_at = serial_at + serial.len();
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut entry = tag.to_le_bytes().to_vec();
        entry.extend_from_slice(&kind.to_le_bytes());
        entry.extend_from_slice(&count.to_le_bytes());
        entry.extend_from_slice(&value.to_le_bytes());
        entry
    };
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, u32::from(orientation)));
    tiff.extend(entry(0xA431, 2, serial.len() as u32, serial_at as u32));
    tiff.extend(entry(0x8825, 4, 1, gps_at as u32));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(serial);
    // GPS IFD: LatitudeRef "N", and a processing method naming the planted string.
    let method = b"ASCII\0\0\0VG-SECRET-GPS 37.5665N 126.9780E";
    let method_at = gps_at + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")));
    tiff.extend(entry(0x001B, 7, method.len() as u32, method_at as u32));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(method);
    let mut body = b"Exif\0\0".to_vec();
    body.extend(tiff);
    body
}

/// A JPEG photo of `width`×`height` stored pixels with everything a phone adds: EXIF with
/// an orientation, a camera serial and GPS, XMP, IPTC (APP13) and a comment.
pub fn jpeg_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let mut plain = Vec::new();
    let image = photo(width, height);
    JpegEncoder::new_with_quality(&mut plain, 90)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap_or_else(|error| panic!("encoding a sample: {error}"));
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend(segment(0xE1, &exif(orientation)));
    jpeg.extend(segment(
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><dc:creator>VG-SECRET-XMP</dc:creator></x:xmpmeta>",
    ));
    jpeg.extend(segment(
        0xED,
        b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x10VG-SECRET-IPTC",
    ));
    jpeg.extend(segment(0xFE, b"VG-SECRET-COMMENT"));
    jpeg.extend_from_slice(&plain[2..]);
    jpeg
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    chunk.extend_from_slice(&crc.finalize().to_be_bytes());
    chunk
}

/// A PNG of one pixel's data whose header claims `width`×`height`.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend(png_chunk(b"IHDR", &header));
    // A zlib stream of one filtered RGB pixel.
    png.extend(png_chunk(
        b"IDAT",
        &[
            0x78, 0x9C, 0x63, 0x60, 0x60, 0x60, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01,
        ],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A real PNG of `width`×`height` that compresses to little (two colours in wide bands): the
/// decompression-amplification shape, a small file that decodes to a great many pixels.
pub fn large_png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |_, y| {
        if (y / 64) % 2 == 0 {
            Rgb([200, 40, 40])
        } else {
            Rgb([40, 40, 200])
        }
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(
        image.as_raw(),
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap_or_else(|error| panic!("encoding a PNG: {error}"));
    out
}

/// A small PNG carrying a compressed text chunk that inflates to `text_bytes` bytes.
pub fn png_with_huge_ztxt(text_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 4, 4);
        encoder.set_color(png::ColorType::Rgb);
        encoder
            .add_ztxt_chunk("Comment".to_owned(), "A".repeat(text_bytes))
            .unwrap_or_else(|error| panic!("encoding a sample: {error}"));
        let mut writer = encoder
            .write_header()
            .unwrap_or_else(|error| panic!("encoding a sample: {error}"));
        writer
            .write_image_data(&[200; 48])
            .unwrap_or_else(|error| panic!("encoding a sample: {error}"));
    }
    out
}

/// An animated GIF of `frames` frames of `width`×`height`.
pub fn gif(frames: usize, width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 30);
        encoder
            .set_repeat(Repeat::Infinite)
            .unwrap_or_else(|error| panic!("encoding a sample: {error}"));
        for index in 0..frames {
            let shade = (index * 37 % 256) as u8;
            let buffer = RgbaImage::from_pixel(width, height, Rgba([shade, 64, 255 - shade, 255]));
            let frame = Frame::from_parts(buffer, 0, 0, Delay::from_numer_denom_ms(100, 1));
            encoder
                .encode_frame(frame)
                .unwrap_or_else(|error| panic!("encoding a sample: {error}"));
        }
    }
    out
}

/// A JPEG with a ZIP archive appended (a polyglot).
pub fn jpeg_with_zip() -> Vec<u8> {
    let mut bytes = jpeg_with_metadata(64, 48, 1);
    bytes.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0payload.txtVG");
    bytes.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\0\0\0\0\0\0\0\0\0\0");
    bytes
}

/// Runs Debian's ffmpeg to make a sample; panics with its message if it fails.
fn ffmpeg(arguments: &[&str]) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(arguments)
        .output()
        .unwrap_or_else(|error| {
            panic!("ffmpeg is needed for video tests (apt install ffmpeg): {error}")
        });
    assert!(
        output.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `seconds`-long MP4 (H.264 + AAC, `width`×`height`) whose container and streams carry a
/// title, a location and a chapter.
pub fn mp4_with_metadata(dir: &Path, width: u32, height: u32, seconds: u32) -> Vec<u8> {
    let path = dir.join("sample.mp4");
    let source = format!("testsrc=size={width}x{height}:rate=25");
    let duration = seconds.to_string();
    let metadata = dir.join("chapters.txt");
    std::fs::write(
        &metadata,
        ";FFMETADATA1\ntitle=VG-SECRET-TITLE\ncomment=VG-SECRET-COMMENT\n\
         [CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=VG-SECRET-XMP\n",
    )
    .unwrap_or_else(|error| panic!("writing {}: {error}", metadata.display()));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-i",
        &metadata.to_string_lossy(),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map_metadata",
        "2",
        "-map_chapters",
        "2",
        "-metadata",
        "location=+37.5665+126.9780/",
        "-metadata:s:v",
        "handler_name=VG-SECRET-SERIAL",
        "-t",
        &duration,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        &path.to_string_lossy(),
    ]);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// A Matroska file whose H.264 stream changes size midway (320×240, then 640×360).
pub fn video_changing_size(dir: &Path) -> Vec<u8> {
    let first = dir.join("first.h264");
    let second = dir.join("second.h264");
    for (path, size) in [(&first, "320x240"), (&second, "640x360")] {
        let source = format!("testsrc=size={size}:rate=25");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            &path.to_string_lossy(),
        ]);
    }
    let mut joined = std::fs::read(&first).unwrap_or_default();
    joined.extend(std::fs::read(&second).unwrap_or_default());
    let stream = dir.join("joined.h264");
    std::fs::write(&stream, joined).unwrap_or_else(|error| panic!("writing a sample: {error}"));
    let output = dir.join("changing.mkv");
    ffmpeg(&[
        "-f",
        "h264",
        "-i",
        &stream.to_string_lossy(),
        "-c",
        "copy",
        &output.to_string_lossy(),
    ]);
    std::fs::read(&output).unwrap_or_else(|error| panic!("reading a sample: {error}"))
}
