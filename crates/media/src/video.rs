//! Videos: transcoded by ffmpeg (Debian's package) to H.264/AAC MP4 at a bounded size and frame
//! rate, with every container, stream and chapter metadata dropped, plus a poster frame.
//!
//! ffmpeg is treated as hostile-input software: it is given local files only (a protocol
//! whitelist of `file`, a forced demuxer, never a URL), an empty environment, an address-space
//! limit and a CPU-time limit (`prlimit`), and a wall-clock limit after which it is killed.

use crate::sniff::Format;
use crate::MediaError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

#[derive(Clone, Debug)]
pub struct VideoSettings {
    /// The longer side of the output is at most this, the shorter at most `max_short_side`.
    pub max_long_side: u32,
    pub max_short_side: u32,
    pub max_fps: u32,
    /// Longer videos are cut here.
    pub max_duration: Duration,
    /// How long one ffmpeg run may take before it is killed.
    pub time_limit: Duration,
    /// ffmpeg's address-space limit.
    pub memory_limit_bytes: u64,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            max_long_side: 1280,
            max_short_side: 720,
            max_fps: 30,
            max_duration: Duration::from_secs(600),
            time_limit: Duration::from_secs(600),
            memory_limit_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// A transcoded video in a work directory.
#[derive(Debug)]
pub struct Transcoded {
    pub video: PathBuf,
    /// A PNG of the first frame (re-encoded by the image pipeline before storing).
    pub poster: PathBuf,
    pub width: u32,
    pub height: u32,
    pub duration_ms: i64,
}

/// The output size for an input of `width`×`height`: scaled down (never up) to fit the bounds,
/// keeping the aspect ratio, both sides even.
pub fn output_size(width: u32, height: u32, settings: &VideoSettings) -> (u32, u32) {
    let (long, short) = if width >= height {
        (settings.max_long_side, settings.max_short_side)
    } else {
        (settings.max_short_side, settings.max_long_side)
    };
    let scale = (f64::from(long) / f64::from(width.max(1)))
        .min(f64::from(short) / f64::from(height.max(1)))
        .min(1.0);
    let even = |side: f64| ((side / 2.0).round() as u32 * 2).max(2);
    (
        even(f64::from(width) * scale),
        even(f64::from(height) * scale),
    )
}

/// Runs a media tool under the limits, answering its standard output.
async fn run_tool(
    program: &str,
    arguments: &[String],
    settings: &VideoSettings,
) -> Result<Vec<u8>, MediaError> {
    let cpu_seconds = settings.time_limit.as_secs().max(1);
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--as={}", settings.memory_limit_bytes))
        .arg(format!("--cpu={cpu_seconds}"))
        .arg("--")
        .arg(program)
        .args(arguments)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|error| {
        MediaError::Processing(format!("cannot start {program} under prlimit: {error}"))
    })?;
    let output = tokio::time::timeout(settings.time_limit, child.wait_with_output())
        .await
        .map_err(|_| MediaError::Processing(format!("{program} ran out of time")))?
        .map_err(MediaError::Io)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .last()
            .unwrap_or("no message")
            .chars()
            .take(300);
        return Err(MediaError::Processing(format!(
            "{program} failed ({}): {}",
            output.status,
            last.collect::<String>()
        )));
    }
    Ok(output.stdout)
}

/// What ffprobe says of the input: the first video stream's size, and the duration.
#[derive(Debug, PartialEq)]
struct Probe {
    width: u32,
    height: u32,
    duration_ms: i64,
}

fn parse_probe(json: &[u8]) -> Result<Probe, MediaError> {
    let value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|_| MediaError::Processing("ffprobe answered something unreadable".into()))?;
    let streams = value["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|stream| stream["codec_type"] == "video")
        .ok_or_else(|| MediaError::Processing("no video stream".into()))?;
    let side = |name: &str| {
        video[name]
            .as_u64()
            .and_then(|side| u32::try_from(side).ok())
            .filter(|side| *side > 0)
            .ok_or_else(|| MediaError::Processing("the video has no size".into()))
    };
    let seconds: f64 = value["format"]["duration"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0.0);
    Ok(Probe {
        width: side("width")?,
        height: side("height")?,
        duration_ms: (seconds * 1000.0) as i64,
    })
}

fn input_arguments(format: Format, input: &Path) -> Vec<String> {
    [
        "-hide_banner",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file",
        "-f",
        format.ffmpeg_format(),
        "-i",
    ]
    .iter()
    .map(|argument| (*argument).to_owned())
    .chain([format!("file:{}", input.display())])
    .collect()
}

/// The size and duration of the video at `path`.
async fn probe(path: &Path, format: Format, settings: &VideoSettings) -> Result<Probe, MediaError> {
    let mut arguments = input_arguments(format, path);
    arguments.extend([
        "-show_entries".to_owned(),
        "stream=codec_type,width,height:format=duration".to_owned(),
        "-of".to_owned(),
        "json".to_owned(),
    ]);
    parse_probe(&run_tool("ffprobe", &arguments, settings).await?)
}

/// Transcodes `input` (sniffed as `format`) into `work_dir`.
pub async fn transcode(
    input: &Path,
    format: Format,
    work_dir: &Path,
    settings: &VideoSettings,
) -> Result<Transcoded, MediaError> {
    let source = probe(input, format, settings).await?;
    let (width, height) = output_size(source.width, source.height, settings);

    let video = work_dir.join("video.mp4");
    let mut arguments = vec!["-nostdin".to_owned()];
    arguments.extend(input_arguments(format, input));
    for argument in [
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-sn",
        "-dn",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ac",
        "2",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        "-y",
    ] {
        arguments.push(argument.to_owned());
    }
    // The scale filter also steadies a stream whose size changes midway.
    arguments.extend([
        "-vf".to_owned(),
        format!("scale={width}:{height}:flags=bicubic,setsar=1"),
        "-fpsmax".to_owned(),
        settings.max_fps.to_string(),
        "-t".to_owned(),
        settings.max_duration.as_secs().to_string(),
        format!("file:{}", video.display()),
    ]);
    run_tool("ffmpeg", &arguments, settings).await?;

    // The poster comes from VeilGram's own output, never the upload.
    let poster = work_dir.join("poster.png");
    let mut poster_arguments = vec!["-nostdin".to_owned()];
    poster_arguments.extend(input_arguments(Format::Mp4, &video));
    for argument in [
        "-frames:v",
        "1",
        "-map_metadata",
        "-1",
        "-f",
        "image2",
        "-c:v",
        "png",
        "-y",
    ] {
        poster_arguments.push(argument.to_owned());
    }
    poster_arguments.push(format!("file:{}", poster.display()));
    run_tool("ffmpeg", &poster_arguments, settings).await?;

    let produced = probe(&video, Format::Mp4, settings).await?;
    Ok(Transcoded {
        video,
        poster,
        width: produced.width,
        height: produced.height,
        duration_ms: produced.duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_fits_the_bounds_keeping_the_aspect_ratio() {
        let settings = VideoSettings::default();
        assert_eq!(output_size(1920, 1080, &settings), (1280, 720));
        assert_eq!(output_size(1080, 1920, &settings), (720, 1280));
        assert_eq!(output_size(1080, 1080, &settings), (720, 720));
        assert_eq!(
            output_size(640, 360, &settings),
            (640, 360),
            "never scaled up"
        );
        assert_eq!(output_size(333, 201, &settings), (334, 202), "even sides");
    }

    #[test]
    fn probes_are_read_and_a_stream_without_video_refused() {
        let probe = br#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","width":640,"height":360}],
                        "format":{"duration":"2.500000"}}"#;
        assert_eq!(
            parse_probe(probe).unwrap(),
            Probe {
                width: 640,
                height: 360,
                duration_ms: 2500
            }
        );
        assert!(parse_probe(br#"{"streams":[{"codec_type":"audio"}],"format":{}}"#).is_err());
        assert!(parse_probe(b"not json").is_err());
    }
}
