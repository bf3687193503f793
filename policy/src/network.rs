//! The network architectures, as one list of layers that inference here and training (tch)
//! both build from, so a tensor's name and shape mean the same thing on both sides.
//!
//! Tensor names: layer `i` of the torso owns `torso.{i}.weight` and `torso.{i}.bias` (and
//! `running_mean`, `running_var` for batch norm); the policy head is `pi.weight`, `pi.bias`
//! (plus `pi_log_std` for a state-independent Gaussian); an optional value head is `v.weight`,
//! `v.bias`. Convolution weights are `[out, in, k, k]`, dense weights `[out, in]`, as in PyTorch.

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// The network body that turns an observation into features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Network {
    /// DeepRacer's default `DEEP_CONVOLUTIONAL_NETWORK_SHALLOW`: three ReLU convolutions
    /// (32 8x8/4, 64 4x4/2, 64 3x3/1), features straight to the heads.
    Shallow,
    /// `DEEP_CONVOLUTIONAL_NETWORK`: four tanh convolutions (32 5x5/2, 32 3x3/1, 64 3x3/2,
    /// 64 3x3/1) and a 64-unit tanh dense layer.
    Deep,
    /// `DEEP_CONVOLUTIONAL_NETWORK_DEEP`: four convolutions with batch norm and ReLU (32 8x8/4,
    /// 32 4x4/2, 64 4x4/2, 64 3x3/1) and two 512-unit ReLU dense layers. DeepRacer's dropout
    /// (training only) is left out.
    DeepDeep,
    /// Dense ReLU layers for vector observations (lidar, state); DeepRacer's lidar embedder is
    /// two layers of 256.
    Mlp { hidden: Vec<usize> },
}

impl Network {
    /// DeepRacer's `neural_network` name in `model_metadata.json`, where there is one.
    pub fn deepracer_name(&self) -> Option<&'static str> {
        match self {
            Network::Shallow => Some("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"),
            Network::Deep => Some("DEEP_CONVOLUTIONAL_NETWORK"),
            Network::DeepDeep => Some("DEEP_CONVOLUTIONAL_NETWORK_DEEP"),
            Network::Mlp { .. } => None,
        }
    }

    /// Whether it takes images (`[channels, height, width]`) rather than vectors.
    pub fn is_convolutional(&self) -> bool {
        !matches!(self, Network::Mlp { .. })
    }

    /// The torso's layers in order.
    pub fn layers(&self) -> Vec<Layer> {
        use Layer::*;
        let conv = |out, kernel, stride| Conv { out, kernel, stride };
        match self {
            Network::Shallow => vec![conv(32, 8, 4), Relu, conv(64, 4, 2), Relu, conv(64, 3, 1), Relu, Flatten],
            Network::Deep => vec![conv(32, 5, 2), Tanh, conv(32, 3, 1), Tanh, conv(64, 3, 2), Tanh, conv(64, 3, 1), Tanh, Flatten, Dense { out: 64 }, Tanh],
            Network::DeepDeep => vec![
                conv(32, 8, 4),
                BatchNorm,
                Relu,
                conv(32, 4, 2),
                BatchNorm,
                Relu,
                conv(64, 4, 2),
                BatchNorm,
                Relu,
                conv(64, 3, 1),
                BatchNorm,
                Relu,
                Flatten,
                Dense { out: 512 },
                Relu,
                Dense { out: 512 },
                Relu,
            ],
            Network::Mlp { hidden } => hidden.iter().flat_map(|&out| [Dense { out }, Relu]).collect(),
        }
    }
}

/// One step of a torso. Convolutions are unpadded ("valid"), as DeepRacer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Conv {
        out: usize,
        kernel: usize,
        stride: usize,
    },
    /// Per-channel batch norm; inference uses the running statistics.
    BatchNorm,
    Relu,
    Tanh,
    Flatten,
    Dense {
        out: usize,
    },
}

/// Epsilon of batch norm, PyTorch's default.
pub const BATCH_NORM_EPS: f32 = 1e-5;

/// The shape after each torso layer, for an input of `input` (`[c, h, w]` or `[n]`).
pub fn layer_shapes(network: &Network, input: &[usize]) -> Result<Vec<Vec<usize>>, PolicyError> {
    let bad = |m: String| Err(PolicyError::Metadata(m));
    let mut shape = input.to_vec();
    if network.is_convolutional() && shape.len() != 3 {
        return bad(format!("{network:?} takes [channels, height, width] images, not shape {input:?}"));
    }
    if !network.is_convolutional() && shape.len() != 1 {
        return bad(format!("{network:?} takes vectors, not shape {input:?}"));
    }
    if shape.contains(&0) {
        return bad(format!("observation shape {input:?} has an empty dimension"));
    }
    let mut out = Vec::new();
    for layer in network.layers() {
        shape = match layer {
            Layer::Conv { out: c, kernel, stride } => {
                let (h, w) = (shape[1], shape[2]);
                if h < kernel || w < kernel {
                    return bad(format!("a {h}x{w} image is too small for {network:?}'s {kernel}x{kernel} convolution"));
                }
                vec![c, (h - kernel) / stride + 1, (w - kernel) / stride + 1]
            }
            Layer::Flatten => vec![shape.iter().product()],
            Layer::Dense { out: n } => vec![n],
            Layer::BatchNorm | Layer::Relu | Layer::Tanh => shape,
        };
        out.push(shape.clone());
    }
    Ok(out)
}

/// Number of features the torso produces.
pub fn feature_len(network: &Network, input: &[usize]) -> Result<usize, PolicyError> {
    let shapes = layer_shapes(network, input)?;
    Ok(shapes.last().map(|s| s.iter().product()).unwrap_or(input.iter().product()))
}

/// Every tensor the torso needs, by name, with its shape.
pub fn torso_tensors(network: &Network, input: &[usize]) -> Result<Vec<(String, Vec<usize>)>, PolicyError> {
    let shapes = layer_shapes(network, input)?;
    let mut previous = input.to_vec();
    let mut tensors = Vec::new();
    for (i, (layer, shape)) in network.layers().into_iter().zip(&shapes).enumerate() {
        let name = |p: &str| format!("torso.{i}.{p}");
        match layer {
            Layer::Conv { out, kernel, .. } => {
                tensors.push((name("weight"), vec![out, previous[0], kernel, kernel]));
                tensors.push((name("bias"), vec![out]));
            }
            Layer::Dense { out } => {
                tensors.push((name("weight"), vec![out, previous[0]]));
                tensors.push((name("bias"), vec![out]));
            }
            Layer::BatchNorm => {
                for p in ["weight", "bias", "running_mean", "running_var"] {
                    tensors.push((name(p), vec![previous[0]]));
                }
            }
            Layer::Relu | Layer::Tanh | Layer::Flatten => {}
        }
        previous = shape.clone();
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_cnn_on_the_deepracer_camera_has_the_documented_shapes() {
        let shapes = layer_shapes(&Network::Shallow, &[1, 120, 160]).unwrap();
        assert_eq!(shapes[0], vec![32, 29, 39]);
        assert_eq!(shapes[2], vec![64, 13, 18]);
        assert_eq!(shapes[4], vec![64, 11, 16]);
        assert_eq!(feature_len(&Network::Shallow, &[1, 120, 160]).unwrap(), 64 * 11 * 16);
        let tensors = torso_tensors(&Network::Shallow, &[2, 120, 160]).unwrap();
        assert_eq!(tensors[0], ("torso.0.weight".to_string(), vec![32, 2, 8, 8]));
        assert_eq!(tensors[2], ("torso.2.weight".to_string(), vec![64, 32, 4, 4]));
    }

    #[test]
    fn every_camera_network_fits_the_camera_and_mlps_refuse_images() {
        for n in [Network::Shallow, Network::Deep, Network::DeepDeep] {
            assert!(feature_len(&n, &[1, 120, 160]).unwrap() > 0, "{n:?}");
            assert!(layer_shapes(&n, &[64]).is_err());
            assert!(layer_shapes(&n, &[1, 6, 6]).is_err(), "too small an image must be refused");
        }
        let mlp = Network::Mlp { hidden: vec![256, 256] };
        assert_eq!(feature_len(&mlp, &[64]).unwrap(), 256);
        assert!(layer_shapes(&mlp, &[1, 120, 160]).is_err());
        let bn = torso_tensors(&Network::DeepDeep, &[1, 120, 160]).unwrap();
        assert!(bn.iter().any(|(n, s)| n == "torso.1.running_var" && s == &vec![32]));
    }
}
