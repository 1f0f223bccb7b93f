//! The English profanity model: alt-profanity-check's (PyPI, MIT), exported by
//! `scripts/export-english-classifier` to `data/english-profanity.tsv` and evaluated here as
//! scikit-learn does: TF-IDF over words (runs of two or more letters, digits or `_`, in lower
//! case; raw counts times idf, l2-normalised), then five linear SVMs, each calibrated by a
//! sigmoid, averaged into a probability.

use crate::Fast;
use std::collections::HashMap;

const BUNDLED: &str = include_str!("../data/english-profanity.tsv");

/// A word's idf and its weight in each fold.
struct Word {
    idf: f64,
    weights: Vec<f64>,
}

pub struct EnglishModel {
    words: HashMap<String, Word, Fast>,
    intercepts: Vec<f64>,
    /// Each fold's sigmoid `(a, b)`: probability `1 / (1 + exp(a·d + b))` of its decision `d`.
    calibration: Vec<(f64, f64)>,
}

#[derive(Debug, thiserror::Error)]
#[error("line {line} of the English model: {reason}")]
pub struct ModelError {
    pub line: usize,
    pub reason: String,
}

fn numbers<'a>(fields: impl Iterator<Item = &'a str>, line: usize) -> Result<Vec<f64>, ModelError> {
    fields
        .map(|field| {
            field.parse::<f64>().map_err(|error| ModelError {
                line,
                reason: format!("{field:?}: {error}"),
            })
        })
        .collect()
}

impl EnglishModel {
    /// The model shipped in `data/`.
    pub fn bundled() -> Self {
        // Shipped data, parsed by the tests.
        #[allow(clippy::expect_used)]
        Self::parse(BUNDLED).expect("the bundled English model parses")
    }

    /// A model in the export's format (an operator's replacement).
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let mut model = Self {
            words: HashMap::default(),
            intercepts: Vec::new(),
            calibration: Vec::new(),
        };
        let mut folds = 0;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split('\t');
            match fields.next() {
                Some("folds") => {
                    folds = numbers(fields, number)?.first().copied().unwrap_or(0.0) as usize;
                }
                Some("intercepts") => model.intercepts = numbers(fields, number)?,
                Some("calibration") => {
                    let values = numbers(fields, number)?;
                    model.calibration = values.chunks(2).map(|ab| (ab[0], ab[1])).collect();
                }
                Some("w") => {
                    let word = fields.next().unwrap_or_default().to_owned();
                    let values = numbers(fields, number)?;
                    if values.len() != folds + 1 {
                        return Err(ModelError {
                            line: number,
                            reason: format!("{} numbers, not {}", values.len(), folds + 1),
                        });
                    }
                    model.words.insert(
                        word,
                        Word {
                            idf: values[0],
                            weights: values[1..].to_vec(),
                        },
                    );
                }
                other => {
                    return Err(ModelError {
                        line: number,
                        reason: format!("unknown record {other:?}"),
                    })
                }
            }
        }
        if folds == 0 || model.intercepts.len() != folds || model.calibration.len() != folds {
            return Err(ModelError {
                line: 0,
                reason: format!(
                    "{folds} folds, but {} intercepts and {} calibrations",
                    model.intercepts.len(),
                    model.calibration.len()
                ),
            });
        }
        Ok(model)
    }

    /// The probability that `text` is profane (the text as given: lower-cased here, as
    /// scikit-learn does, and nothing else).
    pub fn probability(&self, text: &str) -> f64 {
        let lower = text.to_lowercase();
        // Each known word, once, with its count.
        let mut counts: HashMap<&str, (&Word, f64), Fast> = HashMap::default();
        for token in lower
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|token| token.chars().nth(1).is_some())
        {
            if let Some((text, word)) = self.words.get_key_value(token) {
                counts.entry(text.as_str()).or_insert((word, 0.0)).1 += 1.0;
            }
        }
        let features: Vec<(&Word, f64)> = counts
            .into_values()
            .map(|(word, count)| (word, count * word.idf))
            .collect();
        let norm: f64 = features.iter().map(|(_, value)| value * value).sum();
        let norm = if norm > 0.0 { norm.sqrt() } else { 1.0 };
        let folds = self.intercepts.len();
        let mut total = 0.0;
        for fold in 0..folds {
            let decision: f64 = self.intercepts[fold]
                + features
                    .iter()
                    .map(|(word, value)| word.weights[fold] * value / norm)
                    .sum::<f64>();
            let (a, b) = self.calibration[fold];
            total += 1.0 / (1.0 + (a * decision + b).exp());
        }
        total / folds as f64
    }
}
