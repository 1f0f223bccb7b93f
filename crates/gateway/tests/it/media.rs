//! Media through the API: photos stripped and resized, served with validators and ranges;
//! videos transcoded by the job; hostile files refused with nothing stored; quotas, caps and
//! idempotency; media on posts; deletion of every stored file. Storage is a local directory,
//! or a real S3 server (Garage) where the test names it.

use crate::helpers::{Account, Options, TestApp, TestResponse};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use veilgram_core::Timestamp;
use veilgram_media::metadata::leftover_metadata;
use veilgram_media::StorageConfig;
use veilgram_testkit::samples;
use veilgram_testkit::TestDatabase;

const BOUNDARY: &str = "veilgram-test-boundary-7c1e";

/// Sends `bytes` as the multipart field `file` named `file_name`.
async fn upload_named(
    app: &TestApp,
    token: &str,
    bytes: &[u8],
    file_name: &str,
    idempotency_key: Option<&str>,
) -> TestResponse {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/media")
        .header("authorization", format!("Bearer {token}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

async fn upload(app: &TestApp, token: &str, bytes: &[u8]) -> TestResponse {
    upload_named(app, token, bytes, "photo.jpg", None).await
}

/// The bytes behind a media URL, with the response.
async fn fetch(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> (TestResponse, Vec<u8>) {
    let mut request = Request::builder().uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.send(request.body(Body::empty()).unwrap()).await;
    let bytes = response.raw.clone();
    (response, bytes)
}

fn decoded_size(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).unwrap();
    (image.width(), image.height())
}

async fn photos_are_upright_stripped_resized_and_served(app: &TestApp) {
    let owner = app.signup(None).await;
    let stranger = app.signup(None).await;
    // Stored 3000×2000 with EXIF orientation 6 (turn 90° clockwise to view): 2000×3000.
    let photo = samples::jpeg_with_metadata(3000, 2000, 6);
    assert_eq!(
        samples::planted_in(&photo).len(),
        5,
        "the sample carries its metadata"
    );
    let created = upload(app, &owner.access_token, &photo).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let media = &created.body;
    assert_eq!(
        (media["kind"].as_str(), media["status"].as_str()),
        (Some("image"), Some("ready"))
    );
    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(1365), Some(2048))
    );
    assert!(media["blurhash"]
        .as_str()
        .is_some_and(|hash| hash.len() >= 6));

    let url = media["url"].as_str().unwrap();
    let (served, display) = fetch(app, url, &[]).await;
    assert_eq!(served.status, StatusCode::OK);
    let header = |name: &str| {
        served
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    assert_eq!(header("content-type").as_deref(), Some("image/jpeg"));
    assert_eq!(
        header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("content-disposition").as_deref(), Some("inline"));
    assert_eq!(
        decoded_size(&display),
        (1365, 2048),
        "upright and fitted to 2048"
    );
    assert_eq!(leftover_metadata(&display), None);
    assert!(samples::planted_in(&display).is_empty());
    let (thumbnail_response, thumbnail) =
        fetch(app, media["thumbnail_url"].as_str().unwrap(), &[]).await;
    assert_eq!(thumbnail_response.status, StatusCode::OK);
    assert_eq!(decoded_size(&thumbnail), (213, 320));
    assert_eq!(leftover_metadata(&thumbnail), None);
    assert!(samples::planted_in(&thumbnail).is_empty());

    let etag = header("etag").unwrap();
    let (unchanged, body) = fetch(app, url, &[("if-none-match", &etag)]).await;
    assert_eq!(
        (unchanged.status, body.len()),
        (StatusCode::NOT_MODIFIED, 0)
    );
    let (part, bytes) = fetch(app, url, &[("range", "bytes=10-109")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(bytes, display[10..110]);
    assert_eq!(
        part.headers["content-range"].to_str().unwrap(),
        format!("bytes 10-109/{}", display.len())
    );
    let (beyond, _) = fetch(app, url, &[("range", "bytes=99999999-")]).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let (unknown, _) = fetch(app, "/media/m0123456789abcdef0123456789abcdef.jpg", &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let id = media["id"].as_str().unwrap();
    let own = app
        .get(&format!("/api/v1/media/{id}"), Some(&owner.access_token))
        .await;
    assert_eq!(own.body, created.body);
    let theirs = app
        .get(&format!("/api/v1/media/{id}"), Some(&stranger.access_token))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

async fn post_with(app: &TestApp, account: &Account, media: &[&str]) -> TestResponse {
    app.post(
        "/api/v1/posts",
        json!({ "text": "look", "media_ids": media }),
        Some(&account.access_token),
    )
    .await
}

async fn posts_carry_their_media_and_only_their_owners(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let owner = app.signup(None).await;
    let other = app.signup(None).await;
    let first = upload(
        &app,
        &owner.access_token,
        &samples::jpeg_with_metadata(800, 600, 1),
    )
    .await;
    let second = upload(&app, &owner.access_token, &samples::gif(3, 40, 30)).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let mut webp = Vec::new();
    image::DynamicImage::ImageRgb8(samples::photo(300, 200))
        .write_to(
            &mut std::io::Cursor::new(&mut webp),
            image::ImageFormat::WebP,
        )
        .unwrap();
    let from_webp = upload(&app, &owner.access_token, &webp).await;
    assert_eq!(from_webp.status, StatusCode::CREATED, "{}", from_webp.text);
    assert_eq!(
        (
            from_webp.body["width"].as_i64(),
            from_webp.body["height"].as_i64()
        ),
        (Some(300), Some(200))
    );
    let (first, second) = (
        first.body["id"].as_str().unwrap(),
        second.body["id"].as_str().unwrap(),
    );

    let stolen = post_with(&app, &other, &[first]).await;
    assert_eq!(
        (stolen.status, stolen.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let bogus = post_with(&app, &owner, &["not-an-id"]).await;
    assert_eq!(bogus.status, StatusCode::NOT_FOUND);
    let twice = post_with(&app, &owner, &[first, first]).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);

    let post = post_with(&app, &owner, &[second, first]).await;
    assert_eq!(post.status, StatusCode::CREATED, "{}", post.text);
    let shown: Vec<&str> = post.body["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|media| media["id"].as_str().unwrap())
        .collect();
    assert_eq!(shown, [second, first], "in the order given");
    let id = post.body["id"].as_str().unwrap();
    let read = app.get(&format!("/api/v1/posts/{id}"), None).await;
    assert_eq!(read.body, post.body);
    app.drain_events().await;
    let home = app
        .get("/api/v1/feed/home", Some(&owner.access_token))
        .await;
    assert_eq!(
        home.body["items"][0], post.body,
        "the feed shows the same post"
    );
    let animated = &post.body["media"][0];
    let (_, gif) = fetch(&app, animated["url"].as_str().unwrap(), &[]).await;
    assert_eq!(leftover_metadata(&gif), None);
    assert_eq!(image::guess_format(&gif).unwrap(), image::ImageFormat::Gif);

    let again = post_with(&app, &owner, &[first]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "one post per upload");
}

async fn set_avatar(app: &TestApp, account: &Account, media: &str) -> TestResponse {
    app.call(
        Method::PATCH,
        "/api/v1/users/me",
        Some(json!({ "avatar_media_id": media })),
        Some(&account.access_token),
    )
    .await
}

async fn avatars_are_uploads_and_replace_each_other(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let owner = app.signup(None).await;
    let other = app.signup(None).await;
    let photo = samples::jpeg_with_metadata(900, 900, 1);
    let first = upload(&app, &owner.access_token, &photo).await.body;
    let theirs = upload(&app, &other.access_token, &photo).await.body;
    let on_post = upload(&app, &owner.access_token, &photo).await.body;
    post_with(&app, &owner, &[on_post["id"].as_str().unwrap()]).await;
    for (media, why) in [(&theirs, "someone else's"), (&on_post, "on a post")] {
        let refused = set_avatar(&app, &owner, media["id"].as_str().unwrap()).await;
        assert_eq!(
            (refused.status, refused.field()),
            (StatusCode::NOT_FOUND, "avatar_media_id"),
            "{why}"
        );
    }
    let set = set_avatar(&app, &owner, first["id"].as_str().unwrap()).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["avatar"], first["thumbnail_url"]);
    let (served, bytes) = fetch(&app, set.body["avatar"].as_str().unwrap(), &[]).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(leftover_metadata(&bytes), None);

    let second = upload(&app, &owner.access_token, &photo).await.body;
    let replaced = set_avatar(&app, &owner, second["id"].as_str().unwrap()).await;
    assert_eq!(replaced.body["avatar"], second["thumbnail_url"]);
    let post = post_with(&app, &owner, &[]).await;
    assert_eq!(post.body["author"]["avatar"], second["thumbnail_url"]);
    assert_eq!(
        app.media.collect(Timestamp::now()).await.unwrap(),
        1,
        "the old avatar goes"
    );
    assert_served(&app, &first, StatusCode::NOT_FOUND).await;
    let tomorrow = Timestamp::now().plus(Duration::from_secs(24 * 3600 + 1));
    assert_eq!(
        app.media.collect(tomorrow).await.unwrap(),
        1,
        "only `theirs`, never attached"
    );
    assert_served(&app, &second, StatusCode::OK).await;
}

async fn hostile_uploads_are_refused_quickly_with_nothing_stored(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let token = &account.access_token;
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "a 1×1 PNG claiming 100000×100000",
            samples::png_claiming(100_000, 100_000),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a GIF of 10000 frames",
            samples::gif(10_000, 4, 4),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "HTML named .jpg",
            b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "SVG named .jpg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a JPEG with a ZIP appended",
            samples::jpeg_with_zip(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a truncated JPEG",
            samples::jpeg_with_metadata(400, 300, 1)[..900].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("an empty file", Vec::new(), StatusCode::BAD_REQUEST),
        (
            "HEIC (no decoder)",
            b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (what, bytes, status) in cases {
        let started = Instant::now();
        let response = upload(&app, token, &bytes).await;
        assert_eq!(response.status, status, "{what}: {}", response.text);
        assert!(
            response.body["error"]["code"].is_string(),
            "{what}: the API's error format"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} took {:?}",
            started.elapsed()
        );
    }
    // A text chunk that inflates to 64 MB is never inflated: the picture is taken, clean.
    let bomb = samples::png_with_huge_ztxt(64 * 1024 * 1024);
    assert!(bomb.len() < 1024 * 1024);
    let started = Instant::now();
    let taken = upload(&app, token, &bomb).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Names are never used: not for the key, not for anything.
    let named = upload_named(
        &app,
        token,
        &samples::jpeg_with_metadata(64, 48, 1),
        "../../etc/passwd%00.jpg",
        None,
    )
    .await;
    assert_eq!(named.status, StatusCode::CREATED, "{}", named.text);
    assert!(!named.text.contains("passwd"));

    let stored = count_files(&app.data_dir.path().join("media"));
    assert_eq!(
        stored, 4,
        "two variants each of the two accepted uploads, nothing else"
    );
    assert_eq!(
        count_files(&app.data_dir.path().join("uploads")),
        0,
        "no received file left"
    );
}

fn count_files(directory: &std::path::Path) -> usize {
    std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .map(|entry| {
                    let entry = entry.unwrap();
                    if entry.file_type().unwrap().is_dir() {
                        count_files(&entry.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn caps_quotas_and_idempotency_hold(database: &TestDatabase) {
    let app = TestApp::with_options(
        database,
        Options {
            media_quota: Some(600 * 1024),
            ..Options::default()
        },
    )
    .await;
    let account = app.signup(None).await;
    let token = &account.access_token;
    let photo = samples::jpeg_with_metadata(1200, 900, 1);
    let first = upload_named(&app, token, &photo, "a.jpg", Some("upload-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let retried = upload_named(&app, token, &photo, "a.jpg", Some("upload-1")).await;
    assert_eq!(retried.status, StatusCode::CREATED);
    assert_eq!(
        retried.body["id"], first.body["id"],
        "a retry answers the first upload"
    );
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    let other_bytes = samples::jpeg_with_metadata(1000, 900, 1);
    let misused = upload_named(&app, token, &other_bytes, "a.jpg", Some("upload-1")).await;
    assert_eq!(
        (misused.status, misused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );

    let mut over_quota = None;
    for _ in 0..40 {
        let response = upload(&app, token, &samples::jpeg_with_metadata(2048, 1536, 1)).await;
        if response.status != StatusCode::CREATED {
            over_quota = Some(response);
            break;
        }
    }
    let over_quota = over_quota.expect("the quota is reached");
    assert_eq!(
        (over_quota.status, over_quota.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded")
    );

    // Past the largest upload the body is not even read to its end.
    let mut huge = samples::jpeg_with_metadata(64, 48, 1);
    huge.resize(101 * 1024 * 1024, 0);
    let refused = upload(&app, token, &huge).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    let mut big_image = samples::jpeg_with_metadata(64, 48, 1);
    big_image.resize(17 * 1024 * 1024, 0);
    let refused = upload(&app, token, &big_image).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    let not_multipart = app
        .post("/api/v1/media", json!({ "file": "x" }), Some(token))
        .await;
    assert_eq!(not_multipart.status, StatusCode::BAD_REQUEST);
    let anonymous = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/media")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// Every stored file of `media` (its URLs) answers `status`.
async fn assert_served(app: &TestApp, media: &Value, status: StatusCode) {
    for url in [&media["url"], &media["thumbnail_url"]] {
        let (response, _) = fetch(app, url.as_str().unwrap(), &[]).await;
        assert_eq!(response.status, status, "{url}");
    }
}

async fn stored_files_go_with_their_post_their_owner_or_a_day_unattached(app: &TestApp) {
    let owner = app.signup(None).await;
    let photo = samples::jpeg_with_metadata(640, 480, 1);
    let attached = upload(app, &owner.access_token, &photo).await.body;
    let loose = upload(app, &owner.access_token, &photo).await.body;
    let kept = upload(app, &owner.access_token, &photo).await.body;
    let post = post_with(app, &owner, &[attached["id"].as_str().unwrap()]).await;
    let _keeper = post_with(app, &owner, &[kept["id"].as_str().unwrap()]).await;
    let keys = |media: &Value| {
        [&media["url"], &media["thumbnail_url"]].map(|url| {
            url.as_str()
                .unwrap()
                .trim_start_matches("/media/")
                .to_owned()
        })
    };
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{}", post.body["id"].as_str().unwrap()),
            None,
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(app.media.collect(Timestamp::now()).await.unwrap(), 1);
    assert_served(app, &attached, StatusCode::NOT_FOUND).await;
    for key in keys(&attached) {
        assert!(
            !app.media.storage().exists(&key).await.unwrap(),
            "{key} deleted from storage"
        );
    }
    assert_served(app, &loose, StatusCode::OK).await;
    let tomorrow = Timestamp::now().plus(Duration::from_secs(24 * 3600 + 1));
    assert_eq!(
        app.media.collect(tomorrow).await.unwrap(),
        1,
        "the unattached upload, a day on"
    );
    for key in keys(&loose) {
        assert!(!app.media.storage().exists(&key).await.unwrap());
    }
    assert_served(app, &kept, StatusCode::OK).await;

    let gone = app
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            None,
            Some(&owner.access_token),
        )
        .await;
    assert!(gone.status.is_success(), "{}", gone.text);
    assert_eq!(app.media.collect(Timestamp::now()).await.unwrap(), 1);
    for key in keys(&kept) {
        assert!(!app.media.storage().exists(&key).await.unwrap());
    }
}

async fn videos_are_transcoded_by_a_job_without_their_metadata(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let owner = app.signup(None).await;
    let work = tempfile::tempdir().unwrap();
    let video = samples::mp4_with_metadata(work.path(), 1920, 1080, 2);
    let created = upload(&app, &owner.access_token, &video).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        (
            created.body["kind"].as_str(),
            created.body["status"].as_str()
        ),
        (Some("video"), Some("processing"))
    );
    let id = created.body["id"].as_str().unwrap();
    let post = post_with(&app, &owner, &[id]).await;
    assert_eq!(
        post.status,
        StatusCode::CREATED,
        "a processing video can be posted"
    );
    app.drain_events().await;
    let before = app
        .get("/api/v1/feed/home", Some(&owner.access_token))
        .await;
    assert_eq!(before.body["items"][0]["media"][0]["status"], "processing");

    assert!(app.media_worker.run_once().await.unwrap(), "the job ran");
    let ready = app
        .get(&format!("/api/v1/media/{id}"), Some(&owner.access_token))
        .await;
    let media = &ready.body;
    assert_eq!(media["status"], "ready", "{}", ready.text);
    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(1280), Some(720))
    );
    let duration = media["duration_ms"].as_i64().unwrap();
    assert!((1900..=2200).contains(&duration), "{duration} ms");
    let (served, bytes) = fetch(
        &app,
        media["url"].as_str().unwrap(),
        &[("range", "bytes=0-")],
    )
    .await;
    assert_eq!(served.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(served.headers["content-type"], "video/mp4");
    assert!(
        samples::planted_in(&bytes).is_empty(),
        "{:?}",
        samples::planted_in(&bytes)
    );
    let tags = ffprobe_tags(work.path(), &bytes);
    for planted in ["title", "comment", "location", "VG-SECRET"] {
        assert!(!tags.contains(planted), "{planted} survived: {tags}");
    }
    assert!(
        !tags.contains("\"chapters\": [\n        {"),
        "chapters survived: {tags}"
    );
    for variant in ["thumbnail_url", "poster_url"] {
        let (_, still) = fetch(&app, media[variant].as_str().unwrap(), &[]).await;
        assert_eq!(leftover_metadata(&still), None, "{variant}");
        assert!(samples::planted_in(&still).is_empty(), "{variant}");
    }
    assert_eq!(
        decoded_size(
            &fetch(&app, media["poster_url"].as_str().unwrap(), &[])
                .await
                .1
        ),
        (1280, 720)
    );
    app.drain_events().await;
    let after = app
        .get("/api/v1/feed/home", Some(&owner.access_token))
        .await;
    assert_eq!(
        after.body["items"][0]["media"][0], ready.body,
        "the feed shows the finished video"
    );

    // Broken and odd videos: the job ends them cleanly, failed or ready, never stuck.
    let truncated = video[..video.len() / 3].to_vec();
    let broken = upload(&app, &owner.access_token, &truncated).await;
    let changing = upload(
        &app,
        &owner.access_token,
        &samples::video_changing_size(work.path()),
    )
    .await;
    assert_eq!(changing.status, StatusCode::CREATED, "{}", changing.text);
    while app.media_worker.run_once().await.unwrap() {}
    let status = |response: &TestResponse| {
        let id = response.body["id"].as_str().unwrap().to_owned();
        let token = owner.access_token.clone();
        let app = &app;
        async move {
            app.get(&format!("/api/v1/media/{id}"), Some(&token))
                .await
                .body["status"]
                .clone()
        }
    };
    assert_eq!(status(&broken).await, "failed");
    assert_eq!(status(&changing).await, "ready");
}

/// What ffprobe sees in an MP4: container tags, stream tags and chapters.
fn ffprobe_tags(work: &std::path::Path, bytes: &[u8]) -> String {
    let path = work.join("served.mp4");
    std::fs::write(&path, bytes).unwrap();
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format_tags:stream_tags",
            "-show_chapters",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

mod sqlite_local {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn photos_are_upright_stripped_resized_and_served_locally() {
        let database = TestDatabase::sqlite();
        photos_are_upright_stripped_resized_and_served(&TestApp::new(&database).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stored_files_go_locally() {
        let database = TestDatabase::sqlite();
        let app = TestApp::new(&database).await;
        stored_files_go_with_their_post_their_owner_or_a_day_unattached(&app).await;
    }
}

mod postgres_s3 {
    use super::*;

    async fn app_on_s3(database: &TestDatabase) -> TestApp {
        let storage: StorageConfig = veilgram_testkit::s3::bucket().await;
        TestApp::with_options(
            database,
            Options {
                storage: Some(storage),
                ..Options::default()
            },
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn photos_are_upright_stripped_resized_and_served_from_s3() {
        let database = TestDatabase::postgres().await;
        photos_are_upright_stripped_resized_and_served(&app_on_s3(&database).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stored_files_go_from_s3() {
        let database = TestDatabase::postgres().await;
        let app = app_on_s3(&database).await;
        stored_files_go_with_their_post_their_owner_or_a_day_unattached(&app).await;
    }
}

async fn describe(app: &TestApp, path: &str, token: &str, alt: Value) -> TestResponse {
    app.call(
        Method::PATCH,
        path,
        Some(json!({ "alt": alt })),
        Some(token),
    )
    .await
}

async fn descriptions_belong_to_the_owner_until_the_upload_is_attached(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let owner = app.signup(None).await;
    let other = app.signup(None).await;
    let created = upload(
        &app,
        &owner.access_token,
        &samples::jpeg_with_metadata(320, 240, 1),
    )
    .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(created.body["alt"].is_null());
    let path = format!("/api/v1/media/{id}");

    let described = describe(
        &app,
        &path,
        &owner.access_token,
        json!("  A cat on a warm windowsill "),
    )
    .await;
    assert_eq!(described.status, StatusCode::OK, "{}", described.text);
    assert_eq!(described.body["alt"], "A cat on a warm windowsill");
    // Someone else's upload does not exist for them.
    let stranger = describe(&app, &path, &other.access_token, json!("mine now")).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    // Limits: 1,500 characters, no control characters, a string.
    let long = describe(&app, &path, &owner.access_token, json!("가".repeat(1501))).await;
    assert_eq!(
        (long.status, long.field()),
        (StatusCode::BAD_REQUEST, "alt")
    );
    let control = describe(&app, &path, &owner.access_token, json!("bell \u{7}")).await;
    assert_eq!(
        (control.status, control.field()),
        (StatusCode::BAD_REQUEST, "alt")
    );
    let not_text = describe(&app, &path, &owner.access_token, json!(7)).await;
    assert_eq!(not_text.status, StatusCode::BAD_REQUEST);
    let exact = describe(&app, &path, &owner.access_token, json!("가".repeat(1500))).await;
    assert_eq!(exact.status, StatusCode::OK, "{}", exact.text);
    let kept = describe(
        &app,
        &path,
        &owner.access_token,
        json!("A cat on a warm windowsill"),
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK);

    // The post shows it; once attached it is fixed (the post is what changed).
    let post = app
        .post(
            "/api/v1/posts",
            json!({ "text": "cat", "media_ids": [id] }),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(post.status, StatusCode::CREATED, "{}", post.text);
    assert_eq!(post.body["media"][0]["alt"], "A cat on a warm windowsill");
    let shown = app
        .get(
            &format!("/api/v1/posts/{}", post.body["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(shown.body["media"][0]["alt"], "A cat on a warm windowsill");
    let late = describe(&app, &path, &owner.access_token, json!("changed")).await;
    assert_eq!(late.status, StatusCode::NOT_FOUND);
}

/// An image is costed from its header before it is decoded: beyond the decoding budget it is
/// refused without being decoded; large ones go to the worker as a job when one runs.
async fn large_images_are_decoded_within_the_budget_or_by_the_worker(database: &TestDatabase) {
    let app = TestApp::with_options(
        database,
        Options {
            decode_budget_bytes: Some(64 * 1024 * 1024),
            offload_pixels: Some(2_000_000),
            ..Options::default()
        },
    )
    .await;
    let owner = app.signup(None).await;
    let token = &owner.access_token;
    // 7680×4320 in a file of a few hundred KB: about 200 MB to decode, over this budget.
    let bomb = samples::large_png(7680, 4320);
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let started = Instant::now();
    let refused = upload(&app, token, &bomb).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "media_refused"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("MiB"), "{}", refused.text);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // 2400×1600 is within the budget but over the offload threshold: a job decodes it.
    let large = upload(&app, token, &samples::large_png(2400, 1600)).await;
    assert_eq!(large.status, StatusCode::CREATED, "{}", large.text);
    assert_eq!(
        (large.body["kind"].as_str(), large.body["status"].as_str()),
        (Some("image"), Some("processing"))
    );
    let id = large.body["id"].as_str().unwrap();
    assert!(app.media_worker.run_once().await.unwrap(), "the job ran");
    let ready = app.get(&format!("/api/v1/media/{id}"), Some(token)).await;
    let media = &ready.body;
    assert_eq!(media["status"], "ready", "{}", ready.text);
    assert_eq!(
        (media["width"].as_i64(), media["height"].as_i64()),
        (Some(2048), Some(1365))
    );
    assert!(media["blurhash"].is_string(), "{}", ready.text);
    let (served, bytes) = fetch(&app, media["url"].as_str().unwrap(), &[]).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(decoded_size(&bytes), (2048, 1365));
    // A small one is decoded at once, as ever.
    let small = upload(&app, token, &samples::large_png(800, 600)).await;
    assert_eq!(small.body["status"], "ready", "{}", small.text);
}

veilgram_testkit::for_each_engine!(
    large_images_are_decoded_within_the_budget_or_by_the_worker,
    descriptions_belong_to_the_owner_until_the_upload_is_attached,
    posts_carry_their_media_and_only_their_owners,
    avatars_are_uploads_and_replace_each_other,
    hostile_uploads_are_refused_quickly_with_nothing_stored,
    caps_quotas_and_idempotency_hold,
    videos_are_transcoded_by_a_job_without_their_metadata,
);
