//! The moderation suite's text half, in process on one thread: texts classified per second and
//! the latency per text, for the keyword rules alone (what a write runs) and for the whole
//! classifier (keywords and both models); the Korean model's precision, recall and F1 on the
//! BEEP! comments `train-korean` held out (toxic = `hate` or `offensive`), alone and with the
//! keyword rules; and how many ordinary words and sentences are flagged (the target is none).

use crate::realtime::percentile;
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
        "loading the lists and models",
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
