//! The Korean toxicity model: logistic regression over the character n-grams (one to
//! [`MAX_GRAM`] characters) of the normalised text, trained by `train-korean` on the BEEP!
//! corpus (`../shared/datasets/beep-ko/train.tsv`, CC BY-SA 4.0; the weights in
//! `data/korean-toxicity.tsv` carry that licence and its credit). A text's features are the set
//! of its n-grams, l2-normalised; its score is the logistic of their weights' sum and a bias.
//! The n-grams are taken from the text and from the same text as jamo.
//!
//! The text the n-grams are taken from is the base view of [`Normalised`] with runs of one
//! character cut to two (`ㅋㅋㅋㅋ`), innocent words that hold a keyword masked (`시발점`), and a
//! space at each end (so word starts and ends are grams of their own).

use crate::normalise::{self, collapse_repeats, Normalised};
use crate::Fast;
use std::collections::{HashMap, HashSet};
use unicode_normalization::UnicodeNormalization;

const BUNDLED: &str = include_str!("../data/korean-toxicity.tsv");

/// The longest n-gram, in characters.
pub const MAX_GRAM: usize = 4;

/// What the n-grams of a text are taken from.
pub fn model_text(text: &Normalised, mask: impl Fn(&str) -> String) -> String {
    let masked = mask(&collapse_repeats(&text.base, 2));
    let words: Vec<&str> = masked.split_whitespace().collect();
    let words = words.join(" ");
    // The Hangul words again as jamo (`씨발` → `씨발`), so spellings that differ in one
    // jamo share grams.
    let jamo: String = words
        .nfd()
        .filter(|c| normalise::is_lone_jamo(*c) || *c == ' ')
        .collect();
    let jamo: Vec<&str> = jamo.split_whitespace().collect();
    format!(" {words} {} ", jamo.join(" "))
}

/// The distinct n-grams of `text`, as slices of it.
pub fn grams(text: &str) -> HashSet<&str, Fast> {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(index, _)| index)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut grams = HashSet::with_capacity_and_hasher(boundaries.len() * MAX_GRAM, Fast::default());
    for start in 0..boundaries.len().saturating_sub(1) {
        for length in 1..=MAX_GRAM {
            let Some(&end) = boundaries.get(start + length) else {
                break;
            };
            let gram = &text[boundaries[start]..end];
            if !gram.trim().is_empty() {
                grams.insert(gram);
            }
        }
    }
    // Whole words longer than the grams, with their spaces (so no gram is one of them).
    let mut from = 0;
    for (index, _) in text.match_indices(' ').skip(1) {
        let word = &text[from..=index];
        if word.chars().count() > MAX_GRAM {
            grams.insert(word);
        }
        from = index;
    }
    grams
}

/// Weights of n-grams and a bias.
#[derive(Debug, Default)]
pub struct LinearModel {
    pub bias: f64,
    pub weights: HashMap<String, f64, Fast>,
}

#[derive(Debug, thiserror::Error)]
#[error("line {line} of the Korean model: {reason}")]
pub struct ModelError {
    pub line: usize,
    pub reason: String,
}

impl LinearModel {
    /// The model shipped in `data/`.
    pub fn bundled() -> Self {
        // Shipped data, parsed by the tests.
        #[allow(clippy::expect_used)]
        Self::parse(BUNDLED).expect("the bundled Korean model parses")
    }

    /// A model in the format [`write`](Self::write) writes (an operator's replacement).
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let mut model = Self::default();
        for (index, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: String| ModelError {
                line: index + 1,
                reason,
            };
            let fields: Vec<&str> = line.split('\t').collect();
            let number = |field: &str| {
                field
                    .parse::<f64>()
                    .map_err(|e| error(format!("{field:?}: {e}")))
            };
            match fields.as_slice() {
                ["bias", value] => model.bias = number(value)?,
                ["w", gram, value] => {
                    model.weights.insert((*gram).to_owned(), number(value)?);
                }
                _ => return Err(error(format!("not a record: {line:?}"))),
            }
        }
        Ok(model)
    }

    pub fn write(&self, header: &str, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for line in header.lines() {
            writeln!(out, "# {line}")?;
        }
        writeln!(out, "bias\t{:.6}", self.bias)?;
        let mut weights: Vec<(&String, &f64)> = self.weights.iter().collect();
        weights.sort_by(|a, b| a.0.cmp(b.0));
        for (gram, weight) in weights {
            writeln!(out, "w\t{gram}\t{weight:.5}")?;
        }
        Ok(())
    }

    /// The probability that the text these grams come from is toxic.
    pub fn probability<'a>(&self, grams: impl IntoIterator<Item = &'a str>) -> f64 {
        let mut count = 0usize;
        let mut sum = 0.0;
        for gram in grams {
            count += 1;
            sum += self.weights.get(gram).copied().unwrap_or(0.0);
        }
        let z = self.bias
            + if count > 0 {
                sum / (count as f64).sqrt()
            } else {
                0.0
            };
        1.0 / (1.0 + (-z).exp())
    }
}

/// How [`train`] fits.
#[derive(Clone, Copy, Debug)]
pub struct Training {
    pub epochs: usize,
    /// L2 penalty per example.
    pub l2: f64,
    pub learning_rate: f64,
    /// N-grams in fewer training texts than this are left out.
    pub min_count: usize,
}

impl Default for Training {
    fn default() -> Self {
        Self {
            epochs: 5,
            l2: 1e-4,
            learning_rate: 0.1,
            min_count: 2,
        }
    }
}

/// Fits a model to `(model text, toxic)` examples: AdaGrad on the logistic loss, classes
/// weighted to balance, examples in a fixed shuffled order (the same data gives the same
/// weights).
pub fn train(examples: &[(String, bool)], training: Training) -> LinearModel {
    let features: Vec<Vec<&str>> = examples
        .iter()
        .map(|(text, _)| grams(text).into_iter().collect())
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for grams in &features {
        for gram in grams {
            *counts.entry(gram).or_default() += 1;
        }
    }
    let vocabulary: HashMap<&str, usize> = counts
        .into_iter()
        .filter(|(_, count)| *count >= training.min_count)
        .map(|(gram, _)| gram)
        .enumerate()
        .map(|(index, gram)| (gram, index))
        .collect();
    let rows: Vec<(Vec<usize>, f64)> = features
        .iter()
        .map(|grams| {
            let known: Vec<usize> = grams
                .iter()
                .filter_map(|gram| vocabulary.get(gram).copied())
                .collect();
            // The same norm as at prediction, where unknown n-grams count but weigh nothing.
            (known, 1.0 / (grams.len().max(1) as f64).sqrt())
        })
        .collect();
    let toxic = examples.iter().filter(|(_, toxic)| *toxic).count().max(1) as f64;
    let clean = (examples.len() as f64 - toxic).max(1.0);
    let class_weight = |toxic_example: bool| {
        let total = examples.len() as f64;
        if toxic_example {
            total / (2.0 * toxic)
        } else {
            total / (2.0 * clean)
        }
    };
    let mut weights = vec![0.0f64; vocabulary.len()];
    let mut squares = vec![1e-8f64; vocabulary.len()];
    let (mut bias, mut bias_square) = (0.0f64, 1e-8f64);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    // The weights are averaged over the epochs' ends (less noise than the last epoch alone).
    let mut averaged = vec![0.0f64; vocabulary.len()];
    let mut averaged_bias = 0.0;
    for _ in 0..training.epochs {
        for index in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(index, (state % (index as u64 + 1)) as usize);
        }
        for &row in &order {
            let (columns, scale) = &rows[row];
            let label = examples[row].1;
            let z = bias + columns.iter().map(|&c| weights[c]).sum::<f64>() * scale;
            let predicted = 1.0 / (1.0 + (-z).exp());
            let error = (predicted - f64::from(u8::from(label))) * class_weight(label);
            for &column in columns {
                let gradient = error * scale + training.l2 * weights[column];
                squares[column] += gradient * gradient;
                weights[column] -= training.learning_rate * gradient / squares[column].sqrt();
            }
            bias_square += error * error;
            bias -= training.learning_rate * error / bias_square.sqrt();
        }
        for (sum, weight) in averaged.iter_mut().zip(&weights) {
            *sum += weight / training.epochs as f64;
        }
        averaged_bias += bias / training.epochs as f64;
    }
    LinearModel {
        bias: averaged_bias,
        weights: vocabulary
            .into_iter()
            .filter(|(_, index)| averaged[*index].abs() >= 1e-3)
            .map(|(gram, index)| (gram.to_owned(), averaged[index]))
            .collect(),
    }
}

/// A labelled comment of the BEEP! corpus: its text and whether it is toxic (`hate` or
/// `offensive`), from a line of `train.tsv` (`None` for the header or a malformed line).
pub fn beep_line(line: &str) -> Option<(&str, bool)> {
    let fields: Vec<&str> = line.split('\t').collect();
    match fields.as_slice() {
        [text, "True" | "False", _, label @ ("hate" | "offensive" | "none")] => {
            Some((text, *label != "none"))
        }
        _ => None,
    }
}

/// Whether a labelled comment is held out of training to measure the model (one in five, by
/// a hash of its text, so the split does not depend on the file's order).
pub fn held_out(text: &str) -> bool {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in text.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    hash.is_multiple_of(5)
}
