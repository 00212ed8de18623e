//! A list of same-rank trainable tensors with its AdamW state — what every kiln network does
//! with its parameters: collect their gradients, step, and move them to and from the host
//! (checkpoints, shipped weights).

use crate::adamw::AdamW;
use crate::NnError;
use burn::tensor::{Device, Gradients, Tensor, TensorData};

pub struct Params<const D: usize> {
    pub tensors: Vec<Tensor<D>>,
    optimizer: AdamW<D>,
}

impl<const D: usize> Params<D> {
    /// Tensors that already require gradients.
    pub fn new(tensors: Vec<Tensor<D>>) -> Self {
        Params { tensors, optimizer: AdamW::new() }
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Scalar parameters in all tensors.
    pub fn count(&self) -> usize {
        self.tensors.iter().map(|t| t.dims().iter().product::<usize>()).sum()
    }

    /// Every tensor's gradient, clipped to ±`clip` elementwise when given.
    pub fn grads(&self, grads: &Gradients, clip: Option<f64>) -> Result<Vec<Tensor<D>>, NnError> {
        self.tensors
            .iter()
            .map(|p| {
                let g = p.grad(grads).ok_or_else(|| NnError::Shape("a network parameter got no gradient".into()))?;
                Ok(match clip {
                    Some(c) => g.clamp(-c, c),
                    None => g,
                })
            })
            .collect()
    }

    /// One AdamW step at `lr` with these gradients (same order as the tensors).
    pub fn step(&mut self, lr: f64, grads: Vec<Tensor<D>>) {
        self.tensors = self.optimizer.step(lr, std::mem::take(&mut self.tensors), grads);
    }

    /// Forgets the optimizer's moments (after parameters were replaced from elsewhere).
    pub fn reset_optimizer(&mut self) {
        self.optimizer = AdamW::new();
    }

    pub fn to_host(&self) -> Result<Vec<Vec<f32>>, NnError> {
        self.tensors
            .iter()
            .map(|t| {
                let data = t.try_to_data().map_err(|e| NnError::Read(format!("{e:?}")))?;
                data.try_to_vec::<f32>().map_err(|e| NnError::Read(format!("{e:?}")))
            })
            .collect()
    }

    /// Replaces every tensor by host values of the same size (shapes kept); the optimizer's
    /// moments are kept.
    pub fn set_from_host(&mut self, values: &[Vec<f32>], device: &Device) -> Result<(), NnError> {
        if values.len() != self.tensors.len() {
            return Err(NnError::Shape(format!("{} parameter tensors for {}", values.len(), self.tensors.len())));
        }
        for (i, (t, v)) in self.tensors.iter_mut().zip(values).enumerate() {
            let dims = t.dims();
            if v.len() != dims.iter().product::<usize>() {
                return Err(NnError::Shape(format!("parameter {i}: {} values for {dims:?}", v.len())));
            }
            *t = Tensor::from_data(TensorData::new(v.clone(), dims), device).require_grad();
        }
        Ok(())
    }
}
