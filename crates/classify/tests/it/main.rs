//! The text classifiers as moderation uses them: the English model agrees with scikit-learn,
//! ordinary words are never flagged, the policy decides what each category does, and any text
//! is classified without error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use veilgram_classify::english::EnglishModel;
use veilgram_classify::korean::{self, LinearModel, Training};
use veilgram_classify::normalise::Normalised;
use veilgram_classify::{Category, Decision, KeywordRules, Policy, TextClassifier};

fn classifier() -> TextClassifier {
    TextClassifier::bundled(Policy::default())
}

#[test]
fn the_english_model_gives_scikit_learns_probabilities() {
    let model = EnglishModel::bundled();
    let reference = include_str!("data/english-reference.tsv");
    let mut checked = 0;
    for line in reference.lines() {
        let (expected, text) = line.split_once('\t').unwrap();
        let expected: f64 = expected.parse().unwrap();
        let found = model.probability(text);
        assert!(
            (found - expected).abs() < 1e-5,
            "{text:?}: {found} in Rust, {expected} in scikit-learn"
        );
        checked += 1;
    }
    assert!(checked >= 15, "the reference holds the exported texts");
}

#[test]
fn ordinary_korean_and_english_is_allowed() {
    let classifier = classifier();
    for text in [
        "시발점",
        "시발점에서 다시 시작하자",
        "시바견",
        "우리 시바견 너무 귀엽죠",
        "Scunthorpe",
        "classic",
        "a classic cocktail in Scunthorpe",
        "오늘 서울에서 친구들과 맛있는 점심을 먹었어요",
        "주말에 한강 공원에서 산책했어요",
        "what a beautiful sunset over the river",
        "photography is my passion",
        "고양이가 너무 귀여워요 ㅋㅋㅋㅋ",
        "",
        "🙂🙂🙂",
    ] {
        let verdict = classifier.classify(text);
        assert_eq!(verdict.decision, Decision::Allow, "{text:?}: {verdict:?}");
        assert_eq!(verdict.category, None, "{text:?}");
    }
}

#[test]
fn each_category_does_what_the_policy_says() {
    let classifier = classifier();
    let slur = classifier.classify("you n1gg3r");
    assert_eq!(
        (slur.decision, slur.category, slur.rule),
        (
            Decision::Block,
            Some(Category::Slur),
            Some("en-slur-strong")
        )
    );
    let profanity = classifier.classify("시 1 발 진짜");
    assert_eq!(
        (profanity.decision, profanity.category),
        (Decision::Warn, Some(Category::Profanity))
    );
    assert_eq!(profanity.score, 1.0);
    let toxic = classifier.classify("you are a stupid idiot, shut up");
    assert_eq!(toxic.category, Some(Category::Toxicity), "{toxic:?}");
    assert_eq!(toxic.rule, Some(veilgram_classify::ENGLISH_MODEL));
    assert!(toxic.score >= 0.5);

    let strict = TextClassifier::bundled(
        Policy::parse("profanity=hide, toxicity=queue, threshold=0.9").unwrap(),
    );
    assert_eq!(strict.classify("시 1 발 진짜").decision, Decision::Hide);
    assert_eq!(
        strict.policy().slur,
        Decision::Block,
        "unnamed stays as by default"
    );
    let relaxed = TextClassifier::bundled(Policy::parse("slur=warn").unwrap());
    assert_eq!(relaxed.classify("you n1gg3r").decision, Decision::Warn);
    // The keyword rules alone, as a write runs them.
    assert_eq!(
        classifier.keywords("f.u.c.k").category,
        Some(Category::Profanity)
    );
    assert_eq!(
        classifier.keywords("you are a stupid idiot").decision,
        Decision::Allow
    );
}

#[test]
fn a_policy_that_does_not_parse_says_why() {
    for (setting, named) in [
        ("slur", "category=decision"),
        ("slur=ban", "\"ban\""),
        ("ads=block", "\"ads\""),
        ("threshold=2", "threshold"),
    ] {
        let error = Policy::parse(setting).unwrap_err();
        assert!(error.contains(named), "{setting}: {error}");
    }
}

#[test]
fn the_korean_model_scores_toxic_comments_above_ordinary_ones() {
    let classifier = classifier();
    for (toxic, ordinary) in [
        (
            "진짜 개같은 놈들 다 꺼져라 한심한 것들",
            "진짜 좋은 사람들 덕분에 행복한 하루였다",
        ),
        (
            "이런 쓰레기 같은 기사 쓰는 기자 수준 보소",
            "이런 좋은 기사 써주신 기자님 감사합니다",
        ),
    ] {
        let (Some(bad), _) = classifier.model_scores(toxic) else {
            panic!("the Korean model applies to Hangul");
        };
        let (Some(good), _) = classifier.model_scores(ordinary) else {
            panic!("the Korean model applies to Hangul");
        };
        assert!(
            bad > 0.5 && good < 0.5 && bad > good,
            "{toxic}: {bad}; {ordinary}: {good}"
        );
    }
    assert_eq!(
        classifier.model_scores("hello there").0,
        None,
        "no Hangul, no Korean model"
    );
}

#[test]
fn training_learns_what_separates_the_classes_and_writes_what_it_reads() {
    let rules = KeywordRules::bundled();
    let text = |raw: &str| korean::model_text(&Normalised::new(raw), |t| rules.mask_korean(t));
    let mut examples = Vec::new();
    for n in 0..40 {
        examples.push((text(&format!("나쁜말 {n} 바보멍청이")), true));
        examples.push((text(&format!("좋은말 {n} 고마워요")), false));
    }
    let model = korean::train(&examples, Training::default());
    let toxic = model.probability(korean::grams(&text("바보멍청이 같으니")));
    let clean = model.probability(korean::grams(&text("정말 고마워요")));
    assert!(toxic > 0.5 && clean < 0.5, "{toxic} {clean}");

    let mut written = Vec::new();
    model.write("a test model", &mut written).unwrap();
    let read = LinearModel::parse(std::str::from_utf8(&written).unwrap()).unwrap();
    let again = read.probability(korean::grams(&text("바보멍청이 같으니")));
    assert!((again - toxic).abs() < 1e-3, "{again} {toxic}");
    assert!(LinearModel::parse("w\tonly two").is_err());
    assert!(EnglishModel::parse("folds\t2\nintercepts\t1\n").is_err());
}

#[test]
fn any_text_is_classified_without_error() {
    let classifier = classifier();
    let long = "서울 fuck 🙂 ".repeat(2_000);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let lossy = String::from_utf8_lossy(&bytes).into_owned();
    for text in [
        long.as_str(),
        lossy.as_str(),
        "\u{0}\u{1}\u{200b}\u{feff}\u{202e}",
        "ㅋ".repeat(5_000).as_str(),
        "a",
        "ﷺ𒐫𒈙",
    ] {
        let verdict = classifier.classify(text);
        assert!((0.0..=1.0).contains(&verdict.score), "{verdict:?}");
    }
    assert_eq!(
        classifier.classify(&long).category,
        Some(Category::Profanity)
    );
}
