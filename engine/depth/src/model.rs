//! Monocular depth from an ONNX network, run on the CPU with tract (pure Rust; no runtime to
//! install). The bundled test model is FastDepth (`data/models/fastdepth/fastdepth_op13.onnx`,
//! NYU indoor, 224×224, metres); any network of the same form works: one input `[1, 3, H, W]`
//! of RGB in [0, 1] (optionally with a per-channel mean/std), one output of `H'·W'` values
//! (`[1, 1, H', W']`, `[1, H', W']` or `[H', W']`), depth or disparity.
//!
//! tract stays inside this module (DESIGN.md: ONNX inference only where depth is estimated).

use crate::map::resize_triangle;
use crate::{DepthError, DepthMap, MapKind};
use kiln_scene::dataset::Image;
use std::path::{Path, PathBuf};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// How to feed a model and read its output.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelOptions {
    /// What the network outputs (FastDepth: depth; Depth Anything / MiDaS: disparity).
    pub output: MapKind,
    /// Input size (width, height) for networks whose ONNX input has symbolic spatial sizes;
    /// ignored (must agree) when the file fixes them.
    pub input_size: Option<(u32, u32)>,
    /// Per-channel normalisation `(x − mean) / std` after scaling RGB to [0, 1]. FastDepth
    /// takes plain [0, 1] (mean 0, std 1); ImageNet-normalised models want
    /// mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { output: MapKind::Depth, input_size: None, mean: [0.0; 3], std: [1.0; 3] }
    }
}

/// A loaded, optimised depth network.
pub struct DepthModel {
    pub path: PathBuf,
    /// Network input size.
    pub input_width: u32,
    pub input_height: u32,
    options: ModelOptions,
    plan: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for DepthModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DepthModel({}, {}×{}, {:?})", self.path.display(), self.input_width, self.input_height, self.options.output)
    }
}

impl DepthModel {
    /// Loads the ONNX file and checks that its input is `[1, 3, H, W]`. FastDepth defaults
    /// ([`ModelOptions::default`]).
    pub fn load(path: impl AsRef<Path>) -> Result<DepthModel, DepthError> {
        Self::load_with(path, ModelOptions::default())
    }

    pub fn load_with(path: impl AsRef<Path>, options: ModelOptions) -> Result<DepthModel, DepthError> {
        let path = path.as_ref().to_path_buf();
        let err = |message: String| DepthError::Model { path: path.clone(), message };
        if !path.is_file() {
            return Err(err("no such file".into()));
        }
        if options.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) || options.mean.iter().any(|m| !m.is_finite()) {
            return Err(err(format!("normalisation mean {:?} / std {:?} must be finite with std > 0", options.mean, options.std)));
        }
        let model = tract_onnx::onnx()
            .model_for_path(&path)
            .map_err(|e| err(format!("not a loadable ONNX model: {e}")))?;
        if model.inputs.len() != 1 {
            return Err(err(format!("has {} inputs, a depth model takes one image input", model.inputs.len())));
        }
        if model.outputs.len() != 1 {
            return Err(err(format!("has {} outputs, a depth model gives one map", model.outputs.len())));
        }
        let fact = model.input_fact(0).map_err(|e| err(e.to_string()))?;
        let declared: Vec<Option<i64>> =
            fact.shape.dims().map(|d| d.concretize().and_then(|t| t.to_i64().ok())).collect();
        let shape_text = || {
            let dims: Vec<String> = declared.iter().map(|d| d.map_or("?".into(), |v| v.to_string())).collect();
            format!("[{}]", dims.join(", "))
        };
        let ok_prefix = declared.len() == 4
            && matches!(declared[0], Some(1) | None)
            && matches!(declared[1], Some(3) | None);
        if !ok_prefix {
            return Err(err(format!(
                "input shape {} is not [1, 3, H, W] (one RGB image, NCHW) — wrong input shape for a depth model",
                shape_text()
            )));
        }
        let (w, h) = match (declared[3], declared[2], options.input_size) {
            (Some(w), Some(h), given) => {
                if w <= 0 || h <= 0 {
                    return Err(err(format!("input shape {} has a non-positive size", shape_text())));
                }
                if let Some((gw, gh)) = given {
                    if (gw as i64, gh as i64) != (w, h) {
                        return Err(err(format!("input is fixed at {w}×{h}, but {gw}×{gh} was asked for")));
                    }
                }
                (w as u32, h as u32)
            }
            (_, _, Some((gw, gh))) if gw > 0 && gh > 0 => (gw, gh),
            _ => {
                return Err(err(format!(
                    "input shape {} has a symbolic height/width; give the input size (ModelOptions::input_size)",
                    shape_text()
                )))
            }
        };
        let plan = model
            .with_input_fact(0, f32::fact([1usize, 3, h as usize, w as usize]).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| err(format!("cannot be prepared for a [1, 3, {h}, {w}] input: {e}")))?;
        Ok(DepthModel { path, input_width: w, input_height: h, options, plan })
    }

    /// What the network outputs.
    pub fn output_kind(&self) -> MapKind {
        self.options.output
    }

    /// Runs the network on `image`: resize to the input size (triangle filter, antialiased like
    /// PIL's bilinear), normalise, infer, and resize the output bilinearly back to the image size.
    pub fn estimate(&self, image: &Image) -> Result<DepthMap, DepthError> {
        let err = |message: String| DepthError::Model { path: self.path.clone(), message };
        if image.width == 0 || image.height == 0 || image.rgb.len() != 3 * image.width as usize * image.height as usize {
            return Err(DepthError::Input(format!(
                "image of {}×{} with {} RGB values cannot be fed to a depth model",
                image.width,
                image.height,
                image.rgb.len()
            )));
        }
        let (w, h) = (self.input_width as usize, self.input_height as usize);
        let resized = resize_triangle(&image.rgb, 3, image.width, image.height, self.input_width, self.input_height);
        // Interleaved HWC → planar CHW, normalised.
        let mut chw = vec![0.0f32; 3 * w * h];
        for (i, px) in resized.chunks_exact(3).enumerate() {
            for c in 0..3 {
                chw[c * w * h + i] = (px[c] - self.options.mean[c]) / self.options.std[c];
            }
        }
        let input = Tensor::from_shape(&[1, 3, h, w], &chw).map_err(|e| err(e.to_string()))?;
        let outputs = self.plan.run(tvec!(input.into())).map_err(|e| err(format!("inference failed: {e}")))?;
        let out = &outputs[0];
        let shape = out.shape().to_vec();
        let (oh, ow) = match shape.as_slice() {
            [1, 1, oh, ow] | [1, oh, ow] | [oh, ow] => (*oh, *ow),
            other => return Err(err(format!("output shape {other:?} is not one map ([1, 1, H, W], [1, H, W] or [H, W])"))),
        };
        let values: Vec<f32> = out
            .to_plain_array_view::<f32>()
            .map_err(|e| err(format!("output is not f32: {e}")))?
            .iter()
            .copied()
            .collect();
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(err(format!("output holds a non-finite value ({bad})")));
        }
        let map = DepthMap::new(ow as u32, oh as u32, values, self.options.output);
        Ok(map.resize_bilinear(image.width, image.height))
    }
}

/// [`DepthModel::estimate`] as a free function.
pub fn estimate_depth(model: &DepthModel, image: &Image) -> Result<DepthMap, DepthError> {
    model.estimate(image)
}
