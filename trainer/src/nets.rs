//! The policy crate's architectures in tch, built from the same layer list so that weights
//! move between them by name (`torso.{i}.weight`, `pi.weight`, ...).

use paddock_policy::model::{ModelMetadata, Tensors};
use paddock_policy::network::{layer_shapes, Layer};
use paddock_policy::{Head, Network, Preprocessing};
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::TrainError;

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_7;

enum TLayer {
    Conv(nn::Conv2D),
    BatchNorm(nn::BatchNorm),
    Relu,
    Tanh,
    Flatten,
    Dense(nn::Linear),
}

/// A network body.
pub struct Torso {
    layers: Vec<TLayer>,
    pub features: i64,
}

impl Torso {
    pub fn new(p: &nn::Path, network: &Network, input: &[usize]) -> Result<Torso, TrainError> {
        let shapes = layer_shapes(network, input).map_err(|e| TrainError::Config(e.to_string()))?;
        let mut previous: Vec<usize> = input.to_vec();
        let mut layers = Vec::new();
        for (i, (layer, shape)) in network.layers().into_iter().zip(&shapes).enumerate() {
            let lp = p / "torso" / i;
            layers.push(match layer {
                Layer::Conv { out, kernel, stride } => {
                    TLayer::Conv(nn::conv2d(&lp, previous[0] as i64, out as i64, kernel as i64, nn::ConvConfig { stride: stride as i64, ..Default::default() }))
                }
                Layer::BatchNorm => TLayer::BatchNorm(nn::batch_norm2d(&lp, previous[0] as i64, Default::default())),
                Layer::Relu => TLayer::Relu,
                Layer::Tanh => TLayer::Tanh,
                Layer::Flatten => TLayer::Flatten,
                Layer::Dense { out } => TLayer::Dense(nn::linear(&lp, previous[0] as i64, out as i64, Default::default())),
            });
            previous = shape.clone();
        }
        let features = previous.iter().product::<usize>() as i64;
        Ok(Torso { layers, features })
    }

    /// Features of preprocessed inputs `[n, ...shape]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for layer in &self.layers {
            x = match layer {
                TLayer::Conv(c) => c.forward(&x),
                TLayer::BatchNorm(b) => b.forward_t(&x, train),
                TLayer::Relu => x.relu(),
                TLayer::Tanh => x.tanh(),
                TLayer::Flatten => x.flatten(1, -1),
                TLayer::Dense(d) => d.forward(&x),
            };
        }
        x
    }
}

/// Raw observations (u8 pixels or f32 values) to network inputs, exactly as the policy
/// crate computes them: `min(raw, clip_max) * scale` in f32.
pub fn preprocess(raw: &Tensor, p: Preprocessing) -> Tensor {
    let x = raw.to_kind(Kind::Float);
    let x = match p.clip_max {
        Some(m) => x.clamp_max(m as f64),
        None => x,
    };
    x * (p.scale as f64)
}

/// Scales a freshly initialised layer's weights, for a near-uniform first policy.
fn scale_init(linear: &nn::Linear, factor: f64) {
    tch::no_grad(|| {
        let mut w = linear.ws.shallow_clone();
        w.copy_(&(&linear.ws * factor));
        if let Some(b) = &linear.bs {
            let mut b = b.shallow_clone();
            let _ = b.zero_();
        }
    });
}

/// PPO's network: a shared torso with a policy head and a value head.
pub struct ActorCritic {
    pub torso: Torso,
    pi: nn::Linear,
    log_std: Option<Tensor>,
    v: nn::Linear,
    pub head: Head,
}

impl ActorCritic {
    pub fn new(vs: &nn::VarStore, meta: &ModelMetadata) -> Result<ActorCritic, TrainError> {
        let p = vs.root();
        let torso = Torso::new(&p, &meta.network, &meta.observation.shape)?;
        let outputs = meta.head.outputs(&meta.action_space) as i64;
        let pi = nn::linear(&p / "pi", torso.features, outputs, Default::default());
        scale_init(&pi, 0.01);
        let log_std = (meta.head == Head::Gaussian).then(|| p.var("pi_log_std", &[2], nn::Init::Const(-0.5)));
        let v = nn::linear(&p / "v", torso.features, 1, Default::default());
        Ok(ActorCritic { torso, pi, log_std, v, head: meta.head })
    }

    /// Policy outputs `[n, outputs]` and values `[n]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let f = self.torso.forward_t(x, train);
        (self.pi.forward(&f), self.v.forward(&f).squeeze_dim(1))
    }

    /// Log-probabilities `[n]` of raw actions `[n, 2]`, and the entropies `[n]`.
    pub fn log_prob_entropy(&self, pi_out: &Tensor, actions: &Tensor) -> (Tensor, Tensor) {
        match self.head {
            Head::Categorical => {
                let logp_all = pi_out.log_softmax(-1, Kind::Float);
                let index = actions.select(1, 0).to_kind(Kind::Int64).unsqueeze(1);
                let logp = logp_all.gather(1, &index, false).squeeze_dim(1);
                let entropy = -(logp_all.exp() * &logp_all).sum_dim_intlist(-1, false, Kind::Float);
                (logp, entropy)
            }
            Head::Gaussian => {
                let log_std = self.log_std.as_ref().expect("gaussian heads have a log std");
                let z = (actions - pi_out) / log_std.exp();
                let logp = (z.pow_tensor_scalar(2) * -0.5 - log_std - LN_SQRT_2PI).sum_dim_intlist(-1, false, Kind::Float);
                let entropy = (log_std + 0.5 + LN_SQRT_2PI).sum(Kind::Float).expand([pi_out.size()[0]], false);
                (logp, entropy)
            }
            Head::SquashedGaussian => unreachable!("PPO uses categorical or gaussian heads"),
        }
    }
}

/// SAC's actor: a torso and a head giving means and log standard deviations.
pub struct Actor {
    pub torso: Torso,
    pi: nn::Linear,
}

impl Actor {
    pub fn new(vs: &nn::VarStore, meta: &ModelMetadata) -> Result<Actor, TrainError> {
        let p = vs.root();
        let torso = Torso::new(&p, &meta.network, &meta.observation.shape)?;
        let pi = nn::linear(&p / "pi", torso.features, 4, Default::default());
        scale_init(&pi, 0.01);
        Ok(Actor { torso, pi })
    }

    /// Reparameterised tanh-Gaussian sample `[n, 2]` with log-probabilities `[n]`; `train`
    /// lets batch norm use (and update) batch statistics.
    pub fn sample(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let out = self.pi.forward(&self.torso.forward_t(x, train));
        let mean = out.narrow(1, 0, 2);
        let log_std = out.narrow(1, 2, 2).clamp(paddock_policy::distribution::LOG_STD_MIN as f64, paddock_policy::distribution::LOG_STD_MAX as f64);
        let z = Tensor::randn_like(&mean);
        let u = &mean + log_std.exp() * &z;
        let a = u.tanh();
        let logp = (z.pow_tensor_scalar(2) * -0.5
            - &log_std
            - LN_SQRT_2PI
            - (a.pow_tensor_scalar(2).neg() + (1.0 + paddock_policy::distribution::SQUASH_EPS as f64)).log())
        .sum_dim_intlist(-1, false, Kind::Float);
        (a, logp)
    }

    /// Raw head outputs (the policy crate's `forward`).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.pi.forward(&self.torso.forward_t(x, false))
    }
}

/// One of SAC's Q networks: its own torso, then the action joins the features.
pub struct QNet {
    torso: Torso,
    fc: nn::Linear,
    out: nn::Linear,
}

impl QNet {
    pub fn new(p: &nn::Path, meta: &ModelMetadata) -> Result<QNet, TrainError> {
        let torso = Torso::new(p, &meta.network, &meta.observation.shape)?;
        let fc = nn::linear(p / "fc", torso.features + 2, 256, Default::default());
        let out = nn::linear(p / "out", 256, 1, Default::default());
        Ok(QNet { torso, fc, out })
    }

    pub fn forward(&self, x: &Tensor, actions: &Tensor, train: bool) -> Tensor {
        let f = self.torso.forward_t(x, train);
        self.out.forward(&self.fc.forward(&Tensor::cat(&[f, actions.shallow_clone()], 1)).relu()).squeeze_dim(1)
    }
}

/// The variables of a var store as the policy crate's tensors, optionally only those under
/// `prefix` (which is stripped).
pub fn export(vs: &nn::VarStore) -> Tensors {
    let mut out = Tensors::new();
    for (name, t) in vs.variables() {
        let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let n = shape.iter().product::<usize>();
        let mut values = vec![0f32; n];
        t.copy_data(&mut values, n);
        out.insert(name, (shape, values));
    }
    out
}

/// Copies tensors into a var store by name; every variable must be given, with its shape.
pub fn import(vs: &nn::VarStore, tensors: &Tensors) -> Result<(), TrainError> {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let (shape, values) = tensors.get(&name).ok_or_else(|| TrainError::Model(format!("the model has no tensor '{name}' that this network needs")))?;
            let size: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            if size != var.size() {
                return Err(TrainError::Model(format!("tensor '{name}' has shape {shape:?}, the network needs {:?}", var.size())));
            }
            var.copy_(&Tensor::from_slice(values).view(size.as_slice()).to_device(var.device()));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_policy::model::ObservationSpec;
    use paddock_policy::{Observations, Policy, Sensor};
    use paddock_vehicle::action::ActionSpace;
    use rand::{Rng, SeedableRng};

    fn meta(network: Network, sensor: Sensor, shape: Vec<usize>, head: Head, space: ActionSpace) -> ModelMetadata {
        let preprocessing = if sensor.is_image() { Preprocessing::IMAGE } else { Preprocessing::LIDAR };
        ModelMetadata::new(network, head, ObservationSpec { sensor, shape, preprocessing }, space)
    }

    /// Random weights everywhere (including batch-norm statistics), set through the tch net,
    /// then the same weights through the policy crate: outputs must agree to 1e-4.
    #[test]
    fn the_policy_crate_computes_what_tch_computes() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        let camera = || vec![1, 120, 160];
        let cases = [
            meta(Network::Shallow, Sensor::Camera, camera(), Head::Categorical, ActionSpace::deepracer_default_discrete()),
            meta(Network::Deep, Sensor::Camera, camera(), Head::Gaussian, ActionSpace::deepracer_default_continuous()),
            meta(Network::DeepDeep, Sensor::Camera, camera(), Head::Categorical, ActionSpace::deepracer_default_discrete()),
            meta(Network::Shallow, Sensor::Stereo, vec![2, 120, 160], Head::Categorical, ActionSpace::deepracer_default_discrete()),
            meta(Network::Mlp { hidden: vec![256, 256] }, Sensor::Lidar, vec![64], Head::Gaussian, ActionSpace::deepracer_default_continuous()),
        ];
        for m in cases {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let net = ActorCritic::new(&vs, &m).unwrap();
            // Perturb every tensor so that no layer is at its initial (e.g. zero bias) state.
            let mut tensors = export(&vs);
            for (name, (_, values)) in tensors.iter_mut() {
                for v in values.iter_mut() {
                    *v = if name.ends_with("running_var") { rng.random_range(0.5..2.0) } else { *v + rng.random_range(-0.05..0.05) };
                }
            }
            import(&vs, &tensors).unwrap();
            let policy = Policy::new(m.clone(), &tensors).unwrap();
            let n = 4;
            let len: usize = m.observation.shape.iter().product();
            let mut size = vec![n as i64];
            size.extend(m.observation.shape.iter().map(|&d| d as i64));
            let (ours, raw) = if m.observation.sensor.is_image() {
                let pixels: Vec<u8> = (0..n * len).map(|_| rng.random()).collect();
                (policy.forward_with_value(Observations::U8(&pixels)).unwrap(), Tensor::from_slice(&pixels).view(size.as_slice()))
            } else {
                let ranges: Vec<f32> = (0..n * len).map(|_| rng.random_range(0.15..12.0)).collect();
                (policy.forward_with_value(Observations::F32(&ranges)).unwrap(), Tensor::from_slice(&ranges).view(size.as_slice()))
            };
            let (pi, v) = tch::no_grad(|| net.forward_t(&preprocess(&raw, m.observation.preprocessing), false));
            let pi: Vec<f32> = Vec::try_from(pi.flatten(0, -1)).unwrap();
            let v: Vec<f32> = Vec::try_from(v).unwrap();
            let (our_pi, our_v) = (ours.0.iter().copied().collect::<Vec<f32>>(), ours.1.unwrap().to_vec());
            for (a, b) in our_pi.iter().zip(&pi).chain(our_v.iter().zip(&v)) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{:?}: policy crate {a} vs tch {b}", m.network);
            }
        }
    }

    #[test]
    fn log_probabilities_match_the_policy_crate_sampler() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(12);
        for (head, space) in [(Head::Categorical, ActionSpace::deepracer_default_discrete()), (Head::Gaussian, ActionSpace::deepracer_default_continuous())] {
            let m = meta(Network::Mlp { hidden: vec![32] }, Sensor::Lidar, vec![64], head, space);
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let net = ActorCritic::new(&vs, &m).unwrap();
            let policy = Policy::new(m.clone(), &export(&vs)).unwrap();
            let ranges: Vec<f32> = (0..8 * 64).map(|_| rng.random_range(0.15..12.0)).collect();
            let mut samples = Vec::new();
            policy.act_sampled(Observations::F32(&ranges), &mut rng, &mut samples).unwrap();
            let raw: Vec<f32> = samples.iter().flat_map(|s| s.raw).collect();
            let x = preprocess(&Tensor::from_slice(&ranges).view([8, 64]), m.observation.preprocessing);
            let (pi, _) = net.forward_t(&x, false);
            let (logp, _) = net.log_prob_entropy(&pi, &Tensor::from_slice(&raw).view([8, 2]));
            let logp: Vec<f32> = Vec::try_from(logp).unwrap();
            for (s, l) in samples.iter().zip(&logp) {
                assert!((s.log_prob - l).abs() < 1e-4, "{head:?}: sampler {} vs tch {l}", s.log_prob);
            }
        }
    }
}
