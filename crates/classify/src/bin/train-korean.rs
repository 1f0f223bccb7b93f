//! Trains the Korean toxicity model on the BEEP! corpus and writes its weights:
//!
//! ```text
//! cargo run --release -p veilgram-classify --bin train-korean -- \
//!     ../shared/datasets/beep-ko/train.tsv crates/classify/data/korean-toxicity.tsv
//! ```
//!
//! One comment in five (by a hash of its text: `korean::held_out`) is held out and never
//! trained on; the model's precision, recall and F1 on it are printed. The weights are derived
//! from a CC BY-SA 4.0 corpus and carry that licence (written into the file's header).

use std::io::Write;
use veilgram_classify::korean::{self, Training};
use veilgram_classify::normalise::Normalised;
use veilgram_classify::KeywordRules;

const HEADER: &str = "\
Korean toxicity model of VeilGram: logistic regression over character 1- to 4-grams of the
normalised text and of its jamo (crates/classify/src/korean.rs), trained by src/bin/train-korean.rs.
Derived from the BEEP! Korean Corpus of Online News Comments for Toxic Speech Detection
(Moon, Cho and Lee, SocialNLP 2020; kocohub/korean-hate-speech, labeled/train.tsv),
toxic = hate or offensive. Licence: Creative Commons Attribution-ShareAlike 4.0
(https://creativecommons.org/licenses/by-sa/4.0/); these weights carry the same licence.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let (Some(input), Some(output)) = (arguments.next(), arguments.next()) else {
        return Err("usage: train-korean <beep train.tsv> <weights.tsv> [epochs l2 rate]".into());
    };
    let mut training = Training::default();
    if let (Some(epochs), Some(l2), Some(rate)) =
        (arguments.next(), arguments.next(), arguments.next())
    {
        training.epochs = epochs.parse()?;
        training.l2 = l2.parse()?;
        training.learning_rate = rate.parse()?;
    }
    let rules = KeywordRules::bundled();
    let corpus = std::fs::read_to_string(&input)?;
    let mut train = Vec::new();
    let mut held = Vec::new();
    for (text, toxic) in corpus.lines().filter_map(korean::beep_line) {
        let model_text = korean::model_text(&Normalised::new(text), |t| rules.mask_korean(t));
        if korean::held_out(text) {
            held.push((model_text, toxic));
        } else {
            train.push((model_text, toxic));
        }
    }
    let model = korean::train(&train, training);
    let scores: Vec<(f64, bool)> = held
        .iter()
        .map(|(text, toxic)| (model.probability(korean::grams(text)), *toxic))
        .collect();
    let report = veilgram_classify::Scores::at(&scores, 0.5);
    println!(
        "{training:?}\ntrained on {}, held out {}; {} n-grams\n{report}",
        train.len(),
        held.len(),
        model.weights.len()
    );
    let mut file = std::io::BufWriter::new(std::fs::File::create(&output)?);
    model.write(HEADER, &mut file)?;
    file.flush()?;
    Ok(())
}
