//! The forward pass on ndarray: convolutions as im2col + matrix product (matrixmultiply),
//! dense layers as batched matrix products.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use paddock_vehicle::action::Action;
use rand::Rng;

use crate::distribution::ActionSample;
use crate::model::{self, ModelMetadata, Tensors};
use crate::network::{Layer, BATCH_NORM_EPS};
use crate::PolicyError;

/// A batch of raw observations, one after the other: u8 pixels or f32 values.
pub use paddock_vehicle::sensor::Observations;

enum Op {
    Conv {
        weight: Array2<f32>,
        bias: Array1<f32>,
        kernel: usize,
        stride: usize,
    },
    /// Per channel: `x * scale + shift` (batch norm folded with its running statistics).
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    Relu,
    Tanh,
    Flatten,
    Dense {
        weight_t: Array2<f32>,
        bias: Array1<f32>,
    },
}

/// A loaded model, ready to act.
pub struct Policy {
    meta: ModelMetadata,
    ops: Vec<Op>,
    pi_weight_t: Array2<f32>,
    pi_bias: Array1<f32>,
    log_std: Vec<f32>,
    value: Option<(Array2<f32>, f32)>,
    input_len: usize,
}

impl Policy {
    /// Loads and checks a model file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let (meta, tensors) = model::load(path)?;
        Policy::new(meta, &tensors)
    }

    /// Builds from checked bytes (a model sent to a worker).
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Policy, PolicyError> {
        let (meta, tensors) = model::from_bytes(bytes, origin)?;
        Policy::new(meta, &tensors)
    }

    pub fn new(meta: ModelMetadata, tensors: &Tensors) -> Result<Policy, PolicyError> {
        meta.validate()?;
        let get = |name: &str| tensors.get(name).ok_or_else(|| PolicyError::Weights(format!("missing tensor '{name}'")));
        let matrix = |name: &str| -> Result<Array2<f32>, PolicyError> {
            let (shape, v) = get(name)?;
            let cols = shape[1..].iter().product();
            Array2::from_shape_vec((shape[0], cols), v.clone()).map_err(|e| PolicyError::Weights(format!("{name}: {e}")))
        };
        let vector = |name: &str| get(name).map(|(_, v)| Array1::from(v.clone()));
        let mut ops = Vec::new();
        for (i, layer) in meta.network.layers().into_iter().enumerate() {
            let n = |p: &str| format!("torso.{i}.{p}");
            ops.push(match layer {
                Layer::Conv { kernel, stride, .. } => Op::Conv { weight: matrix(&n("weight"))?, bias: vector(&n("bias"))?, kernel, stride },
                Layer::Dense { .. } => Op::Dense { weight_t: matrix(&n("weight"))?.reversed_axes().as_standard_layout().to_owned(), bias: vector(&n("bias"))? },
                Layer::BatchNorm => {
                    let (gamma, beta) = (vector(&n("weight"))?, vector(&n("bias"))?);
                    let (mean, var) = (vector(&n("running_mean"))?, vector(&n("running_var"))?);
                    let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + BATCH_NORM_EPS).sqrt()).collect();
                    let shift = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
                    Op::Affine { scale, shift }
                }
                Layer::Relu => Op::Relu,
                Layer::Tanh => Op::Tanh,
                Layer::Flatten => Op::Flatten,
            });
        }
        let value = match (tensors.get("v.weight"), tensors.get("v.bias")) {
            (Some((_, w)), Some((_, b))) => Some((Array2::from_shape_vec((w.len(), 1), w.clone()).map_err(|e| PolicyError::Weights(e.to_string()))?, b[0])),
            _ => None,
        };
        let log_std = tensors.get("pi_log_std").map(|(_, v)| v.clone()).unwrap_or_default();
        Ok(Policy {
            input_len: meta.observation.shape.iter().product(),
            pi_weight_t: matrix("pi.weight")?.reversed_axes().as_standard_layout().to_owned(),
            pi_bias: vector("pi.bias")?,
            log_std,
            value,
            ops,
            meta,
        })
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    /// Values in one observation.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// The Gaussian head's log standard deviations (empty for other heads).
    pub fn log_std(&self) -> &[f32] {
        &self.log_std
    }

    /// Preprocessed network inputs, `[n, input_len]`.
    fn inputs(&self, obs: Observations<'_>) -> Result<Array2<f32>, PolicyError> {
        let spec = &self.meta.observation;
        let (len, total) = (self.input_len, obs.len());
        if total == 0 || total % len != 0 {
            return Err(PolicyError::Observation(format!(
                "{total} values is not a whole number of {:?} observations of {len} ({:?})",
                spec.sensor, spec.shape
            )));
        }
        let p = spec.preprocessing;
        let values: Vec<f32> = match (obs, spec.sensor.is_image()) {
            (Observations::U8(v), true) => v.iter().map(|&x| p.apply(x as f32)).collect(),
            (Observations::F32(v), false) => v.iter().map(|&x| p.apply(x)).collect(),
            (Observations::U8(_), false) => return Err(PolicyError::Observation(format!("{:?} observations are f32, got u8 pixels", spec.sensor))),
            (Observations::F32(_), true) => return Err(PolicyError::Observation(format!("{:?} observations are u8 pixels, got f32", spec.sensor))),
        };
        Ok(Array2::from_shape_vec((total / len, len), values).expect("length checked"))
    }

    /// The torso's features, `[n, features]`.
    fn features(&self, inputs: Array2<f32>) -> Array2<f32> {
        if !self.meta.network.is_convolutional() {
            let mut x = inputs;
            for op in &self.ops {
                match op {
                    Op::Dense { weight_t, bias } => x = x.dot(weight_t) + bias,
                    Op::Relu => x.mapv_inplace(|v| v.max(0.0)),
                    Op::Tanh => x.mapv_inplace(f32::tanh),
                    _ => unreachable!("vector networks have dense layers only"),
                }
            }
            return x;
        }
        let shape = &self.meta.observation.shape;
        let rows: Vec<Array1<f32>> = inputs.outer_iter().map(|row| self.image_features(row.to_vec(), [shape[0], shape[1], shape[2]])).collect();
        let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
        ndarray::stack(Axis(0), &views).expect("equal feature lengths")
    }

    /// One image through the torso: `[c, h, w]` planes row-major, as PyTorch lays out NCHW.
    fn image_features(&self, image: Vec<f32>, [mut c, mut h, mut w]: [usize; 3]) -> Array1<f32> {
        let mut x = image;
        let mut flat: Option<Array1<f32>> = None;
        for op in &self.ops {
            match op {
                Op::Conv { weight, bias, kernel, stride } => {
                    let (k, s) = (*kernel, *stride);
                    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
                    let cols = im2col(&x, [c, h, w], k, s);
                    let mut y = weight.dot(&ArrayView2::from_shape((c * k * k, oh * ow), &cols).expect("im2col shape"));
                    for (mut row, b) in y.outer_iter_mut().zip(bias) {
                        row += *b;
                    }
                    x = y.into_raw_vec_and_offset().0;
                    (c, h, w) = (weight.nrows(), oh, ow);
                }
                Op::Affine { scale, shift } => {
                    let plane = h * w;
                    for (ch, chunk) in x.chunks_mut(plane).enumerate() {
                        chunk.iter_mut().for_each(|v| *v = *v * scale[ch] + shift[ch]);
                    }
                }
                Op::Relu => match &mut flat {
                    Some(f) => f.mapv_inplace(|v| v.max(0.0)),
                    None => x.iter_mut().for_each(|v| *v = v.max(0.0)),
                },
                Op::Tanh => match &mut flat {
                    Some(f) => f.mapv_inplace(f32::tanh),
                    None => x.iter_mut().for_each(|v| *v = v.tanh()),
                },
                Op::Flatten => flat = Some(Array1::from(std::mem::take(&mut x))),
                Op::Dense { weight_t, bias } => {
                    let f = flat.take().expect("dense layers follow a flatten");
                    flat = Some(f.dot(weight_t) + bias);
                }
            }
        }
        flat.expect("convolutional torsos end flattened")
    }

    /// The policy head's outputs for `n` observations, `[n, outputs]`: logits, means, or
    /// means and log standard deviations (see [`crate::Head`]).
    pub fn forward(&self, obs: Observations<'_>) -> Result<Array2<f32>, PolicyError> {
        let features = self.features(self.inputs(obs)?);
        Ok(features.dot(&self.pi_weight_t) + &self.pi_bias)
    }

    /// Policy outputs and, when the model has a value head, state values.
    pub fn forward_with_value(&self, obs: Observations<'_>) -> Result<(Array2<f32>, Option<Array1<f32>>), PolicyError> {
        let features = self.features(self.inputs(obs)?);
        let value = self.value.as_ref().map(|(w, b)| features.dot(w).column(0).mapv(|v| v + b));
        Ok((features.dot(&self.pi_weight_t) + &self.pi_bias, value))
    }

    /// The most likely action for one observation, as the car runs it.
    pub fn act_greedy(&self, obs: Observations<'_>) -> Result<Action, PolicyError> {
        let out = self.forward(obs)?;
        if out.nrows() != 1 {
            return Err(PolicyError::Observation(format!("act_greedy takes one observation, got {}", out.nrows())));
        }
        let raw = self.meta.head.greedy(out.row(0).as_slice().expect("standard layout"));
        Ok(self.meta.head.to_action(&self.meta.action_space, raw))
    }

    /// Samples one action per observation (training), writing them to `out`.
    pub fn act_sampled<R: Rng>(&self, obs: Observations<'_>, rng: &mut R, out: &mut Vec<ActionSample>) -> Result<(), PolicyError> {
        let outputs = self.forward(obs)?;
        out.clear();
        for row in outputs.outer_iter() {
            out.push(self.meta.head.sample(row.as_slice().expect("standard layout"), &self.log_std, rng));
        }
        Ok(())
    }

    /// Greedy raw actions for a batch.
    pub fn act_greedy_batch(&self, obs: Observations<'_>) -> Result<Vec<[f32; 2]>, PolicyError> {
        let outputs = self.forward(obs)?;
        Ok(outputs.outer_iter().map(|r| self.meta.head.greedy(r.as_slice().expect("standard layout"))).collect())
    }
}

/// Unfolds `[c, h, w]` into `[c*k*k, oh*ow]` columns (no padding), row index `(ci*k + ky)*k + kx`
/// to match a PyTorch weight `[out, c, k, k]` flattened row-major.
fn im2col(x: &[f32], [c, h, w]: [usize; 3], k: usize, s: usize) -> Vec<f32> {
    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
    let mut cols = vec![0.0f32; c * k * k * oh * ow];
    let mut row = 0;
    for ci in 0..c {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for ky in 0..k {
            for kx in 0..k {
                let dst = &mut cols[row * oh * ow..(row + 1) * oh * ow];
                for oy in 0..oh {
                    let src = &plane[(oy * s + ky) * w + kx..];
                    let d = &mut dst[oy * ow..(oy + 1) * ow];
                    for (ox, v) in d.iter_mut().enumerate() {
                        *v = src[ox * s];
                    }
                }
                row += 1;
            }
        }
    }
    cols
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
