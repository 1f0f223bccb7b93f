//! The moderation suite's text half, in process on one thread: texts classified per second and
//! the latency per text, for the keyword rules alone (what a write runs) and for the whole
//! classifier (keywords and both models); the Korean model's precision, recall and F1 on the
//! BEEP! comments `train-korean` held out (toxic = `hate` or `offensive`), alone and with the
//! keyword rules; how many ordinary words and sentences are flagged (the target is none); and,
//! over HTTP ([`print_decisions`]), the time from a post's write to its decision under a load of
//! posts; and an NSFW image phase ([`print_images`]).

use crate::realtime::percentile;
use crate::search::latency_rows;
use std::time::{Duration, Instant};
use veilgram_classify::korean;
use veilgram_classify::{Decision, Policy, Scores, TextClassifier};

/// Ordinary Korean and English that holds, or looks like, something a list would catch.
const ORDINARY: &[&str] = &[
    "시발점",
    "시발점에서 다시 시작하자",
    "시발역에 도착했어요",
    "시바견",
    "우리 시바견 너무 귀엽죠",
    "Scunthorpe",
    "classic",
    "a classic cocktail in Scunthorpe",
    "the assassin crept through the grass",
    "Dickens wrote about Essex",
    "오늘 서울에서 친구들과 점심을 먹었어요",
    "주말에 한강 공원에서 산책했어요",
    "photography is my passion",
    "고양이가 너무 귀여워요 ㅋㅋㅋㅋ",
];

/// Runs `work` over `texts` in turn for `duration`; each call's latency.
fn timed(texts: &[&str], duration: Duration, mut work: impl FnMut(&str)) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let deadline = Instant::now() + duration;
    'outer: loop {
        for text in texts {
            let started = Instant::now();
            work(text);
            latencies.push(started.elapsed());
            if Instant::now() >= deadline {
                break 'outer;
            }
        }
    }
    latencies
}

fn rate_rows(label: &str, latencies: &[Duration]) {
    let total: Duration = latencies.iter().sum();
    let mut micros: Vec<f64> = latencies.iter().map(|l| l.as_secs_f64() * 1e6).collect();
    micros.sort_by(f64::total_cmp);
    println!(
        "| {label:<52} | {:>10.0} /s |",
        latencies.len() as f64 / total.as_secs_f64()
    );
    println!("| {:<52} | {:>7.1} µs P50 |", "", percentile(&micros, 0.5));
    println!("| {:<52} | {:>7.1} µs P99 |", "", percentile(&micros, 0.99));
}

pub fn print(beep: &std::path::Path, duration: Duration) -> anyhow::Result<()> {
    println!("\nmoderation: text classification (one thread, in process)");
    let started = Instant::now();
    let classifier = TextClassifier::bundled(Policy::default());
    // The models are parsed on first use.
    std::hint::black_box(classifier.classify("서울 hello"));
    let loaded = started.elapsed();
    let corpus = std::fs::read_to_string(beep)
        .map_err(|error| anyhow::anyhow!("{}: {error} (pass --beep)", beep.display()))?;
    let held: Vec<(&str, bool)> = corpus
        .lines()
        .filter_map(korean::beep_line)
        .filter(|(text, _)| korean::held_out(text))
        .collect();
    let texts: Vec<&str> = held.iter().map(|(text, _)| *text).collect();

    println!("| {:<52} | {:>14} |", "phase", "figure");
    println!("|{:-<54}|{:->16}|", "", "");
    println!(
        "| {:<52} | {:>11.0} ms |",
        "loading the lists and models (first classification)",
        loaded.as_secs_f64() * 1e3
    );
    let keywords = timed(&texts, duration, |text| {
        std::hint::black_box(classifier.keywords(text));
    });
    rate_rows("keyword rules alone (the write's check)", &keywords);
    let whole = timed(&texts, duration, |text| {
        std::hint::black_box(classifier.classify(text));
    });
    rate_rows("keywords and both models (target 20,000 /s)", &whole);

    let model: Vec<(f64, bool)> = held
        .iter()
        .map(|(text, toxic)| (classifier.model_scores(text).0.unwrap_or(0.0), *toxic))
        .collect();
    let combined: Vec<(f64, bool)> = held
        .iter()
        .map(|(text, toxic)| {
            let flagged = classifier.classify(text).decision != Decision::Allow;
            (f64::from(u8::from(flagged)), *toxic)
        })
        .collect();
    for (label, results) in [
        ("Korean model, held-out BEEP! comments", &model),
        ("keywords and models, held-out BEEP! comments", &combined),
    ] {
        let scores = Scores::at(results, 0.5);
        let (precision, recall, f1) = scores.toxic;
        println!("| {label:<52} | {:>8} texts |", results.len());
        println!("| {:<52} | {precision:>9.3} prec |", "  toxic");
        println!("| {:<52} | {recall:>10.3} rec |", "");
        println!("| {:<52} | {f1:>11.3} F1 |", "");
        println!("| {:<52} | {:>11.3} F1 |", "  none", scores.clean.2);
        println!(
            "| {:<52} | {:>5.3} macro-F1 |",
            "  (target 0.75)",
            scores.macro_f1()
        );
    }
    let flagged: Vec<&str> = ORDINARY
        .iter()
        .copied()
        .filter(|text| classifier.classify(text).decision != Decision::Allow)
        .collect();
    println!(
        "| {:<52} | {:>8} of {:>2} |",
        "ordinary words and sentences flagged (target 0)",
        flagged.len(),
        ORDINARY.len()
    );
    for text in flagged {
        println!("|   {text:<50} | {:>14} |", "flagged");
    }
    Ok(())
}

/// Images classified in the image phase.
const IMAGES: usize = 40;

/// In process, on one thread: a 4 MP photo (the test kit's generated JPEG) decoded, resized
/// to 224×224 and scored by the NSFW model on tract, beside the decode alone (the reference);
/// per photo, P50/P99, and this process's memory after.
pub fn print_images() -> anyhow::Result<()> {
    use veilgram_media::nsfw::NsfwClassifier;
    println!("\nmoderation: images (one thread, in process, 4 MP JPEG)");
    let started = Instant::now();
    let classifier = NsfwClassifier::bundled()?;
    let loaded = started.elapsed();
    let photo = veilgram_testkit::samples::jpeg_with_metadata(2448, 1632, 1);
    let mut decodes = Vec::with_capacity(IMAGES);
    let mut decisions = Vec::with_capacity(IMAGES);
    let mut explicit = 0.0f32;
    for _ in 0..IMAGES {
        let started = Instant::now();
        let image = image::load_from_memory(&photo)?;
        decodes.push(started.elapsed());
        let scores = classifier.classify(&image)?;
        decisions.push(started.elapsed());
        explicit = explicit.max(scores.explicit());
    }
    let total: Duration = decisions.iter().sum();
    println!("| {:<52} | {:>14} |", "phase", "figure");
    println!("|{:-<54}|{:->16}|", "", "");
    println!(
        "| {:<52} | {:>11.0} ms |",
        "loading the model (tract, optimised)",
        loaded.as_secs_f64() * 1e3
    );
    latency_rows("decode alone (reference)", &decodes);
    println!(
        "| {:<52} | {:>10.1} /s |",
        "decode, resize and classify",
        IMAGES as f64 / total.as_secs_f64()
    );
    latency_rows("  per photo (target < 150 ms)", &decisions);
    println!(
        "| {:<52} | {:>14.3} |",
        "  explicit score of the generated photo (allowed < 0.5)", explicit
    );
    println!(
        "| {:<52} | {:>9.0} MiB |",
        "this process's memory after",
        crate::realtime::rss_mb(std::process::id())
    );
    Ok(())
}

/// Posts written per second in the decision phase, and how many.
const DECISION_RATE: u64 = 50;
const DECISION_POSTS: usize = 300;

/// Over HTTP: a `veilgram serve` takes `DECISION_POSTS` posts at `DECISION_RATE` per second,
/// one in three with profanity (the default policy warns about it), and every warned post is
/// read until its decision shows; the time from each write's answer to its decision.
pub async fn print_decisions(binary: &std::path::PathBuf) -> anyhow::Result<()> {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::Request;
    println!("\nmoderation: from a post's write to its decision (veilgram serve, SQLite)");
    let directory = tempfile::tempdir()?;
    let server = crate::start_server(binary, directory.path(), None, &[])?;
    let address = server.address.clone();
    let token = format!("Bearer {}", crate::search::sign_up(&address).await?);
    let mut pace = tokio::time::interval(Duration::from_millis(1000 / DECISION_RATE));
    let mut writes = Vec::new();
    let mut waits = Vec::new();
    for n in 0..DECISION_POSTS {
        pace.tick().await;
        let flagged = n % 3 == 0;
        let text = if flagged {
            format!("시 1 발 진짜 {n}번째 글")
        } else {
            format!("오늘 {n}번째 산책 기록 photo walk")
        };
        let body = serde_json::json!({ "text": text }).to_string();
        let started = Instant::now();
        let (status, post) = crate::search::call(
            &address,
            Request::post("/api/v1/posts")
                .header("host", &address)
                .header("authorization", &token)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))?,
        )
        .await?;
        anyhow::ensure!(status == 201, "a post: {status}");
        let written = Instant::now();
        writes.push(written - started);
        if !flagged {
            continue;
        }
        let path = format!("/api/v1/posts/{}", post["id"].as_str().unwrap_or_default());
        let (address, token) = (address.clone(), token.clone());
        waits.push(tokio::spawn(async move {
            loop {
                let request = Request::get(&path)
                    .header("host", &address)
                    .header("authorization", &token)
                    .body(Full::new(Bytes::new()))?;
                let (_, post) = crate::search::call(&address, request).await?;
                if post["moderation"]["state"] == "warned" {
                    return anyhow::Ok(written.elapsed());
                }
                anyhow::ensure!(written.elapsed() < Duration::from_secs(30), "never decided");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    let mut decided = Vec::with_capacity(waits.len());
    for wait in waits {
        decided.push(wait.await??);
    }
    println!("| {:<52} | {:>14} |", "phase", "figure");
    println!("|{:-<54}|{:->16}|", "", "");
    println!(
        "| {:<52} | {:>10} /s |",
        format!("posts written ({DECISION_POSTS}, one in three flagged)"),
        DECISION_RATE
    );
    latency_rows("  write latency", &writes);
    latency_rows(
        "write answered to decision shown (target P99 < 2 s)",
        &decided,
    );
    drop(server);
    Ok(())
}
