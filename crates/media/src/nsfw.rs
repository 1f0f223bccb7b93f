//! The NSFW image classifier: nsfwjs's MobileNetV2 (npm `nsfwjs` 4.3.0, MIT, © 2019 Infinite Red;
//! `data/LICENSE-nsfwjs`), converted to ONNX once by `scripts/convert-nsfw-model`, run on
//! tract (pure Rust; nothing is downloaded at build or run time). An image is resized to
//! 224×224 (bilinear), its RGB values scaled to [0, 1], and scored in five classes; the model
//! is a file an operator may replace by configuration (the same input and output).

use image::imageops::FilterType;
use image::DynamicImage;
use tract_onnx::prelude::*;

const BUNDLED: &[u8] = include_bytes!("../data/nsfw-mobilenet-v2.onnx");
/// The side of the square the model reads.
pub const SIDE: usize = 224;

/// The model's five classes, in its output order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NsfwScores {
    pub drawing: f32,
    pub hentai: f32,
    pub neutral: f32,
    pub porn: f32,
    pub sexy: f32,
}

impl NsfwScores {
    /// How likely the image is sexual (porn, hentai or sexy): what a policy decides on.
    pub fn explicit(&self) -> f32 {
        self.porn + self.hentai + self.sexy
    }
}

type Plan = SimplePlan<TypedFact, Box<dyn TypedOp>, Graph<TypedFact, Box<dyn TypedOp>>>;

pub struct NsfwClassifier {
    plan: Plan,
}

impl NsfwClassifier {
    /// The bundled model.
    pub fn bundled() -> anyhow::Result<Self> {
        Self::from_bytes(BUNDLED)
    }

    /// An ONNX model taking `[1, 224, 224, 3]` floats and giving `[1, 5]` probabilities.
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(bytes))?
            .with_input_fact(0, f32::fact([1, SIDE, SIDE, 3]).into())?
            .into_optimized()?
            .into_runnable()?;
        Ok(Self { plan })
    }

    /// The scores of an input tensor: `SIDE × SIDE × 3` values in [0, 1], row by row (NHWC).
    pub fn classify_tensor(&self, input: Vec<f32>) -> anyhow::Result<NsfwScores> {
        let tensor: Tensor =
            tract_ndarray::Array4::from_shape_vec((1, SIDE, SIDE, 3), input)?.into();
        let outputs = self.plan.run(tvec!(tensor.into()))?;
        let view = outputs[0].to_array_view::<f32>()?;
        let p: Vec<f32> = view.iter().copied().collect();
        anyhow::ensure!(p.len() == 5, "the model gave {} outputs, not 5", p.len());
        Ok(NsfwScores {
            drawing: p[0],
            hentai: p[1],
            neutral: p[2],
            porn: p[3],
            sexy: p[4],
        })
    }

    /// The scores of an image (any size: it is resized first).
    pub fn classify(&self, image: &DynamicImage) -> anyhow::Result<NsfwScores> {
        let side = SIDE as u32;
        let resized = image
            .resize_exact(side, side, FilterType::Triangle)
            .to_rgb8();
        let input = resized
            .as_raw()
            .iter()
            .map(|value| f32::from(*value) / 255.0)
            .collect();
        self.classify_tensor(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deterministic input tensors `scripts/nsfw/convert.py` scored with onnxruntime.
    fn reference_tensor(multiplier: i64, offset: i64) -> Vec<f32> {
        (0..(SIDE * SIDE * 3) as i64)
            .map(|index| (((index * multiplier + offset) % 1000) as f64 / 999.0) as f32)
            .collect()
    }

    #[test]
    fn tract_gives_onnxruntimes_scores() {
        let classifier = NsfwClassifier::bundled().unwrap();
        let reference = include_str!("../data/nsfw-reference.tsv");
        let mut checked = 0;
        for line in reference.lines().filter(|line| !line.starts_with('#')) {
            let fields: Vec<f64> = line.split('\t').map(|f| f.parse().unwrap()).collect();
            let scores = classifier
                .classify_tensor(reference_tensor(fields[0] as i64, fields[1] as i64))
                .unwrap();
            let found = [
                scores.drawing,
                scores.hentai,
                scores.neutral,
                scores.porn,
                scores.sexy,
            ];
            for (class, (found, expected)) in found.iter().zip(&fields[2..]).enumerate() {
                assert!(
                    (f64::from(*found) - expected).abs() < 1e-4,
                    "tensor {checked}, class {class}: {found} in tract, {expected} in onnxruntime"
                );
            }
            checked += 1;
        }
        assert_eq!(checked, 5);
    }

    #[test]
    fn an_ordinary_picture_is_not_explicit_and_any_size_is_read() {
        let classifier = NsfwClassifier::bundled().unwrap();
        // A sky over a field, 4 MP.
        let picture = image::RgbImage::from_fn(2448, 1632, |x, y| {
            if y < 900 {
                image::Rgb([110 + (y / 10) as u8, 160 + (y / 12) as u8, 230])
            } else {
                image::Rgb([40 + (x % 50) as u8, 120 + (y % 40) as u8, 50])
            }
        });
        let scores = classifier
            .classify(&DynamicImage::ImageRgb8(picture))
            .unwrap();
        assert!(scores.explicit() < 0.5, "{scores:?}");
        let sum = scores.drawing + scores.hentai + scores.neutral + scores.porn + scores.sexy;
        assert!((sum - 1.0).abs() < 1e-3, "probabilities: {sum}");
    }
}
