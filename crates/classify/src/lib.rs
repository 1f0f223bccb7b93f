//! Text classifiers for moderation: one normaliser ([`normalise`]), keyword rules by category
//! ([`keywords`], also the nickname filter), a Korean toxicity model ([`korean`]) and an English
//! profanity model ([`english`]), combined by [`TextClassifier`] into a [`Verdict`] under the
//! operator's [`Policy`] (what each category does: allow, queue for people, warn, hide pending
//! review, or block the write). Nothing here does I/O; the models are data compiled in, or
//! files an operator names.

pub mod english;
pub mod keywords;
pub mod korean;
pub mod normalise;
pub mod similarity;

pub use keywords::{KeywordMatch, KeywordRules, ProfanityFilter};
use normalise::Normalised;
use serde::Serialize;

/// Hashing for the word and n-gram tables: foldhash (a text is a few hundred lookups; SipHash
/// was most of a classification), randomly seeded per table.
pub(crate) type Fast = foldhash::fast::RandomState;

/// What a text was found to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A slur (keyword lists).
    Slur,
    /// Profanity (keyword lists).
    Profanity,
    /// Toxic or profane by a model's score.
    Toxicity,
    /// Near copies posted by many accounts or many times, or links from a new account.
    Spam,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Slur => "slur",
            Category::Profanity => "profanity",
            Category::Toxicity => "toxicity",
            Category::Spam => "spam",
        }
    }
}

/// What happens to a text, mildest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    /// Shown, and put in the moderators' queue.
    Queue,
    /// Shown behind a notice with the reason.
    Warn,
    /// Hidden pending review.
    Hide,
    /// Refused at the write.
    Block,
}

impl Decision {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "allow" => Decision::Allow,
            "queue" => Decision::Queue,
            "warn" => Decision::Warn,
            "hide" => Decision::Hide,
            "block" => Decision::Block,
            _ => return None,
        })
    }
}

/// What each category does, and the model score from which a text counts as toxic.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub slur: Decision,
    pub profanity: Decision,
    pub toxicity: Decision,
    pub spam: Decision,
    pub threshold: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            slur: Decision::Block,
            profanity: Decision::Warn,
            toxicity: Decision::Warn,
            spam: Decision::Hide,
            threshold: 0.5,
        }
    }
}

impl Policy {
    pub fn decision(&self, category: Category) -> Decision {
        match category {
            Category::Slur => self.slur,
            Category::Profanity => self.profanity,
            Category::Toxicity => self.toxicity,
            Category::Spam => self.spam,
        }
    }

    /// The policy a setting spells: `category=decision` pairs separated by commas (for
    /// example `slur=block,profanity=hide,toxicity=queue,spam=hide`), unnamed categories as by default,
    /// and `threshold=0.7` for the model score. The error names what is wrong.
    pub fn parse(setting: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for pair in setting.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not category=decision"))?;
            let decision = || {
                Decision::parse(value.trim())
                    .ok_or_else(|| format!("{value:?} is not allow, queue, warn, hide or block"))
            };
            match name.trim() {
                "slur" => policy.slur = decision()?,
                "profanity" => policy.profanity = decision()?,
                "toxicity" => policy.toxicity = decision()?,
                "spam" => policy.spam = decision()?,
                "threshold" => {
                    policy.threshold = value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|t| (0.0..=1.0).contains(t))
                        .ok_or_else(|| format!("threshold {value:?} is not between 0 and 1"))?;
                }
                other => {
                    return Err(format!(
                        "{other:?} is not slur, profanity, toxicity, spam or threshold"
                    ))
                }
            }
        }
        Ok(policy)
    }
}

/// A text's classification: the decision, the category and rule behind it, and the score
/// (1 for a keyword rule, the highest model probability otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    pub category: Option<Category>,
    pub score: f64,
    pub rule: Option<&'static str>,
}

pub const KOREAN_MODEL: &str = "ko-toxicity-model";
pub const ENGLISH_MODEL: &str = "en-profanity-model";

/// The keyword rules and both models, under a policy. The bundled models are parsed on first
/// use (a process that only runs the keyword rules never pays for them).
pub struct TextClassifier {
    keywords: KeywordRules,
    korean: std::sync::OnceLock<korean::LinearModel>,
    english: std::sync::OnceLock<english::EnglishModel>,
    policy: Policy,
}

impl std::fmt::Debug for TextClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextClassifier")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A cell holding `model`, or empty to be filled with the bundled model on first use.
fn given<T>(model: Option<T>) -> std::sync::OnceLock<T> {
    let cell = std::sync::OnceLock::new();
    if let Some(model) = model {
        let _ = cell.set(model);
    }
    cell
}

fn is_hangul(character: char) -> bool {
    ('\u{ac00}'..='\u{d7a3}').contains(&character) || normalise::is_lone_jamo(character)
}

impl TextClassifier {
    /// The shipped keyword lists and models under `policy`.
    pub fn bundled(policy: Policy) -> Self {
        Self::new(KeywordRules::bundled(), None, None, policy)
    }

    /// The keyword rules and these models (`None`: the bundled one) under `policy`.
    pub fn new(
        keywords: KeywordRules,
        korean: Option<korean::LinearModel>,
        english: Option<english::EnglishModel>,
        policy: Policy,
    ) -> Self {
        Self {
            keywords,
            korean: given(korean),
            english: given(english),
            policy,
        }
    }

    fn korean(&self) -> &korean::LinearModel {
        self.korean.get_or_init(korean::LinearModel::bundled)
    }

    fn english(&self) -> &english::EnglishModel {
        self.english.get_or_init(english::EnglishModel::bundled)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The keyword rules alone: cheap enough (microseconds) to run inside a write.
    pub fn keywords(&self, text: &str) -> Verdict {
        self.keyword_verdict(&Normalised::new(text))
    }

    /// What a write refuses at once: a text the keyword rules find in a category the policy
    /// blocks (the models run after the write, never inside it).
    pub fn refused(&self, text: &str) -> Option<Verdict> {
        Some(self.keywords(text)).filter(|verdict| verdict.decision == Decision::Block)
    }

    fn keyword_verdict(&self, text: &Normalised) -> Verdict {
        match self.keywords.find(text) {
            Some(found) => Verdict {
                decision: self.policy.decision(found.category),
                category: Some(found.category),
                score: 1.0,
                rule: Some(found.rule),
            },
            None => Verdict {
                decision: Decision::Allow,
                category: None,
                score: 0.0,
                rule: None,
            },
        }
    }

    /// Each model's probability that `text` is toxic: the Korean model if it holds Hangul (and
    /// more than innocent words), the English one if it holds Latin letters (`None` for a model
    /// that does not apply).
    pub fn model_scores(&self, text: &str) -> (Option<f64>, Option<f64>) {
        self.scores(&Normalised::new(text))
    }

    fn scores(&self, text: &Normalised) -> (Option<f64>, Option<f64>) {
        let korean = if text.base.chars().any(is_hangul) {
            let model_text = korean::model_text(text, |t| self.keywords.mask_korean(t));
            // Nothing left once innocent words are masked (`시발점`): nothing to score.
            let grams = korean::grams(&model_text);
            (!grams.is_empty()).then(|| self.korean().probability(grams))
        } else {
            None
        };
        let english = text
            .base
            .chars()
            .any(|c| c.is_ascii_alphabetic())
            .then(|| self.english().probability(&text.base));
        (korean, english)
    }

    /// The keyword rules, then the models: the most severe decision found.
    pub fn classify(&self, text: &str) -> Verdict {
        self.classify_normalised(&Normalised::new(text))
    }

    /// [`classify`](Self::classify) for a text already normalised (by a caller that reads
    /// other things from it too).
    pub fn classify_normalised(&self, normalised: &Normalised) -> Verdict {
        let keyword = self.keyword_verdict(normalised);
        let (korean, english) = self.scores(normalised);
        let (score, rule) = match (korean, english) {
            (Some(k), Some(e)) if e > k => (e, ENGLISH_MODEL),
            (Some(k), _) => (k, KOREAN_MODEL),
            (None, Some(e)) => (e, ENGLISH_MODEL),
            (None, None) => (0.0, KOREAN_MODEL),
        };
        let model = if score >= self.policy.threshold {
            Verdict {
                decision: self.policy.toxicity,
                category: Some(Category::Toxicity),
                score,
                rule: Some(rule),
            }
        } else {
            Verdict {
                decision: Decision::Allow,
                category: None,
                score,
                rule: None,
            }
        };
        if keyword.category.is_some() && keyword.decision >= model.decision {
            keyword
        } else {
            model
        }
    }
}

/// Precision, recall and F1 of a binary classifier, for the toxic class and the clean one.
#[derive(Clone, Copy, Debug)]
pub struct Scores {
    pub toxic: (f64, f64, f64),
    pub clean: (f64, f64, f64),
}

impl Scores {
    /// The scores of `(probability, toxic)` pairs with `threshold` deciding.
    pub fn at(results: &[(f64, bool)], threshold: f64) -> Self {
        let count = |predicted: bool, actual: bool| {
            results
                .iter()
                .filter(|(p, a)| (*p >= threshold) == predicted && *a == actual)
                .count() as f64
        };
        let f = |tp: f64, fp: f64, fn_: f64| {
            let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
            let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            (precision, recall, f1)
        };
        let (tp, fp, fn_, tn) = (
            count(true, true),
            count(true, false),
            count(false, true),
            count(false, false),
        );
        Self {
            toxic: f(tp, fp, fn_),
            clean: f(tn, fn_, fp),
        }
    }

    pub fn macro_f1(&self) -> f64 {
        (self.toxic.2 + self.clean.2) / 2.0
    }
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p, r, f1) = self.toxic;
        let (cp, cr, cf1) = self.clean;
        write!(
            f,
            "toxic: precision {p:.3} recall {r:.3} F1 {f1:.3}; clean: precision {cp:.3} recall {cr:.3} F1 {cf1:.3}; macro-F1 {:.3}",
            self.macro_f1()
        )
    }
}
