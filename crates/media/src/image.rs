//! Images: checked from their header before anything is decoded, decoded under hard limits,
//! turned upright (EXIF orientation), then always re-encoded, so nothing the uploader's device
//! wrote (EXIF, GPS, XMP, IPTC, ICC comments, maker notes) reaches a stored file.

use crate::sniff::Format;
use crate::MediaError;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{AnimationDecoder, DynamicImage, Frame, ImageDecoder, ImageEncoder, ImageReader};
use std::io::{BufReader, Cursor};
use std::path::Path;

/// What decoding may cost.
#[derive(Clone, Debug)]
pub struct ImageLimits {
    pub max_width: u32,
    pub max_height: u32,
    /// Bytes the decoder may allocate for one image.
    pub max_alloc: u64,
    /// Animated GIFs: at most this size and this many frames, and this many pixels in all.
    pub max_animation_width: u32,
    pub max_animation_height: u32,
    pub max_frames: usize,
    pub max_animation_pixels: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_width: 7680,
            max_height: 4320,
            max_alloc: 256 * 1024 * 1024,
            max_animation_width: 1280,
            max_animation_height: 720,
            max_frames: 300,
            max_animation_pixels: 30_000_000,
        }
    }
}

/// The longest side of the display variant.
pub const DISPLAY_SIZE: u32 = 2048;
/// The longest side of the thumbnail.
pub const THUMBNAIL_SIZE: u32 = 320;
const JPEG_QUALITY: u8 = 85;

/// One stored rendition of an upload.
#[derive(Debug)]
pub struct Variant {
    /// `display`, `thumbnail` (or `video`, `poster` for videos).
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// A processed image: its variants, the display size, and a blurhash placeholder.
#[derive(Debug)]
pub struct ProcessedImage {
    pub width: u32,
    pub height: u32,
    pub blurhash: String,
    pub variants: Vec<Variant>,
}

fn refused(reason: impl Into<String>) -> MediaError {
    MediaError::Refused(reason.into())
}

fn decode_error(error: image::ImageError) -> MediaError {
    match error {
        image::ImageError::Limits(_) => refused("the image is larger than allowed"),
        other => MediaError::Undecodable(other.to_string()),
    }
}

/// Decodes the image at `path` (already sniffed as `format`) and renders its variants.
/// Blocking: run it off the async runtime.
pub fn process_image(
    path: &Path,
    format: Format,
    limits: &ImageLimits,
) -> Result<ProcessedImage, MediaError> {
    if format == Format::Gif {
        if let Some(animated) = animated_gif(path, limits)? {
            return Ok(animated);
        }
    }
    let image = decode_still(path, format, limits)?;
    let display = fit(&image, DISPLAY_SIZE);
    let thumbnail = image.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
    let (content_type, display_bytes) = encode_still(&display)?;
    let (thumbnail_type, thumbnail_bytes) = encode_still(&thumbnail)?;
    Ok(ProcessedImage {
        width: display.width(),
        height: display.height(),
        blurhash: blurhash_of(&thumbnail)?,
        variants: vec![
            Variant {
                name: "display",
                content_type,
                bytes: display_bytes,
            },
            Variant {
                name: "thumbnail",
                content_type: thumbnail_type,
                bytes: thumbnail_bytes,
            },
        ],
    })
}

fn decoder_of(path: &Path, format: Format) -> Result<impl ImageDecoder, MediaError> {
    let file = std::fs::File::open(path).map_err(MediaError::Io)?;
    let image_format = match format {
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Png => image::ImageFormat::Png,
        Format::Gif => image::ImageFormat::Gif,
        Format::Webp => image::ImageFormat::WebP,
        _ => return Err(refused("not an image")),
    };
    ImageReader::with_format(BufReader::new(file), image_format)
        .into_decoder()
        .map_err(decode_error)
}

/// The header's claim of size, refused beyond the limits before a single pixel is decoded.
fn checked_dimensions(
    decoder: &impl ImageDecoder,
    limits: &ImageLimits,
) -> Result<(u32, u32), MediaError> {
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 || width > limits.max_width || height > limits.max_height {
        return Err(refused(format!(
            "images are at most {}×{} pixels",
            limits.max_width, limits.max_height
        )));
    }
    Ok((width, height))
}

/// What decoding the image at `path` will cost, read from its header alone: its pixels, and
/// the bytes it will hold at its peak (the decoded pixels twice over, while they are turned
/// upright; for a GIF, the frames of an animation besides). A 129 KB PNG can claim 7680×4320:
/// this is how much memory it really asks for.
pub fn decode_cost(
    path: &Path,
    format: Format,
    limits: &ImageLimits,
) -> Result<DecodeCost, MediaError> {
    let decoder = decoder_of(path, format)?;
    let (width, height) = checked_dimensions(&decoder, limits)?;
    let pixels = u64::from(width) * u64::from(height);
    let mut bytes = decoder.total_bytes().saturating_mul(2);
    if format == Format::Gif {
        let frames = pixels.saturating_mul(limits.max_frames as u64);
        bytes = bytes.saturating_add(frames.min(limits.max_animation_pixels) * 4);
    }
    Ok(DecodeCost { pixels, bytes })
}

/// See [`decode_cost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeCost {
    pub pixels: u64,
    pub bytes: u64,
}

fn decode_still(
    path: &Path,
    format: Format,
    limits: &ImageLimits,
) -> Result<DynamicImage, MediaError> {
    let mut decoder = decoder_of(path, format)?;
    checked_dimensions(&decoder, limits)?;
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_width);
    decoder_limits.max_image_height = Some(limits.max_height);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    decoder.set_limits(decoder_limits).map_err(decode_error)?;
    let orientation = decoder.orientation().map_err(decode_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// An animated GIF re-encoded frame by frame, or `None` for a GIF of one frame (or one too
/// large to animate, whose first frame is shown as a still).
fn animated_gif(path: &Path, limits: &ImageLimits) -> Result<Option<ProcessedImage>, MediaError> {
    let file = std::fs::File::open(path).map_err(MediaError::Io)?;
    let decoder = GifDecoder::new(BufReader::new(file)).map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width > limits.max_animation_width || height > limits.max_animation_height {
        return Ok(None);
    }
    let frame_pixels = u64::from(width) * u64::from(height);
    let mut frames: Vec<Frame> = Vec::new();
    for frame in decoder.into_frames() {
        let frame = frame.map_err(decode_error)?;
        frames.push(frame);
        if frames.len() > limits.max_frames
            || frames.len() as u64 * frame_pixels > limits.max_animation_pixels
        {
            return Err(refused(format!(
                "animations are at most {} frames of {}×{}",
                limits.max_frames, limits.max_animation_width, limits.max_animation_height
            )));
        }
    }
    if frames.len() < 2 {
        return Ok(None);
    }
    let first = DynamicImage::ImageRgba8(frames[0].buffer().clone());
    let thumbnail = first.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
    let mut animation = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut animation, 10);
        encoder.set_repeat(Repeat::Infinite).map_err(decode_error)?;
        encoder.encode_frames(frames).map_err(decode_error)?;
    }
    let (thumbnail_type, thumbnail_bytes) = encode_still(&thumbnail)?;
    Ok(Some(ProcessedImage {
        width,
        height,
        blurhash: blurhash_of(&thumbnail)?,
        variants: vec![
            Variant {
                name: "display",
                content_type: "image/gif",
                bytes: animation,
            },
            Variant {
                name: "thumbnail",
                content_type: thumbnail_type,
                bytes: thumbnail_bytes,
            },
        ],
    }))
}

/// `image` scaled down to fit a `size` square (never up).
fn fit(image: &DynamicImage, size: u32) -> DynamicImage {
    if image.width() <= size && image.height() <= size {
        image.clone()
    } else {
        // Area averaging, straight from the decoded pixels: a filtered resize would first
        // build a float copy of the source's full width (7680×1152×16 bytes, 141 MB, for an
        // 8K picture), more than the decoded picture itself.
        image.thumbnail(size, size)
    }
}

/// JPEG, or PNG when some pixel is not opaque. The encoders write pixels and nothing else.
fn encode_still(image: &DynamicImage) -> Result<(&'static str, Vec<u8>), MediaError> {
    let mut bytes = Vec::new();
    let translucent =
        image.color().has_alpha() && image.to_rgba8().pixels().any(|pixel| pixel.0[3] != u8::MAX);
    if translucent {
        let rgba = image.to_rgba8();
        PngEncoder::new(Cursor::new(&mut bytes))
            .write_image(
                &rgba,
                rgba.width(),
                rgba.height(),
                image::ExtendedColorType::Rgba8,
            )
            .map_err(decode_error)?;
        Ok(("image/png", bytes))
    } else {
        let rgb = image.to_rgb8();
        JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
            .write_image(
                &rgb,
                rgb.width(),
                rgb.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(decode_error)?;
        Ok(("image/jpeg", bytes))
    }
}

fn blurhash_of(thumbnail: &DynamicImage) -> Result<String, MediaError> {
    let rgba = thumbnail.to_rgba8();
    blurhash::encode(4, 3, rgba.width(), rgba.height(), rgba.as_raw())
        .map_err(|error| MediaError::Undecodable(error.to_string()))
}
